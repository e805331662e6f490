import Foundation

/// An output projection fused with cross-entropy, chunked over tokens: loss = CE(hidden · weightᵀ, labels) without
/// ever holding the (N, V) logits or their gradient. For a 49152-token vocabulary and 1024 tokens that is 200 MB of
/// logits plus 200 MB of gradient avoided.
///
/// hidden: (…, D) read as N = rowCount rows; weight: (V, D) in torch.nn.Linear layout; labels: (N) with
/// `ignoreIndex` rows skipped. out: a scalar, `.mean` over the non-ignored rows or `.sum`.
///
/// Rows whose label is `ignoreIndex` (masked prompts, padding) are left out before the projection, so they cost
/// nothing. Chunks of at most `chunkElements / V` kept rows are projected at a time; when a gradient is needed the
/// chunk's softmax − one-hot is turned into the hidden gradient (and the weight gradient, if the weight trains)
/// right away, while the logits are still in cache, so backward only scales those by the incoming gradient.
public func linearCrossEntropy(_ hidden: Tensor, weight: Tensor, labels: IntTensor, ignoreIndex: Int32 = -100,
                               reduction: LossReduction = .mean, chunkElements: Int = 1 << 23) -> Tensor {
    precondition(weight.rank == 2 && weight.shape[1] == hidden.lastDim, "linearCrossEntropy: weight \(weight.shape) for hidden \(hidden.shape)")
    return linearCrossEntropy(hidden, weight: weight, frozen: nil, labels: labels, ignoreIndex: ignoreIndex, reduction: reduction,
                              chunkElements: chunkElements)
}

/// The same with a frozen weight, which gets no gradient. One that products widen panel by panel (quantized blocks,
/// bf16 without native kernels) takes the vocabulary as the outer loop (`panelCrossEntropy`), so each panel is
/// widened once per call rather than once per chunk of tokens; one read in place (fp32, native bf16) takes the
/// chunked loop.
public func linearCrossEntropy(_ hidden: Tensor, frozen: FrozenWeight, labels: IntTensor, ignoreIndex: Int32 = -100,
                               reduction: LossReduction = .mean, chunkElements: Int = 1 << 23) -> Tensor {
    precondition(frozen.columns == hidden.lastDim, "linearCrossEntropy: frozen weight [\(frozen.rows), \(frozen.columns)] for hidden \(hidden.shape)")
    return linearCrossEntropy(hidden, weight: nil, frozen: frozen, labels: labels, ignoreIndex: ignoreIndex, reduction: reduction,
                              chunkElements: chunkElements)
}

private func linearCrossEntropy(_ hidden: Tensor, weight: Tensor?, frozen: FrozenWeight?, labels: IntTensor, ignoreIndex: Int32,
                                reduction: LossReduction, chunkElements: Int) -> Tensor {
    let (n, d, v) = (hidden.rowCount, hidden.lastDim, weight?.shape[0] ?? frozen!.rows)
    precondition(labels.count == n, "linearCrossEntropy: \(labels.count) labels for \(n) rows")
    var kept: [Int] = []
    kept.reserveCapacity(n)
    for (row, y) in labels.values.enumerated() where y != ignoreIndex {
        precondition(y >= 0 && Int(y) < v, "label \(y) outside vocabulary of \(v)")
        kept.append(row)
    }
    let weightNeedsGrad = weight?.needsGrad ?? false
    let wantGrad = GradMode.isEnabled && (hidden.needsGrad || weightNeedsGrad)
    let divisor: Float = reduction == .mean ? Float(max(kept.count, 1)) : 1
    if let frozen, GEMM.widensPanels(frozen) {
        let (total, dHidden) = panelCrossEntropy(hidden, frozen: frozen, kept: kept, labels: labels, wantGrad: wantGrad,
                                                 chunkElements: chunkElements)
        return recordedLoss(total: total, count: kept.count, divisor: divisor, inputs: [hidden], wantGrad: wantGrad) { scale in
            [dHidden.map { $0 * scale }]
        }
    }
    let dHidden = wantGrad && hidden.needsGrad ? Tensor(zeros: hidden.shape) : nil
    let dWeight = wantGrad && weightNeedsGrad ? Tensor(zeros: weight!.shape) : nil

    let chunk = max(1, min(kept.count, chunkElements / max(v, 1)))
    let logits = UnsafeMutablePointer<Float>.allocate(capacity: max(1, chunk * v))
    let rowsIn = UnsafeMutablePointer<Float>.allocate(capacity: max(1, chunk * d))
    let rowsGrad = UnsafeMutablePointer<Float>.allocate(capacity: max(1, chunk * d))
    defer { logits.deallocate(); rowsIn.deallocate(); rowsGrad.deallocate() }
    var total: Double = 0
    forEachChunk(of: kept, size: chunk, gathering: hidden, into: rowsIn) { m, rows in
        Profiler.measure(.gemm) {
            if let frozen {
                GEMM.frozenProduct(frozen, transposed: true, m: m, a: rowsIn, c: logits)
            } else {
                GEMM.sgemm(transB: true, m: m, n: v, k: d, a: rowsIn, lda: d, b: weight!.data, ldb: d, c: logits, ldc: v)
            }
        }
        // Per row: log-sum-exp, the loss term, and (for the gradient) softmax − one-hot in place of the logits.
        let losses = UnsafeMutablePointer<Double>.allocate(capacity: m)
        defer { losses.deallocate() }
        Parallel.forEachChunk(m, costPerItem: v * 3) { r in
            for i in r {
                let x = logits + i * v
                let y = Int(labels.values[rows[rows.startIndex + i]])
                let mx = VectorMath.maximum(x, count: v)
                let lse = mx + logf(VectorMath.sumExpShifted(x, shift: mx, count: v))
                losses[i] = Double(lse - x[y])
                if wantGrad {
                    _ = VectorMath.expShifted(x, shift: lse, into: x, count: v)
                    x[y] -= 1
                }
            }
        }
        for i in 0..<m { total += losses[i] }
        if wantGrad {
            Profiler.measure(.gemm) {
                if let dHidden {
                    // dH rows = (softmax − onehot) · W, scattered back to their token positions.
                    if let frozen {
                        GEMM.frozenProduct(frozen, transposed: false, m: m, a: logits, c: rowsGrad)
                    } else {
                        GEMM.sgemm(m: m, n: d, k: v, a: logits, lda: v, b: weight!.data, ldb: d, c: rowsGrad, ldc: d)
                    }
                    for (i, row) in rows.enumerated() { (dHidden.data + row * d).update(from: rowsGrad + i * d, count: d) }
                }
                if let dWeight {
                    GEMM.sgemm(transA: true, m: v, n: d, k: m, a: logits, lda: v, b: rowsIn, ldb: d, beta: 1,
                               c: dWeight.data, ldc: d)
                }
            }
        }
    }

    return recordedLoss(total: total, count: kept.count, divisor: divisor, inputs: [hidden] + (weight.map { [$0] } ?? []),
                        wantGrad: wantGrad) { scale in
        [dHidden.map { $0 * scale }] + (weight == nil ? [] : [dWeight.map { $0 * scale }])
    }
}

/// The loss tensor: `total` over `divisor`, whose backward scales the gradients computed up front by g / divisor.
private func recordedLoss(total: Double, count: Int, divisor: Float, inputs: [Tensor], wantGrad: Bool,
                          gradients: @escaping (Float) -> [Tensor?]) -> Tensor {
    // As `crossEntropy`: a mean over zero tokens is 0 rather than PyTorch's NaN.
    let loss = Tensor([count == 0 ? 0 : Float(total) / divisor], shape: [1])
    guard wantGrad else { return loss.recording("linear_cross_entropy", []) { _ in [] } }
    return loss.recording("linear_cross_entropy", inputs) { g in gradients(g.data[0] / divisor) }
}

/// Walks the `kept` rows `size` at a time, first gathering each chunk's rows of `hidden` into `rowsIn` (m × D).
func forEachChunk(of kept: [Int], size: Int, gathering hidden: Tensor, into rowsIn: UnsafeMutablePointer<Float>,
                  _ body: (_ m: Int, _ rows: ArraySlice<Int>) -> Void) {
    let d = hidden.lastDim
    var start = 0
    while start < kept.count {
        let m = min(size, kept.count - start)
        let rows = kept[start..<(start + m)]
        for (i, row) in rows.enumerated() { (rowsIn + i * d).update(from: hidden.data + row * d, count: d) }
        body(m, rows)
        start += m
    }
}
