import Foundation
import ArchitectureKit
import TensorCore

/// `lorakit bench ops`, GEMM part: oneDNN and OpenBLAS side by side on the products training does, with the CPU
/// and what oneDNN picked for it.
///
/// For a linear layer with M tokens, K inputs and N outputs, training computes three products: the forward
/// x·Wᵀ (NT), the input gradient dY·W (NN) and the weight gradient dYᵀ·x (TN, for trained weights only).
public enum GEMMBenchmark {
    public struct Shape: Sendable {
        public var model: String
        public var m, k, n: Int
    }

    /// SmolLM2-135M at batch 4 × 256 (hidden 576, MLP 1536, vocabulary 49152); MiniLM-L6 at 16 × 128 (hidden 384,
    /// FFN 1536).
    public static let shapes: [Shape] = [
        Shape(model: "SmolLM2", m: 1024, k: 576, n: 576), Shape(model: "SmolLM2", m: 1024, k: 576, n: 1536),
        Shape(model: "SmolLM2", m: 1024, k: 1536, n: 576), Shape(model: "SmolLM2", m: 1024, k: 576, n: 49152),
        Shape(model: "MiniLM", m: 2048, k: 384, n: 384), Shape(model: "MiniLM", m: 2048, k: 384, n: 1536),
        Shape(model: "MiniLM", m: 2048, k: 1536, n: 384),
    ]

    /// Columns padded to fixed widths: the first three left-aligned, the numbers right-aligned.
    static func row(_ cells: [String]) -> String {
        let widths = [8, 22, 7, 10, 11, 9, 9]
        return cells.enumerated().map { i, c in
            let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
            return i < 3 ? c + pad : pad + c
        }.joined(separator: " ")
    }

    /// The CPU as the kernel and oneDNN see it.
    public static func machineDescription() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String? {
            info.split(separator: "\n").first { $0.hasPrefix(name) }.map {
                $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            }
        }
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        let interesting = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                           "amx_tile", "amx_bf16", "avx_vnni"].filter(flags.contains)
        let env = ComputeEnvironment.current
        return """
            CPU: \(field("model name") ?? "unknown") (family \(field("cpu family") ?? "?") model \(field("model") ?? "?")), \
            \(ComputeEnvironment.availableCores()) cores available, thread budget \(env.threads) (LORAKIT_THREADS)
            ISA flags: \(interesting.joined(separator: " "))
            oneDNN \(OneDNNInfo.version): effective ISA \(OneDNNInfo.effectiveISA); bf16 GEMM kernels: \(OneDNNInfo.hasNativeBF16 ? "yes" : "no")
            GEMM backend in use: \(GEMM.backend.kind.rawValue) (LORAKIT_GEMM); OpenBLAS is kept for LAPACK
            """
    }

    /// GFLOP/s per shape and product for OpenBLAS, oneDNN's dnnl_sgemm and oneDNN's matmul primitive (frozen-weight
    /// products only: plain weights, and weights packed in oneDNN's preferred layout), plus the kernel the matmul chose.
    public static func run(repeats: Int, shapes: [Shape] = shapes) -> String {
        var lines = [machineDescription(), "",
                     row(["model", "M×K·K×N", "op", "OpenBLAS", "dnnl_sgemm", "matmul", "packed"])
                        + "  oneDNN matmul kernel (GFLOP/s, best of \(repeats))"]
        var gen = SeededGenerator(seed: 1)
        for s in shapes {
            let x = Tensor.normal([s.m, s.k], std: 1, generator: &gen), w = Tensor.normal([s.n, s.k], std: 1, generator: &gen)
            let dy = Tensor.normal([s.m, s.n], std: 1, generator: &gen)
            let y = Tensor(zeros: [s.m, s.n]), dx = Tensor(zeros: [s.m, s.k]), dw = Tensor(zeros: [s.n, s.k])
            let flops = 2.0 * Double(s.m * s.k * s.n)
            // (label, the product as a GEMM call, the frozen-weight form for the matmul primitive if it has one)
            typealias Case = (String, () -> Void, (m: Int, n: Int, k: Int, transposed: Bool, a: Tensor, c: Tensor)?)
            let cases: [Case] = [
                ("fwd NT", { GEMM.sgemm(transB: true, m: s.m, n: s.n, k: s.k, a: x.data, lda: s.k, b: w.data, ldb: s.k, c: y.data, ldc: s.n) },
                 (s.m, s.n, s.k, true, x, y)),
                ("dX NN", { GEMM.sgemm(m: s.m, n: s.k, k: s.n, a: dy.data, lda: s.n, b: w.data, ldb: s.k, c: dx.data, ldc: s.k) },
                 (s.m, s.k, s.n, false, dy, dx)),
                ("dW TN", { GEMM.sgemm(transA: true, m: s.n, n: s.k, k: s.m, a: dy.data, lda: s.n, b: x.data, ldb: s.k, c: dw.data, ldc: s.k) },
                 nil),
            ]
            for (label, product, frozen) in cases {
                let openblas = GEMM.withBackend(.openblas) { flops / OpsBenchmark.best(repeats, product) / 1e9 }
                let onednn = GEMM.withBackend(.onednn) { flops / OpsBenchmark.best(repeats, product) / 1e9 }
                var primitive = "—", packed = "—", kernel = ""
                if let f = frozen {
                    if let plan = OneDNNMatmul.plan(m: f.m, n: f.n, k: f.k, weightsTransposed: f.transposed, src: .f32, weights: .f32) {
                        primitive = String(format: "%.1f", flops / OpsBenchmark.best(repeats) {
                            OneDNNMatmul.run(plan, src: f.a.data, weights: w.data, dst: f.c.data)
                        } / 1e9)
                        kernel = plan.implementation
                    }
                    if let plan = OneDNNMatmul.plan(m: f.m, n: f.n, k: f.k, weightsTransposed: f.transposed, packed: true,
                                                    src: .f32, weights: .f32) {
                        let buffer = UnsafeMutableRawPointer.allocate(byteCount: plan.packedByteCount, alignment: 64)
                        defer { buffer.deallocate() }
                        if plan.needsPacking { OneDNNMatmul.pack(plan, weights: w.data, into: buffer) }
                        let weights = plan.needsPacking ? UnsafeRawPointer(buffer) : UnsafeRawPointer(w.data)
                        packed = String(format: "%.1f", flops / OpsBenchmark.best(repeats) {
                            OneDNNMatmul.run(plan, src: f.a.data, weights: weights, dst: f.c.data)
                        } / 1e9)
                        kernel += plan.needsPacking ? "; packed: \(plan.implementation)" : " (no packing wanted)"
                    }
                }
                lines.append(row([s.model, "\(s.m)×\(s.k)·\(s.k)×\(s.n)", label, String(format: "%.1f", openblas),
                                  String(format: "%.1f", onednn), primitive, packed]) + "  " + kernel)
            }
        }
        lines.append("")
        lines.append(frozenProducts(repeats: repeats))
        return lines.joined(separator: "\n")
    }

    /// Frozen-weight products on SmolLM2's shapes by weight storage and kernel, fwd (x·Wᵀ) and dX (dY·W), GFLOP/s:
    /// fp32 weights; bf16 weights on oneDNN's bf16 matmul (activations rounded to bf16 inside the timing), the same
    /// with the weight packed in oneDNN's preferred layout (kernel alone); bf16 weights widened panel by panel to fp32;
    /// quantized blocks (nf4, q8_0, q4_0) decoded panel by panel (CQuantKernels) and multiplied in fp32.
    /// `lorakit bench ops --frozen` prints only these.
    public static func frozenProducts(repeats: Int) -> String {
        var gen = SeededGenerator(seed: 2)
        var lines = ["frozen-weight products (backend \(GEMM.backend.kind.rawValue)), GFLOP/s fwd / dX, best of \(repeats)",
                     "precision: bf16 here: \(GEMM.bf16ComputeDescription)",
                     row(["model", "M×K·K×N"]) + "  fp32          bf16 native   bf16 packed   bf16 widened  nf4           q8_0          q4_0"]
        let native = GEMM.backend.kind == .onednn && OneDNNInfo.hasNativeBF16
        for s in shapes where s.model == "SmolLM2" {
            let x = Tensor.normal([s.m, s.k], std: 1, generator: &gen), w = Tensor.normal([s.n, s.k], std: 0.02, generator: &gen)
            let dy = Tensor.normal([s.m, s.n], std: 1, generator: &gen)
            let y = Tensor(zeros: [s.m, s.n]), dx = Tensor(zeros: [s.m, s.k])
            let flops = 2.0 * Double(s.m * s.k * s.n)
            func pair(_ fwd: () -> Void, _ bwd: () -> Void) -> String {
                String(format: "%5.1f / %5.1f", flops / OpsBenchmark.best(repeats, fwd) / 1e9, flops / OpsBenchmark.best(repeats, bwd) / 1e9)
            }
            func frozen(_ f: FrozenWeight) -> String {
                pair({ GEMM.frozenProduct(f, transposed: true, m: s.m, a: x.data, c: y.data) },
                     { GEMM.frozenProduct(f, transposed: false, m: s.m, a: dy.data, c: dx.data) })
            }
            let fp32 = FrozenWeight(w, precision: .fp32), bf16 = FrozenWeight(w, precision: .bf16)
            var cells = [frozen(fp32)]
            cells.append(native ? GEMM.withBF16Kernels(.native) { frozen(bf16) } : "—")
            cells.append(native ? packedBF16(s, weight: bf16, x: x, dy: dy, y: y, dx: dx, pair: pair) : "—")
            cells.append(GEMM.withBF16Kernels(.widened) { frozen(bf16) })
            for q in [WeightQuantization.nf4, .q8_0, .q4_0] {
                cells.append(FrozenWeight.quantizing(w.data, rows: s.n, columns: s.k, as: q).map(frozen) ?? "—")
            }
            lines.append(row([s.model, "\(s.m)×\(s.k)·\(s.k)×\(s.n)"]) + "  " + cells.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }

    /// oneDNN's bf16 matmul on weights packed into the layout it picks (format any), one packed copy per
    /// orientation, activations rounded to bf16 inside the timing.
    static func packedBF16(_ s: Shape, weight: FrozenWeight, x: Tensor, dy: Tensor, y: Tensor, dx: Tensor,
                           pair: (() -> Void, () -> Void) -> String) -> String {
        guard case .bf16(let bits) = weight.storage,
              let fwd = OneDNNMatmul.plan(m: s.m, n: s.n, k: s.k, weightsTransposed: true, packed: true, src: .bf16, weights: .bf16),
              let bwd = OneDNNMatmul.plan(m: s.m, n: s.k, k: s.n, weightsTransposed: false, packed: true, src: .bf16, weights: .bf16)
        else { return "—" }
        let fwdWeights = UnsafeMutableRawPointer.allocate(byteCount: fwd.packedByteCount, alignment: 64)
        let bwdWeights = UnsafeMutableRawPointer.allocate(byteCount: bwd.packedByteCount, alignment: 64)
        let a16 = UnsafeMutablePointer<UInt16>.allocate(capacity: s.m * max(s.k, s.n))
        defer { fwdWeights.deallocate(); bwdWeights.deallocate(); a16.deallocate() }
        if fwd.needsPacking { OneDNNMatmul.pack(fwd, weights: bits, into: fwdWeights) } else { fwdWeights.copyMemory(from: bits, byteCount: fwd.packedByteCount) }
        if bwd.needsPacking { OneDNNMatmul.pack(bwd, weights: bits, into: bwdWeights) } else { bwdWeights.copyMemory(from: bits, byteCount: bwd.packedByteCount) }
        func rounded(_ a: Tensor, _ count: Int) {
            Parallel.forEachChunk(count, costPerItem: 2) { r in BF16.round(a.data + r.lowerBound, into: a16 + r.lowerBound, count: r.count) }
        }
        return pair({ rounded(x, s.m * s.k); OneDNNMatmul.run(fwd, src: a16, weights: fwdWeights, dst: y.data) },
                    { rounded(dy, s.m * s.n); OneDNNMatmul.run(bwd, src: a16, weights: bwdWeights, dst: dx.data) })
    }
}
