import Foundation

/// Rotary position embedding in Hugging Face's `rotate_half` convention: the first and second halves of the
/// rotated dims form the pairs, i.e. out = x·cos + rotate_half(x)·sin with rotate_half(x) = cat(−x₂, x₁).
public struct RotaryTable {
    /// cos/sin of position·inv_freq: (positions, rotaryDim/2).
    public let cos: [Float], sin: [Float]
    public let half: Int

    /// inv_freq[i] = 1 / theta^(2i / rotaryDim), as LlamaRotaryEmbedding's default rope type computes it.
    public init(rotaryDim: Int, theta: Double, positions: IntTensor) {
        half = rotaryDim / 2
        let invFreq = (0..<half).map { Float(1.0 / pow(theta, Double(2 * $0) / Double(rotaryDim))) }
        var c = [Float](repeating: 0, count: positions.count * half), s = c
        for (t, p) in positions.values.enumerated() {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]  // float32 product, as transformers computes freqs
                c[t * half + i] = Foundation.cos(angle)
                s[t * half + i] = Foundation.sin(angle)
            }
        }
        cos = c; sin = s
    }
}

extension Tensor {
    /// x: (B, T, H, D) — or any (N, H, D) with N = B·T tokens matching the table's positions. Rotates the first
    /// 2·half dims of every head; the rest pass through (partial rotary).
    public func rotary(_ table: RotaryTable) -> Tensor {
        let d = lastDim, heads = shape[rank - 2], tokens = count / (heads * d), half = table.half
        precondition(table.cos.count == tokens * half, "rotary table for \(table.cos.count / max(half, 1)) positions, input has \(tokens) tokens")
        precondition(2 * half <= d, "rotary dim \(2 * half) exceeds head dim \(d)")
        func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, inverse: Bool) {
            table.cos.withUnsafeBufferPointer { cp in table.sin.withUnsafeBufferPointer { sp in
                Parallel.forEachChunk(tokens, costPerItem: heads * d * 4) { r in
                    for t in r {
                        let c = cp.baseAddress! + t * half, s = sp.baseAddress! + t * half
                        for h in 0..<heads {
                            let o = (t * heads + h) * d
                            for i in 0..<half {
                                let (x1, x2) = (src[o + i], src[o + i + half])
                                let sn = inverse ? -s[i] : s[i]
                                dst[o + i] = x1 * c[i] - x2 * sn
                                dst[o + i + half] = x2 * c[i] + x1 * sn
                            }
                            for i in (2 * half)..<d { dst[o + i] = src[o + i] }
                        }
                    }
                }
            } }
        }
        let out = Tensor(uninitialized: shape)
        apply(data, out.data, inverse: false)
        return out.recording("rotary", [self]) { g in
            // A rotation's transpose is the rotation by −angle.
            let dx = Tensor(uninitialized: g.shape)
            apply(g.data, dx.data, inverse: true)
            return [dx]
        }
    }
}
