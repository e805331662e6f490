import XCTest
import TensorCore

/// Every differentiable op against central finite differences (tolerances in GradientCheck.swift).
final class OpGradientTests: XCTestCase {
    func testMatmulAllTransposeCombinations() {
        for ta in [false, true] { for tb in [false, true] {
            let a = randomTensor(ta ? [4, 3] : [3, 4], seed: 1), b = randomTensor(tb ? [5, 4] : [4, 5], seed: 2)
            checkGradients("matmul ta=\(ta) tb=\(tb)", inputs: [a, b]) { a.matmul(b, transposeA: ta, transposeB: tb) }
        } }
    }

    func testBatchedMatmulWithBatchedAndSharedRightOperand() {
        for ta in [false, true] { for tb in [false, true] {
            let a = randomTensor(ta ? [2, 4, 3] : [2, 3, 4], seed: 3)
            let b = randomTensor(tb ? [2, 5, 4] : [2, 4, 5], seed: 4)
            checkGradients("bmm ta=\(ta) tb=\(tb)", inputs: [a, b]) { a.matmul(b, transposeA: ta, transposeB: tb) }
            let shared = randomTensor(tb ? [5, 4] : [4, 5], seed: 5)
            checkGradients("bmm shared ta=\(ta) tb=\(tb)", inputs: [a, shared]) { a.matmul(shared, transposeA: ta, transposeB: tb) }
        } }
    }

    func testLinearWithBias() {
        let x = randomTensor([2, 3, 6], seed: 6), w = randomTensor([4, 6], seed: 7), b = randomTensor([4], seed: 8)
        checkGradients("linear", inputs: [x, w, b]) { x.linear(w, bias: b) }
    }

    /// Large enough that the fused bias add and the bias gradient split over threads: the same values and
    /// gradients as the product followed by a broadcast add, for a trained and for a frozen weight.
    func testLinearWithBiasMatchesProductPlusAdd() {
        for weightTrains in [true, false] {
            let x = randomTensor([3, 40, 96], seed: 12), w = randomTensor([200, 96], seed: 13), b = randomTensor([200], seed: 14)
            let g = randomTensor([3, 40, 200], seed: 15)
            func run(_ f: (Tensor, Tensor, Tensor) -> Tensor) -> [[Float]] {
                let (xs, ws, bs) = (x.copy(), w.copy(), b.copy())
                xs.requiresGrad = true; ws.requiresGrad = weightTrains; bs.requiresGrad = true
                let y = f(xs, ws, bs)
                y.backward(seed: g)
                return [y.scalars, xs.grad!.scalars, ws.grad?.scalars ?? [], bs.grad!.scalars]
            }
            let fused = run { $0.linear($1, bias: $2) }, reference = run { $0.matmul($1, transposeB: true) + $2 }
            for (name, (f, r)) in zip(["output", "dX", "dW", "dBias"], zip(fused, reference)) {
                XCTAssertEqual(f.count, r.count, name)
                let worst = zip(f, r).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5, "\(name), weight trains: \(weightTrains)")
            }
        }
    }

    func testBroadcastingAddSubMul() {
        let a = randomTensor([2, 3, 4], seed: 9), row = randomTensor([4], seed: 10), col = randomTensor([2, 1, 4], seed: 11)
        checkGradients("add", inputs: [a, row]) { a + row }
        checkGradients("sub", inputs: [a, col]) { a - col }
        checkGradients("mul", inputs: [a, col]) { a * col }
        let c = randomTensor([2, 3, 4], seed: 12)
        checkGradients("mul same shape", inputs: [a, c]) { a * c }
        checkGradients("mul self", inputs: [a]) { a * a }
        checkGradients("scale", inputs: [a]) { a * 0.37 }
    }

    func testActivations() {
        let x = randomTensor([3, 7], seed: 13, std: 2)
        checkGradients("gelu", inputs: [x]) { x.gelu() }
        checkGradients("gelu_tanh", inputs: [x]) { x.geluTanh() }
        checkGradients("silu", inputs: [x]) { x.silu() }
        checkGradients("tanh", inputs: [x]) { x.tanh() }
        let gate = randomTensor([3, 5], seed: 14), up = randomTensor([3, 5], seed: 15)
        checkGradients("swiglu", inputs: [gate, up]) { swiglu(gate: gate, up: up) }
    }

    func testSoftmax() {
        let x = randomTensor([4, 6], seed: 16)
        checkGradients("softmax", inputs: [x]) { x.softmax() }
    }

    func testNorms() {
        let x = randomTensor([5, 8], seed: 17), w = randomTensor([8], seed: 18), b = randomTensor([8], seed: 19)
        checkGradients("rms_norm", inputs: [x, w]) { x.rmsNorm(weight: w, eps: 1e-5) }
        checkGradients("layer_norm", inputs: [x, w, b]) { x.layerNorm(weight: w, bias: b, eps: 1e-5) }
        checkGradients("layer_norm no bias", inputs: [x, w]) { x.layerNorm(weight: w, bias: nil, eps: 1e-5) }
    }

    func testEmbeddingScatterAddsRepeatedIds() {
        let w = randomTensor([6, 4], seed: 20)
        let ids = IntTensor([1, 3, 1, 5, 0, 1] as [Int], shape: [2, 3])
        checkGradients("embedding", inputs: [w]) { embedding(ids, weight: w) }
    }

    func testConcatSplitSlice() {
        let a = randomTensor([2, 3], seed: 21), b = randomTensor([2, 5], seed: 22)
        checkGradients("concat", inputs: [a, b]) { concatLastAxis([a, b, a]) }
        let x = randomTensor([2, 9], seed: 23)
        checkGradients("split", inputs: [x]) { let p = x.split(lastAxis: [3, 4, 2]); return concatLastAxis([p[2], p[0]]) * p[1].slice(lastAxis: 0..<1) }
    }

    func testViewsCarryGradients() {
        let x = randomTensor([4, 6], seed: 24)
        checkGradients("reshape+rows", inputs: [x]) { x.reshaped([2, 12]).rows(1..<2) * 2 }
    }

    func testDropoutUsesTheSameMaskForwardAndBackward() {
        let x = randomTensor([4, 16], seed: 25)
        checkGradients("dropout", inputs: [x]) { var g = SeededGenerator(seed: 5); return x.dropout(0.3, generator: &g) }
    }

    func testRotaryFullAndPartial() {
        let pos = IntTensor([0, 1, 2, 7, 3, 4] as [Int], shape: [2, 3])
        let x = randomTensor([2, 3, 2, 8], seed: 26)
        checkGradients("rotary", inputs: [x]) { x.rotary(RotaryTable(rotaryDim: 8, theta: 10_000, positions: pos)) }
        checkGradients("rotary partial", inputs: [x]) { x.rotary(RotaryTable(rotaryDim: 4, theta: 100, positions: pos)) }
    }

    func testAttentionGroupedCausalPaddedPacked() {
        let q = randomTensor([2, 5, 4, 3], seed: 27), k = randomTensor([2, 5, 2, 3], seed: 28), v = randomTensor([2, 5, 2, 3], seed: 29)
        let pad = IntTensor([1, 1, 1, 1, 1, 0, 0, 1, 1, 1] as [Int], shape: [2, 5])
        let seg = IntTensor([0, 0, 1, 1, 1, 0, 0, 0, 1, 1] as [Int], shape: [2, 5])
        checkGradients("attention causal", inputs: [q, k, v]) {
            scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true))
        }
        checkGradients("attention padded", inputs: [q, k, v]) {
            scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: false, keyPadding: pad))
        }
        checkGradients("attention packed", inputs: [q, k, v]) {
            scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true, segments: seg))
        }
        let mq = randomTensor([1, 2, 3, 4], seed: 30), mk = randomTensor([1, 4, 1, 4], seed: 31), mv = randomTensor([1, 4, 1, 4], seed: 32)
        checkGradients("attention multi-query, cached keys", inputs: [mq, mk, mv]) {
            scaledDotProductAttention(query: mq, key: mk, value: mv, mask: AttentionMask(causal: true))
        }
        // One query per row (a decode step's path): left padding, unfilled room after, a hole inside the span.
        let dq = randomTensor([2, 1, 4, 3], seed: 33), dk = randomTensor([2, 6, 2, 3], seed: 34), dv = randomTensor([2, 6, 2, 3], seed: 35)
        let dpad = IntTensor([0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1] as [Int], shape: [2, 6])
        checkGradients("attention one query, padded", inputs: [dq, dk, dv]) {
            scaledDotProductAttention(query: dq, key: dk, value: dv, mask: AttentionMask(causal: true, keyPadding: dpad))
        }
    }

    /// Causal attention skips the score blocks above the diagonal: with 3-row blocks, 7 queries take blocks of
    /// 3, 3 and 1 rows, also with more keys than queries (a cache) and with padding and packing in the same blocks.
    func testAttentionCausalBlocksSkipTheUpperTriangle() {
        let saved = causalBlockRows
        causalBlockRows = 3
        defer { causalBlockRows = saved }
        let q = randomTensor([2, 7, 4, 3], seed: 60), k = randomTensor([2, 7, 2, 3], seed: 61), v = randomTensor([2, 7, 2, 3], seed: 62)
        let pad = IntTensor([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1] as [Int], shape: [2, 7])
        let seg = IntTensor([0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 2, 2] as [Int], shape: [2, 7])
        checkGradients("attention causal blocks", inputs: [q, k, v]) {
            scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true))
        }
        checkGradients("attention causal blocks padded packed", inputs: [q, k, v]) {
            scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true, keyPadding: pad, segments: seg))
        }
        let cq = randomTensor([1, 5, 2, 4], seed: 63), ck = randomTensor([1, 9, 1, 4], seed: 64), cv = randomTensor([1, 9, 1, 4], seed: 65)
        checkGradients("attention causal blocks, cached keys", inputs: [cq, ck, cv]) {
            scaledDotProductAttention(query: cq, key: ck, value: cv, mask: AttentionMask(causal: true))
        }
    }

    func testCrossEntropyIgnoresMinus100() {
        let logits = randomTensor([5, 7], seed: 33, std: 2)
        let labels = IntTensor([3, -100, 0, 6, -100] as [Int], shape: [5])
        checkGradients("cross_entropy mean", inputs: [logits]) { crossEntropy(logits, labels: labels) }
        checkGradients("cross_entropy sum", inputs: [logits]) { crossEntropy(logits, labels: labels, reduction: .sum) }
    }
}

/// Checkpointed blocks give the same gradients as the plain graph, for inputs and for parameters used inside.
final class CheckpointingTests: XCTestCase {
    func testCheckpointedBlockMatchesPlainGradients() {
        let w = randomTensor([4, 4], seed: 40)
        let x = randomTensor([3, 4], seed: 41)
        func block(_ t: [Tensor]) -> Tensor { t[0].linear(w).silu().rmsNorm(weight: Tensor(filled: 1, shape: [4]), eps: 1e-5) }
        w.requiresGrad = true; x.requiresGrad = true
        block([x]).sum().backward()
        let (gw, gx) = (w.grad!.scalars, x.grad!.scalars)
        w.grad = nil; x.grad = nil
        checkpointed([x], block).sum().backward()
        for (a, b) in zip(w.grad!.scalars, gw) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        for (a, b) in zip(x.grad!.scalars, gx) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        checkGradients("checkpoint", inputs: [x, w]) { checkpointed([x], block) }
    }
}
