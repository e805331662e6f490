import Foundation
import TensorCore

/// Measures the tensor layer against raw GEMM, so "the ops add no overhead" is a number rather than a claim.
public enum OpsBenchmark {
    public struct Report { public var text: String; public var matmulRatios: [Double] }

    /// SmolLM2-135M shapes: 1024 tokens × hidden 576 against q/o (576), MLP (1536) and the vocabulary (49152).
    public static let matmulShapes: [(m: Int, k: Int, n: Int)] = [(1024, 576, 576), (1024, 576, 1536), (1024, 576, 49152)]

    public static func run(repeats: Int) -> Report {
        var lines: [String] = ["matmul (M×K·K×N)            raw sgemm GFLOP/s   Tensor.matmul GFLOP/s   ratio"]
        var ratios: [Double] = []
        var gen = SeededGenerator(seed: 1)
        for (m, k, n) in matmulShapes {
            let a = Tensor.normal([m, k], std: 1, generator: &gen), b = Tensor.normal([k, n], std: 1, generator: &gen)
            let c = Tensor(zeros: [m, n])
            let flops = 2.0 * Double(m * k * n)
            let raw = best(repeats) {
                GEMM.sgemm(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: c.data, ldc: n)
            }
            let layer = best(repeats) { _ = GradMode.withoutGrad { a.matmul(b) } }
            let (rawG, layerG) = (flops / raw / 1e9, flops / layer / 1e9)
            ratios.append(layerG / rawG)
            lines.append(String(format: "%-28@ %17.1f %23.1f %7.3f", "\(m)×\(k)·\(k)×\(n)" as NSString, rawG, layerG, layerG / rawG))
        }
        // Attention as SmolLM2 trains: batch 4, 9 query heads over 3 KV heads, T = 256, head dim 64.
        let (b, t, h, hkv, d) = (4, 256, 9, 3, 64)
        let q = Tensor.normal([b, t, h, d], std: 1, generator: &gen)
        let k = Tensor.normal([b, t, hkv, d], std: 1, generator: &gen)
        let v = Tensor.normal([b, t, hkv, d], std: 1, generator: &gen)
        let seed = Tensor.normal([b, t, h, d], std: 1, generator: &gen)
        let forward = best(repeats) {
            _ = GradMode.withoutGrad { scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true)) }
        }
        let both = best(repeats) {
            q.requiresGrad = true
            let o = scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true))
            o.backward(seed: seed)
            q.grad = nil
            q.requiresGrad = false
        }
        lines.append(String(format: "attention B=%d H=%d/%d T=%d D=%d causal: forward %.2f ms, forward+backward %.2f ms",
                            b, h, hkv, t, d, forward * 1e3, both * 1e3))
        return Report(text: lines.joined(separator: "\n"), matmulRatios: ratios)
    }

    /// Best wall time of `repeats` runs after one warm-up, in seconds.
    static func best(_ repeats: Int, _ body: () -> Void) -> Double {
        body()
        var bestTime = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            bestTime = min(bestTime, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return bestTime
    }
}
