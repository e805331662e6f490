import Foundation
import CDNNL

/// How products with bf16 frozen weights run (`LORAKIT_BF16_GEMM`).
public enum BF16KernelChoice: String, CaseIterable, Sendable {
    /// oneDNN's bf16 kernels when this process measured them faster than its fp32 GEMM, else `widened`.
    case auto
    /// oneDNN's bf16 matmul (activations rounded to bf16, f32 accumulation) whenever oneDNN has bf16 kernels.
    case native
    /// Weight panels widened to fp32 and multiplied in fp32: the weights stay bf16 in memory.
    case widened
}

/// oneDNN's bf16 matmul against its fp32 GEMM, measured once per process on this CPU.
///
/// Why measure: oneDNN reports the same ISA (avx512_core_bf16) on CPUs where its bf16 kernel is about twice as fast
/// as fp32 (AMD Zen 4/5: two bf16 dot products per cycle) and on CPUs where it is slower (Intel Xeons without AMX,
/// whose one vdpbf16ps port gives fp32's FLOPs at best, and the kernel adds conversions: ≈ 0.57× fp32 measured on
/// family 6 model 207). Neither the ISA nor the model number tells them apart; a few milliseconds of timing do.
public struct BF16Speed: Sendable, Equatable {
    /// GFLOP/s of one thread, fwd x·Wᵀ and dX dY·W together, on the SmolLM2 q_proj shape (256 × 576 · 576 × 576).
    public var f32: Double
    /// The same through the bf16 matmul, the rounding of the activations to bf16 included.
    public var bf16: Double

    public init(f32: Double, bf16: Double) { (self.f32, self.bf16) = (f32, bf16) }

    /// bf16 must win by a margin: a tie is not worth the bf16 rounding of the activations.
    public static let requiredSpeedup = 1.1
    public var bf16IsFaster: Bool { bf16 >= Self.requiredSpeedup * f32 }

    public var summary: String { String(format: "bf16 matmul %.0f vs fp32 %.0f GFLOP/s per thread", bf16, f32) }

    /// Times both kernels on one thread by thread CPU time (so other processes' load does not count), best of
    /// `repeats` after a warm-up, interleaved. Nil when oneDNN has no bf16 matmul here.
    public static func measure(m: Int = 256, k: Int = 576, n: Int = 576, repeats: Int = 5) -> BF16Speed? {
        guard let forward = OneDNNMatmul.plan(m: m, n: n, k: k, weightsTransposed: true, src: .bf16, weights: .bf16),
              let backward = OneDNNMatmul.plan(m: m, n: k, k: n, weightsTransposed: false, src: .bf16, weights: .bf16)
        else { return nil }
        let w = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: m * max(k, n))
        let y = UnsafeMutablePointer<Float>.allocate(capacity: m * max(k, n))
        let w16 = UnsafeMutablePointer<UInt16>.allocate(capacity: n * k)
        let x16 = UnsafeMutablePointer<UInt16>.allocate(capacity: m * max(k, n))
        defer { w.deallocate(); x.deallocate(); y.deallocate(); w16.deallocate(); x16.deallocate() }
        for i in 0..<(n * k) { w[i] = Float((i * 7919) % 211) / 211 - 0.5 }
        for i in 0..<(m * max(k, n)) { x[i] = Float((i * 104_729) % 197) / 197 - 0.5 }
        BF16.round(w, into: w16, count: n * k)

        let onednn = OneDNNBackend()  // not GEMM.backend: this may run while another thread reads that
        let f32 = {
            onednn.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: x, lda: k, b: w, ldb: k, beta: 0, c: y, ldc: n)
            onednn.sgemm(transA: false, transB: false, m: m, n: k, k: n, alpha: 1, a: x, lda: n, b: w, ldb: k, beta: 0, c: y, ldc: k)
        }
        let bf16 = {
            BF16.round(x, into: x16, count: m * k)
            OneDNNMatmul.run(forward, src: x16, weights: w16, dst: y)
            BF16.round(x, into: x16, count: m * n)
            OneDNNMatmul.run(backward, src: x16, weights: w16, dst: y)
        }
        var best = (f32: Double.infinity, bf16: Double.infinity)
        ThreadBudget.singleThreaded {
            f32(); bf16()
            for _ in 0..<repeats {
                best.f32 = min(best.f32, threadSeconds(f32))
                best.bf16 = min(best.bf16, threadSeconds(bf16))
            }
        }
        let flops = 2 * 2.0 * Double(m * n * k)
        return BF16Speed(f32: flops / best.f32 / 1e9, bf16: flops / best.bf16 / 1e9)
    }

    private static func threadSeconds(_ body: () -> Void) -> Double {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
        body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
        return max(1e-9, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9)
    }
}

extension GEMM {
    /// LORAKIT_BF16_GEMM's choice; tests and `lorakit bench ops` swap it with `withBF16Kernels`.
    nonisolated(unsafe) public static var bf16Kernels: BF16KernelChoice = ComputeEnvironment.current.bf16Kernels

    /// Runs `body` with `choice`, then restores the previous one.
    public static func withBF16Kernels<T>(_ choice: BF16KernelChoice, _ body: () throws -> T) rethrows -> T {
        let previous = bf16Kernels
        bf16Kernels = choice
        defer { bf16Kernels = previous }
        return try body()
    }

    /// The measurement behind `auto`, taken on first use (about 20 ms); nil when oneDNN has no bf16 kernels here.
    public static let bf16Speed: BF16Speed? = {
        guard OneDNNInfo.hasNativeBF16 else { return nil }
        return BF16Speed.measure()
    }()

    /// Whether products with bf16 weights use oneDNN's bf16 kernels now (backend, CPU, choice and measurement).
    public static var bf16RunsNatively: Bool {
        guard backend.kind == .onednn, OneDNNInfo.hasNativeBF16 else { return false }
        switch bf16Kernels {
        case .native: return true
        case .widened: return false
        case .auto: return bf16Speed?.bf16IsFaster ?? false
        }
    }
}
