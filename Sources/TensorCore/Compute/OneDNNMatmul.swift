import Foundation
import CDNNL

/// oneDNN's matmul primitive: dst (M×N, f32, row-major) = src (M×K) · W, where W is a frozen weight stored either
/// as (K×N) or, `weightsTransposed`, as torch's (N×K). src and W are f32 or bf16; accumulation is always f32.
///
/// Primitives are cached by shape, data types and thread count (a primitive is specialised for all of them).
///
/// Weights can be read as stored (plain, strided) or packed: with "any" layout oneDNN picks a blocked layout where
/// its kernels prefer one (AVX-512/AMX brgemm), and `pack` reorders a weight into it once. Frozen weights use the
/// plain form: a packed copy would be a second copy of every weight, and bf16 storage is there to halve memory
/// (the brgemm kernels repack plain B panels into their scratchpad per call). On AVX2 oneDNN wants the plain layout
/// anyway (its f32 matmul is the jit GEMM); `lorakit bench ops` prints both forms and the kernel oneDNN chose.
public enum OneDNNMatmul {
    public enum DataType: Sendable { case f32, bf16
        var dnnl: dnnl_data_type_t { self == .f32 ? dnnl_f32 : dnnl_bf16 }
        var size: Int { self == .f32 ? 4 : 2 }
    }

    struct Key: Hashable {
        var m, n, k: Int
        var weightsTransposed: Bool
        var packed: Bool
        var src, weights: DataType
        var threads: Int32
    }

    /// A created primitive and the weights layout it wants.
    public final class Plan: @unchecked Sendable {
        let primitive: dnnl_primitive_t
        /// The weights as stored (plain) and as the primitive wants them; equal when no packing is needed.
        var plainWeights: dnnl_memory_desc_t
        var wantedWeights: dnnl_memory_desc_t
        var srcDesc: dnnl_memory_desc_t
        var dstDesc: dnnl_memory_desc_t
        /// oneDNN's name for the kernel it chose ("gemm:jit", "brg:avx512_core_bf16", …).
        public let implementation: String
        public var needsPacking: Bool { dnnl_memory_desc_equal(&plainWeights, &wantedWeights) == 0 }
        public var packedByteCount: Int { dnnl_memory_desc_get_size(&wantedWeights) }

        init(primitive: dnnl_primitive_t, plain: dnnl_memory_desc_t, wanted: dnnl_memory_desc_t,
             src: dnnl_memory_desc_t, dst: dnnl_memory_desc_t, implementation: String) {
            self.primitive = primitive
            plainWeights = plain
            wantedWeights = wanted
            srcDesc = src
            dstDesc = dst
            self.implementation = implementation
        }
    }

    nonisolated(unsafe) private static var plans: [Key: Plan?] = [:]
    private static let lock = NSLock()
    nonisolated(unsafe) private static let engine: dnnl_engine_t = {
        var e: dnnl_engine_t?
        let status = dnnl_engine_create(&e, dnnl_cpu, 0)
        precondition(status == dnnl_success && e != nil, "oneDNN: no CPU engine (status \(status.rawValue))")
        return e!
    }()

    /// The cached primitive for this product, or nil when oneDNN has no implementation for these data types on
    /// this CPU (oneDNN 2.6 has bf16 matmul kernels only from avx512_core up). `packed`: let oneDNN choose the
    /// weights layout (then `pack` them once); otherwise it reads the plain stored weights.
    public static func plan(m: Int, n: Int, k: Int, weightsTransposed: Bool, packed: Bool = false,
                            src: DataType, weights: DataType) -> Plan? {
        let key = Key(m: m, n: n, k: k, weightsTransposed: weightsTransposed, packed: packed, src: src, weights: weights,
                      threads: omp_get_max_threads())
        lock.lock()
        defer { lock.unlock() }
        if let cached = plans[key] { return cached }
        let made = makePlan(key)
        plans[key] = made
        return made
    }

    private static func makePlan(_ key: Key) -> Plan? {
        var srcMD = dnnl_memory_desc_t(), plainMD = dnnl_memory_desc_t(), dstMD = dnnl_memory_desc_t()
        // (K×N) stored plainly has strides (N, 1); torch's (N×K) read as its transpose has strides (1, K).
        let wstrides = key.weightsTransposed ? [1, key.k] : [key.n, 1]
        guard dnnl_memory_desc_init_by_strides(&srcMD, 2, dims(key.m, key.k), key.src.dnnl, dims(key.k, 1)) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&plainMD, 2, dims(key.k, key.n), key.weights.dnnl, dims(wstrides[0], wstrides[1])) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&dstMD, 2, dims(key.m, key.n), dnnl_f32, dims(key.n, 1)) == dnnl_success
        else { return nil }
        var weightsMD = plainMD
        if key.packed {
            guard dnnl_memory_desc_init_by_tag(&weightsMD, 2, dims(key.k, key.n), key.weights.dnnl, dnnl_format_tag_any) == dnnl_success
            else { return nil }
        }
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &srcMD, &weightsMD, nil, &dstMD) == dnnl_success else { return nil }
        var pd: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&pd, &desc, nil, engine, nil) == dnnl_success, let pd else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        guard let wanted = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)?.pointee else { return nil }
        var info: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info)
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, pd) == dnnl_success, let primitive else { return nil }
        return Plan(primitive: primitive, plain: plainMD, wanted: wanted, src: srcMD, dst: dstMD,
                    implementation: info.map { String(cString: $0) } ?? "unknown")
    }

    /// Reorders plainly stored weights into the layout `plan` wants, into `destination` (`plan.packedByteCount`
    /// bytes). Only for plans that need packing.
    public static func pack(_ plan: Plan, weights: UnsafeRawPointer, into destination: UnsafeMutableRawPointer) {
        var rpd: dnnl_primitive_desc_t?
        var status = dnnl_reorder_primitive_desc_create(&rpd, &plan.plainWeights, engine, &plan.wantedWeights, engine, nil)
        precondition(status == dnnl_success, "oneDNN: cannot reorder weights to the packed layout (status \(status.rawValue))")
        defer { dnnl_primitive_desc_destroy(rpd) }
        var reorder: dnnl_primitive_t?
        status = dnnl_primitive_create(&reorder, rpd)
        precondition(status == dnnl_success, "oneDNN: reorder primitive failed (status \(status.rawValue))")
        defer { dnnl_primitive_destroy(reorder) }
        withMemory(&plan.plainWeights, UnsafeMutableRawPointer(mutating: weights)) { from in
            withMemory(&plan.wantedWeights, destination) { to in
                execute(reorder!, [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)])
            }
        }
    }

    /// Runs `plan`: `weights` is the plain weight, or its packed copy when `plan.needsPacking`.
    public static func run(_ plan: Plan, src: UnsafeRawPointer, weights: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>) {
        let weightsMD = plan.needsPacking ? plan.wantedWeights : plan.plainWeights
        var w = weightsMD
        withMemory(&plan.srcDesc, UnsafeMutableRawPointer(mutating: src)) { s in
            withMemory(&w, UnsafeMutableRawPointer(mutating: weights)) { wm in
                withMemory(&plan.dstDesc, UnsafeMutableRawPointer(dst)) { d in
                    execute(plan.primitive, [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: s),
                                             dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: wm),
                                             dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: d)])
                }
            }
        }
    }

    /// A dnnl_dims_t (12 entries) holding two.
    private static func dims(_ a: Int, _ b: Int) -> [Int64] { [Int64(a), Int64(b)] + [Int64](repeating: 0, count: 10) }

    private static func withMemory<T>(_ md: inout dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer,
                                      _ body: (dnnl_memory_t) -> T) -> T {
        var memory: dnnl_memory_t?
        let status = dnnl_memory_create(&memory, &md, engine, pointer)
        precondition(status == dnnl_success && memory != nil, "oneDNN: memory object failed (status \(status.rawValue))")
        defer { dnnl_memory_destroy(memory) }
        return body(memory!)
    }

    /// oneDNN streams are not thread-safe; one per call is cheap (no allocation of note on the CPU engine).
    private static func execute(_ primitive: dnnl_primitive_t, _ args: [dnnl_exec_arg_t]) {
        var stream: dnnl_stream_t?
        var status = dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue))
        precondition(status == dnnl_success, "oneDNN: stream failed (status \(status.rawValue))")
        defer { dnnl_stream_destroy(stream) }
        status = args.withUnsafeBufferPointer { dnnl_primitive_execute(primitive, stream, Int32($0.count), $0.baseAddress) }
        precondition(status == dnnl_success, "oneDNN: matmul failed (status \(status.rawValue))")
        _ = dnnl_stream_wait(stream)
    }
}
