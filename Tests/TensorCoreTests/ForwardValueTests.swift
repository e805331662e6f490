import XCTest
import TensorCore

/// Forward values against hand-computed or naive references (exact formulas stated per test).
final class ForwardValueTests: XCTestCase {
    func testMatmulMatchesNaiveLoop() {
        let a = randomTensor([3, 4], seed: 1), b = randomTensor([4, 2], seed: 2)
        let c = a.matmul(b)
        for i in 0..<3 { for j in 0..<2 {
            var s: Float = 0
            for p in 0..<4 { s += a[i, p] * b[p, j] }
            XCTAssertEqual(c[i, j], s, accuracy: 1e-5)
        } }
    }

    func testCrossEntropyValueAndIgnoredRows() {
        // logits row [0, ln 3]: p(label 1) = 3/4 → loss = −ln(3/4).
        let logits = Tensor([0, Float(log(3.0)), 5, 5], shape: [2, 2])
        let loss = crossEntropy(logits, labels: IntTensor([1, -100] as [Int], shape: [2]))
        XCTAssertEqual(loss.item, -Float(log(0.75)), accuracy: 1e-6)
    }

    func testAttentionMatchesNaiveSoftmaxWithGroupedHeadsAndMasks() {
        let (b, t, h, hkv, d) = (2, 4, 4, 2, 3)
        let q = randomTensor([b, t, h, d], seed: 3), k = randomTensor([b, t, hkv, d], seed: 4), v = randomTensor([b, t, hkv, d], seed: 5)
        let pad = IntTensor([1, 1, 1, 1, 0, 1, 1, 1] as [Int], shape: [b, t])
        let out = scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true, keyPadding: pad))
        for bi in 0..<b { for hi in 0..<h { for i in 0..<t {
            let kv = hi / (h / hkv)
            var w = (0..<t).map { j -> Float in
                guard j <= i, pad.values[bi * t + j] == 1 else { return -.infinity }
                return (0..<d).map { q[bi, i, hi, $0] * k[bi, j, kv, $0] }.reduce(0, +) / Float(d).squareRoot()
            }
            let m = w.max()!
            if m == -.infinity { continue }
            w = w.map { Foundation.exp($0 - m) }
            let z = w.reduce(0, +)
            for e in 0..<d {
                let ref = (0..<t).map { w[$0] / z * v[bi, $0, kv, e] }.reduce(0, +)
                XCTAssertEqual(out[bi, i, hi, e], ref, accuracy: 1e-5)
            }
        } } }
    }

    /// Blocked causal attention (blocks of 2 rows over 5 queries and 8 cached keys) gives the values of one block.
    func testCausalAttentionBlocksMatchOneBlock() {
        let q = randomTensor([2, 5, 4, 3], seed: 40), k = randomTensor([2, 8, 2, 3], seed: 41), v = randomTensor([2, 8, 2, 3], seed: 42)
        let pad = IntTensor([1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1] as [Int], shape: [2, 8])
        let saved = causalBlockRows
        defer { causalBlockRows = saved }
        causalBlockRows = 5
        let whole = scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true, keyPadding: pad))
        causalBlockRows = 2
        let blocked = scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true, keyPadding: pad))
        for i in 0..<whole.count { XCTAssertEqual(blocked.scalars[i], whole.scalars[i], accuracy: 1e-6, "element \(i)") }
    }

    /// A decode step's attention (one query per row) against the naive softmax, and a sequence left-padded in a
    /// batch cache with room to spare giving exactly (bit for bit) what it gives alone.
    func testOneQueryAttentionMatchesNaiveAndDoesNotDependOnPadding() {
        let (h, hkv, d, n) = (6, 2, 70, 37)
        let q = randomTensor([1, 1, h, d], seed: 40), k = randomTensor([1, n, hkv, d], seed: 41), v = randomTensor([1, n, hkv, d], seed: 42)
        let alone = scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true))
        for hi in 0..<h {
            let kv = hi / (h / hkv)
            var w = (0..<n).map { j in (0..<d).map { q[0, 0, hi, $0] * k[0, j, kv, $0] }.reduce(0, +) / Float(d).squareRoot() }
            let m = w.max()!
            w = w.map { Foundation.exp($0 - m) }
            let z = w.reduce(0, +)
            for e in 0..<d {
                XCTAssertEqual(alone[0, 0, hi, e], (0..<n).map { w[$0] / z * v[0, $0, kv, e] }.reduce(0, +), accuracy: 1e-5)
            }
        }
        // Row 1 of a batch: 5 padding positions, the n keys, 9 positions of room (zeros); row 0 is other data.
        let (left, room) = (5, 9)
        let s = left + n + room, inner = hkv * d
        let bq = Tensor(zeros: [2, 1, h, d]), bk = randomTensor([2, s, hkv, d], seed: 43), bv = randomTensor([2, s, hkv, d], seed: 44)
        (bq.data + h * d).update(from: q.data, count: h * d)
        for (batched, own) in [(bk, k), (bv, v)] {
            (batched.data + (s + left) * inner).update(from: own.data, count: n * inner)
            (batched.data + (s + left + n) * inner).update(repeating: 0, count: room * inner)
        }
        let pad = IntTensor(Array(repeating: 1, count: s) + Array(repeating: 0, count: left) + Array(repeating: 1, count: n)
                            + Array(repeating: 0, count: room), shape: [2, s])
        let batched = scaledDotProductAttention(query: bq, key: bk, value: bv, mask: AttentionMask(causal: true, keyPadding: pad))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: batched.data + h * d, count: h * d)),
                       Array(UnsafeBufferPointer(start: alone.data, count: h * d)))
    }

    /// Packed sequences (segment ids): contiguous runs are scored block by block, other layouts whole; both must
    /// give the naive masked softmax.
    func testPackedAttentionMatchesNaiveForContiguousAndScatteredSegments() {
        let (t, h, hkv, d) = (7, 4, 2, 5)
        let q = randomTensor([1, t, h, d], seed: 50), k = randomTensor([1, t, hkv, d], seed: 51), v = randomTensor([1, t, hkv, d], seed: 52)
        for ids in [[0, 0, 0, 1, 1, 2, 2], [0, 1, 1, 0, 2, 2, 0]] {
            let seg = IntTensor(ids, shape: [1, t])
            let out = scaledDotProductAttention(query: q, key: k, value: v, mask: AttentionMask(causal: true, segments: seg))
            for hi in 0..<h { for i in 0..<t {
                let kv = hi / (h / hkv)
                var w = (0..<t).map { j -> Float in
                    guard j <= i, ids[j] == ids[i] else { return -.infinity }
                    return (0..<d).map { q[0, i, hi, $0] * k[0, j, kv, $0] }.reduce(0, +) / Float(d).squareRoot()
                }
                let m = w.max()!
                w = w.map { Foundation.exp($0 - m) }
                let z = w.reduce(0, +)
                for e in 0..<d {
                    XCTAssertEqual(out[0, i, hi, e], (0..<t).map { w[$0] / z * v[0, $0, kv, e] }.reduce(0, +), accuracy: 1e-5, "segments \(ids)")
                }
            } }
        }
    }

    func testRotaryRotatesHalvesLikeHuggingFace() {
        // rotate_half pairs element i with i + D/2: for D = 4, position 1, theta 1: inv_freq = [1, 1].
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 1, 4])
        let y = x.rotary(RotaryTable(rotaryDim: 4, theta: 1, positions: IntTensor([1] as [Int], shape: [1, 1])))
        let (c, s) = (Float(cos(1.0)), Float(sin(1.0)))
        XCTAssertEqual(y.scalars, [1 * c - 3 * s, 2 * c - 4 * s, 3 * c + 1 * s, 4 * c + 2 * s].map { Float($0) })
    }

    func testFrozenBranchesGetNoGradientWork() {
        let w = randomTensor([3, 3], seed: 6)          // frozen
        let a = randomTensor([3, 3], seed: 7); a.requiresGrad = true
        let x = randomTensor([2, 3], seed: 8)
        let frozen = x.linear(w)
        XCTAssertFalse(frozen.needsGrad, "a branch reaching no trainable parameter records nothing")
        (frozen.linear(a)).sum().backward()
        XCTAssertNotNil(a.grad)
        XCTAssertNil(w.grad)
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let a = Tensor([1, 2], shape: [2], requiresGrad: true)
        (a * 3).sum().backward()
        (a * 3).sum().backward()
        XCTAssertEqual(a.grad?.scalars, [6, 6])
    }
}
