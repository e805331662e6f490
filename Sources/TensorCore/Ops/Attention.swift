import Foundation

/// Which keys each query may see.
public struct AttentionMask {
    /// Query i (the i-th of the last T positions) sees key j only if j ≤ S − T + i.
    public var causal: Bool
    /// (B, S): 1 = real token, 0 = padding the queries must not attend to.
    public var keyPadding: IntTensor?
    /// (B, S): sample ids for packed sequences; queries attend only to keys of the same sample.
    public var segments: IntTensor?

    public init(causal: Bool, keyPadding: IntTensor? = nil, segments: IntTensor? = nil) {
        self.causal = causal
        self.keyPadding = keyPadding
        self.segments = segments
    }
}

/// Scaled dot-product attention with grouped/multi-query heads, fused: the (T × S) score matrix of one head lives
/// in a per-thread scratch buffer only while that head is processed; the backward pass recomputes it from the saved
/// log-sum-exp of each row instead of keeping probabilities for every head.
///
/// q: (B, T, H, D), k and v: (B, S, Hkv, D) with H a multiple of Hkv. out: (B, T, H, D).
/// Heads are read in place through GEMM leading dimensions, so no transpose copies are made.
///
/// Causal masks: the queries go in blocks of `causalBlockRows` rows, and each block's products stop at the last key
/// its last query may see, so the score blocks above the diagonal are never computed (at T = S = 256: 10 of 16
/// blocks, 62.5% of the work of the full square).
public func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, mask: AttentionMask,
                                      scale: Float? = nil) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention wants (B, T, H, D): \(q.shape) \(k.shape) \(v.shape)")
    let (b, t, h, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (s, hkv) = (k.shape[1], k.shape[2])
    precondition(k.shape == [b, s, hkv, d] && v.shape == k.shape, "attention key/value \(k.shape) \(v.shape) for query \(q.shape)")
    precondition(h % hkv == 0, "\(h) query heads cannot share \(hkv) key/value heads")
    precondition(s >= t, "attention has \(t) queries but only \(s) keys")
    let group = h / hkv
    let scale = scale ?? 1 / sqrtf(Float(d))
    let (qRow, kvRow) = (h * d, hkv * d)

    /// Query rows in blocks, each with the number of keys its rows may see at most (all S unless causal).
    let blockRows = mask.causal ? causalBlockRows : max(t, 1)
    let blocks: [(rows: Range<Int>, keys: Int)] = stride(from: 0, to: t, by: blockRows).map { i0 in
        let i1 = min(t, i0 + blockRows)
        return (i0..<i1, mask.causal ? min(s, s - t + i1) : s)
    }
    let pad = mask.keyPadding, seg = mask.segments

    /// scores[i, j] of head (bi, hi) for the rows of `block` and its first `block.keys` keys into `p` (row stride
    /// s): scaled QKᵀ with masked entries at −inf.
    func scores(_ bi: Int, _ hi: Int, _ block: (rows: Range<Int>, keys: Int), _ p: UnsafeMutablePointer<Float>) {
        let kvh = hi / group, n = block.keys, i0 = block.rows.lowerBound
        GEMM.sgemm(transB: true, m: block.rows.count, n: n, k: d, alpha: scale,
                   a: q.data + bi * t * qRow + i0 * qRow + hi * d, lda: qRow, b: k.data + bi * s * kvRow + kvh * d, ldb: kvRow,
                   c: p + i0 * s, ldc: s)
        for i in block.rows {
            let row = p + i * s, qi = s - t + i
            if mask.causal && qi + 1 < n { (row + qi + 1).update(repeating: -.infinity, count: n - qi - 1) }
            if let pad { for j in 0..<n where pad.values[bi * s + j] == 0 { row[j] = -.infinity } }
            if let seg { for j in 0..<n where seg.values[bi * s + j] != seg.values[bi * s + qi] { row[j] = -.infinity } }
        }
    }

    let out = Tensor(uninitialized: q.shape)
    let lse = Tensor(uninitialized: [b, h, t])
    let units = b * hkv
    GEMM.withSingleThreadedBLAS { Parallel.forEachChunk(units, costPerItem: 1 << 20) { r in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
        defer { p.deallocate() }
        for u in r {
            let (bi, kvh) = (u / hkv, u % hkv)
            for hi in (kvh * group)..<((kvh + 1) * group) {
                let l = lse.data + (bi * h + hi) * t
                for block in blocks {
                    let n = block.keys
                    scores(bi, hi, block, p)
                    for i in block.rows {
                        let row = p + i * s
                        let m = VectorMath.maximum(row, count: n)
                        if m == -.infinity { row.update(repeating: 0, count: n); l[i] = -.infinity; continue }
                        let sum = VectorMath.expShifted(row, shift: m, into: row, count: n)
                        let inv = 1 / sum
                        for j in 0..<n { row[j] *= inv }
                        l[i] = m + logf(sum)
                    }
                    let i0 = block.rows.lowerBound
                    GEMM.sgemm(m: block.rows.count, n: d, k: n, a: p + i0 * s, lda: s, b: v.data + bi * s * kvRow + kvh * d, ldb: kvRow,
                               c: out.data + bi * t * qRow + i0 * qRow + hi * d, ldc: qRow)
                }
            }
        }
    } }

    // Backward reads O through a detached view: capturing `out` would be a cycle (out → node → closure → out) that
    // leaks q, k, v and everything upstream of them whenever this backward never runs (a checkpoint's first pass).
    let o = out.detached()
    return out.recording("attention", [q, k, v]) { g in
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        GEMM.withSingleThreadedBLAS { Parallel.forEachChunk(units, costPerItem: 1 << 20) { r in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
            defer { p.deallocate(); dp.deallocate() }
            for u in r {
                let (bi, kvh) = (u / hkv, u % hkv)
                let kp = k.data + bi * s * kvRow + kvh * d, vp = v.data + bi * s * kvRow + kvh * d
                for hi in (kvh * group)..<((kvh + 1) * group) {
                    let l = lse.data + (bi * h + hi) * t
                    for block in blocks {
                        let (n, m, i0) = (block.keys, block.rows.count, block.rows.lowerBound)
                        let qo = bi * t * qRow + i0 * qRow + hi * d  // the block's first query row of this head
                        scores(bi, hi, block, p)
                        for i in block.rows {
                            let row = p + i * s
                            if l[i] == -.infinity { row.update(repeating: 0, count: n); continue }
                            _ = VectorMath.expShifted(row, shift: l[i], into: row, count: n)
                        }
                        let pb = p + i0 * s, dpb = dp + i0 * s
                        // dP = dO · Vᵀ ; dS = P ⊙ (dP − rowsum(dO ⊙ O))
                        GEMM.sgemm(transB: true, m: m, n: n, k: d, a: g.data + qo, lda: qRow, b: vp, ldb: kvRow, c: dpb, ldc: s)
                        for r in 0..<m {
                            let go = g.data + qo + r * qRow, oo = o.data + qo + r * qRow
                            var di: Float = 0
                            for e in 0..<d { di += go[e] * oo[e] }
                            let pr = pb + r * s, dr = dpb + r * s
                            for j in 0..<n { dr[j] = pr[j] * (dr[j] - di) }
                        }
                        // dV += Pᵀ · dO ; dQ = scale · dS · K ; dK += scale · dSᵀ · Q
                        GEMM.sgemm(transA: true, m: n, n: d, k: m, a: pb, lda: s, b: g.data + qo, ldb: qRow,
                                   beta: 1, c: dv.data + bi * s * kvRow + kvh * d, ldc: kvRow)
                        GEMM.sgemm(m: m, n: d, k: n, alpha: scale, a: dpb, lda: s, b: kp, ldb: kvRow,
                                   c: dq.data + qo, ldc: qRow)
                        GEMM.sgemm(transA: true, m: n, n: d, k: m, alpha: scale, a: dpb, lda: s, b: q.data + qo, ldb: qRow,
                                   beta: 1, c: dk.data + bi * s * kvRow + kvh * d, ldc: kvRow)
                    }
                }
            }
        } }
        return [q.needsGrad ? dq : nil, k.needsGrad ? dk : nil, v.needsGrad ? dv : nil]
    }
}

/// Query rows per block of causal attention: small enough that the skipped upper triangle is most of the masked
/// work, large enough for efficient GEMMs (64 × head dim × keys). Tests lower it to cover several blocks cheaply.
nonisolated(unsafe) public var causalBlockRows = 64
