import Foundation

/// Cross-entropy fused with log-softmax. logits: (N, V), labels: (N) with `ignoreIndex` (−100) rows skipped.
/// `.mean` divides by the number of non-ignored rows (PyTorch's default); `.sum` leaves that to the caller, which
/// gradient accumulation uses to weight every token equally across micro-batches.
public enum LossReduction { case mean, sum }

public func crossEntropy(_ logits: Tensor, labels: IntTensor, ignoreIndex: Int32 = -100,
                         reduction: LossReduction = .mean) -> Tensor {
    let v = logits.lastDim, n = logits.rowCount
    precondition(labels.count == n, "cross-entropy: \(labels.count) labels for \(n) rows of logits")
    let lse = [Float](unsafeUninitializedCapacity: n) { buf, c in
        let px = logits.data
        let base = buf.baseAddress!
        Parallel.forEachChunk(n, costPerItem: v * 2) { r in
            for row in r {
                let x = px + row * v
                let m = VectorMath.maximum(x, count: v)
                base[row] = m + logf(VectorMath.sumExpShifted(x, shift: m, count: v))
            }
        }
        c = n
    }
    var total: Double = 0, valid = 0
    for row in 0..<n where labels.values[row] != ignoreIndex {
        let y = Int(labels.values[row])
        precondition(y >= 0 && y < v, "label \(y) outside vocabulary of \(v)")
        total += Double(lse[row] - logits.data[row * v + y])
        valid += 1
    }
    let divisor: Float = reduction == .mean ? Float(max(valid, 1)) : 1
    // PyTorch gives NaN for a mean over zero tokens; 0 is more useful for a batch that is all padding.
    let loss = Tensor([valid == 0 ? 0 : Float(total) / divisor], shape: [1])
    return loss.recording("cross_entropy", [logits]) { g in
        let dx = Tensor(uninitialized: logits.shape)
        let scale = g.data[0] / divisor
        let (px, pd) = (logits.data, dx.data)
        Parallel.forEachChunk(n, costPerItem: v * 2) { r in
            for row in r {
                let x = px + row * v, d = pd + row * v
                let y = labels.values[row]
                if y == ignoreIndex { d.update(repeating: 0, count: v); continue }
                let l = lse[row]
                _ = VectorMath.expShifted(x, shift: l, into: d, count: v)
                for j in 0..<v { d[j] *= scale }
                d[Int(y)] -= scale
            }
        }
        return [dx]
    }
}
