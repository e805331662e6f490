import Foundation

/// RMSNorm (Llama) and LayerNorm (GPT-2, BERT, Falcon) over the last axis, with statistics computed in Float32
/// per row as PyTorch does, and the per-row reciprocal std saved for the backward pass. The rows run through
/// `VectorMath` (C kernels: 16 partial sums per reduction, the widest vector unit the CPU has).
extension Tensor {
    /// x: (…, D), weight: (D). y = weight ⊙ x / sqrt(mean(x²) + eps).
    public func rmsNorm(weight: Tensor, eps: Float) -> Tensor {
        let x = self, n = lastDim, rows = rowCount
        precondition(weight.shape == [n], "rmsNorm weight \(weight.shape) for input \(shape)")
        let out = Tensor(uninitialized: shape)
        let rstd = Tensor(uninitialized: [rows])
        let (px, pw, po, pr) = (x.data, weight.data, out.data, rstd.data)
        Parallel.forEachChunk(rows, costPerItem: n * 3) { r in
            for row in r { pr[row] = VectorMath.rmsNorm(px + row * n, weight: pw, into: po + row * n, count: n, eps: eps) }
        }
        let recorded = out.recording("rms_norm", [x, weight]) { g in
            let (pg, pr) = (g.data, rstd.data)  // reading rstd here keeps it alive until the backward pass
            let dx = x.needsGrad ? Tensor(uninitialized: x.shape) : nil
            let partials = weight.needsGrad ? (0..<Parallel.cores).map { _ in Tensor(zeros: [n]) } : []
            let chunkCounter = ChunkIndex()
            Parallel.forEachChunk(rows, costPerItem: n * 4) { r in
                let dw = partials.isEmpty ? nil : partials[chunkCounter.next()].data
                for row in r {
                    let xr = px + row * n, gr = pg + row * n, inv = pr[row]
                    if let dw { for j in 0..<n { dw[j] += gr[j] * xr[j] * inv } }
                    if let d = dx?.data { VectorMath.rmsNormBackward(xr, weight: pw, gr, inv: inv, into: d + row * n, count: n) }
                }
            }
            let dw = partials.isEmpty ? nil : partials.dropFirst().reduce(partials[0]) { $0.adding($1) }
            return [dx, dw]
        }
        // The output again from the input and rstd its backward keeps: the forward's own products, so bit for bit.
        return recorded.remakeable {
            let y = Tensor(uninitialized: x.shape)
            let (py, pr) = (y.data, rstd.data)
            Parallel.forEachChunk(rows, costPerItem: n) { r in
                for row in r {
                    let xr = px + row * n, yr = py + row * n, inv = pr[row]
                    for j in 0..<n { yr[j] = pw[j] * (xr[j] * inv) }
                }
            }
            withExtendedLifetime((x, weight)) {}  // what px and pw point into
            return y
        }
    }

    /// x: (…, D), weight/bias: (D). y = (x − mean) / sqrt(var + eps) ⊙ weight + bias (biased variance).
    public func layerNorm(weight: Tensor, bias: Tensor?, eps: Float) -> Tensor {
        let x = self, n = lastDim, rows = rowCount
        precondition(weight.shape == [n], "layerNorm weight \(weight.shape) for input \(shape)")
        let out = Tensor(uninitialized: shape)
        let xhat = Tensor(uninitialized: shape)
        let rstd = Tensor(uninitialized: [rows])
        let (px, pw, po, ph, pr) = (x.data, weight.data, out.data, xhat.data, rstd.data)
        let pb = bias?.data
        Parallel.forEachChunk(rows, costPerItem: n * 4) { r in
            for row in r {
                pr[row] = VectorMath.layerNorm(px + row * n, weight: pw, bias: pb, normalized: ph + row * n, into: po + row * n,
                                               count: n, eps: eps)
            }
        }
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        return out.recording("layer_norm", inputs) { g in
            let (pg, ph, pr) = (g.data, xhat.data, rstd.data)  // keeps the saved statistics alive until now
            let dx = x.needsGrad ? Tensor(uninitialized: x.shape) : nil
            var dw: Tensor? = nil, db: Tensor? = nil
            if weight.needsGrad || (bias?.needsGrad ?? false) {
                let w = Tensor(zeros: [n]), b = Tensor(zeros: [n])
                for row in 0..<rows {
                    let o = row * n
                    for j in 0..<n { w.data[j] += pg[o + j] * ph[o + j]; b.data[j] += pg[o + j] }
                }
                (dw, db) = (w, b)
            }
            if let d = dx?.data {
                Parallel.forEachChunk(rows, costPerItem: n * 4) { r in
                    for row in r {
                        VectorMath.layerNormBackward(pg + row * n, weight: pw, normalized: ph + row * n, inv: pr[row], into: d + row * n, count: n)
                    }
                }
            }
            return bias == nil ? [dx, dw] : [dx, dw, db]
        }
    }
}

/// Hands out distinct slot numbers to the concurrent chunks of one `Parallel.forEachChunk` call.
final class ChunkIndex: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
}
