import Foundation

/// `linearCrossEntropy` over a weight that is widened panel by panel (quantized blocks, bf16), with the vocabulary
/// as the outer loop: each panel of W's rows is widened once for all the tokens, where the token-chunked loop would
/// widen the whole weight once per chunk (7 times per step for SmolLM2's 49152 × 576 head at 4 × 256 tokens; 0.2 s
/// of a 6.3 s step on an AVX2 EPYC).
///
/// Softmax over a vocabulary that arrives in panels is the online softmax of flash attention: per token a running
/// maximum m and sum l of exp(logit − m), and for the gradient a running acc = Σ exp(logit − m) · W_v, each rescaled
/// by exp(m_old − m_new) when the maximum grows. At the end lse = m + log l, the loss is lse − logit_label and
/// dHidden = acc / l − W_label, which is softmax · W − onehot · W: the same products and FLOPs as the chunked loop.
///
/// Returns the summed loss over `kept` rows and, when `wantGrad`, the gradient of that sum for `hidden`.
func panelCrossEntropy(_ hidden: Tensor, frozen w: FrozenWeight, kept: [Int], labels: IntTensor, wantGrad: Bool,
                       chunkElements: Int) -> (total: Double, dHidden: Tensor?) {
    let (d, v) = (hidden.lastDim, w.rows)
    let dHidden = wantGrad ? Tensor(zeros: hidden.shape) : nil
    guard !kept.isEmpty else { return (0, dHidden) }
    let panelRows = max(1, min(v, GEMM.panelFloats / max(d, 1)))
    // Tokens per pass: the panel's scores (tokens × panelRows) stay within chunkElements, as the chunked loop's logits.
    let tokenChunk = max(1, min(kept.count, chunkElements / panelRows))
    let panelStorage = Storage(count: panelRows * d, zeroed: false)
    let panel = panelStorage.pointer
    let rowsIn = UnsafeMutablePointer<Float>.allocate(capacity: tokenChunk * d)
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: tokenChunk * panelRows)
    let acc = UnsafeMutablePointer<Float>.allocate(capacity: wantGrad ? tokenChunk * d : 1)
    let labelRow = UnsafeMutablePointer<Float>.allocate(capacity: d)
    var runningMax = [Float](repeating: 0, count: tokenChunk), runningSum = runningMax, labelLogit = runningMax
    defer { rowsIn.deallocate(); scores.deallocate(); acc.deallocate(); labelRow.deallocate() }
    var total: Double = 0
    forEachChunk(of: kept, size: tokenChunk, gathering: hidden, into: rowsIn) { m, rows in
        if wantGrad { acc.update(repeating: 0, count: m * d) }
        runningMax.withUnsafeMutableBufferPointer { mx in runningSum.withUnsafeMutableBufferPointer { sum in
            labelLogit.withUnsafeMutableBufferPointer { target in
                let (mx, sum, target) = (mx.baseAddress!, sum.baseAddress!, target.baseAddress!)
                mx.update(repeating: -.infinity, count: m)
                sum.update(repeating: 0, count: m)
                var p0 = 0
                while p0 < v {
                    let pn = min(panelRows, v - p0)
                    Profiler.measure(.dequantize) { w.dequantizeRows(p0..<(p0 + pn), into: panel) }
                    Profiler.measure(.gemm) {
                        GEMM.sgemm(transB: true, m: m, n: pn, k: d, a: rowsIn, lda: d, b: panel, ldb: d, c: scores, ldc: pn)
                    }
                    Parallel.forEachChunk(m, costPerItem: pn * 3 + d) { r in
                        for i in r {
                            let s = scores + i * pn
                            let y = Int(labels.values[rows[rows.startIndex + i]]) - p0
                            if y >= 0 && y < pn { target[i] = s[y] }
                            let newMax = max(mx[i], VectorMath.maximum(s, count: pn))
                            // exp(−∞ − finite) = 0 clears the empty start; an all −∞ row keeps a zero sum.
                            let rescale = newMax == -.infinity ? 1 : expf(mx[i] - newMax)
                            if wantGrad {
                                sum[i] = sum[i] * rescale + VectorMath.expShifted(s, shift: newMax, into: s, count: pn)
                                if rescale != 1 { let a = acc + i * d; for j in 0..<d { a[j] *= rescale } }
                            } else {
                                sum[i] = sum[i] * rescale + VectorMath.sumExpShifted(s, shift: newMax, count: pn)
                            }
                            mx[i] = newMax
                        }
                    }
                    if wantGrad {  // acc += exp(scores − m) · panel
                        Profiler.measure(.gemm) {
                            GEMM.sgemm(m: m, n: d, k: pn, a: scores, lda: pn, b: panel, ldb: d, beta: 1, c: acc, ldc: d)
                        }
                    }
                    p0 += pn
                }
                for i in 0..<m { total += Double(mx[i] + logf(sum[i]) - target[i]) }
                if let dHidden {
                    for (i, row) in rows.enumerated() {  // dH = acc / l − W[label]
                        w.dequantizeRows(Int(labels.values[row])..<(Int(labels.values[row]) + 1), into: labelRow)
                        let (a, out, inv) = (acc + i * d, dHidden.data + row * d, 1 / sum[i])
                        for j in 0..<d { out[j] = a[j] * inv - labelRow[j] }
                    }
                }
            }
        } }
    }
    withExtendedLifetime(panelStorage) {}
    return (total, dHidden)
}
