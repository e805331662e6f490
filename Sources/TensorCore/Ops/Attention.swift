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

    /// scores[i, j] for head (bi, hi) into `p`: scaled QKᵀ with masked entries at −inf.
    func scores(_ bi: Int, _ hi: Int, _ p: UnsafeMutablePointer<Float>) {
        let kvh = hi / group
        GEMM.sgemm(transB: true, m: t, n: s, k: d, alpha: scale,
                   a: q.data + bi * t * qRow + hi * d, lda: qRow, b: k.data + bi * s * kvRow + kvh * d, ldb: kvRow,
                   c: p, ldc: s)
        let pad = mask.keyPadding.map { Array($0.values[(bi * s)..<((bi + 1) * s)]) }
        let seg = mask.segments.map { Array($0.values[(bi * s)..<((bi + 1) * s)]) }
        for i in 0..<t {
            let row = p + i * s, qi = s - t + i
            if mask.causal && qi + 1 < s { (row + qi + 1).update(repeating: -.infinity, count: s - qi - 1) }
            if let pad { for j in 0..<s where pad[j] == 0 { row[j] = -.infinity } }
            if let seg { for j in 0..<s where seg[j] != seg[qi] { row[j] = -.infinity } }
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
                scores(bi, hi, p)
                let l = lse.data + (bi * h + hi) * t
                for i in 0..<t {
                    let row = p + i * s
                    let m = VectorMath.maximum(row, count: s)
                    if m == -.infinity { row.update(repeating: 0, count: s); l[i] = -.infinity; continue }
                    let sum = VectorMath.expShifted(row, shift: m, into: row, count: s)
                    let inv = 1 / sum
                    for j in 0..<s { row[j] *= inv }
                    l[i] = m + logf(sum)
                }
                GEMM.sgemm(m: t, n: d, k: s, a: p, lda: s, b: v.data + bi * s * kvRow + kvh * d, ldb: kvRow,
                           c: out.data + bi * t * qRow + hi * d, ldc: qRow)
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
                    let qo = bi * t * qRow + hi * d
                    scores(bi, hi, p)
                    let l = lse.data + (bi * h + hi) * t
                    for i in 0..<t {
                        let row = p + i * s
                        if l[i] == -.infinity { row.update(repeating: 0, count: s); continue }
                        _ = VectorMath.expShifted(row, shift: l[i], into: row, count: s)
                    }
                    // dP = dO · Vᵀ ; dS = P ⊙ (dP − rowsum(dO ⊙ O))
                    GEMM.sgemm(transB: true, m: t, n: s, k: d, a: g.data + qo, lda: qRow, b: vp, ldb: kvRow, c: dp, ldc: s)
                    for i in 0..<t {
                        let go = g.data + qo + i * qRow, oo = o.data + qo + i * qRow
                        var di: Float = 0
                        for e in 0..<d { di += go[e] * oo[e] }
                        let pr = p + i * s, dr = dp + i * s
                        for j in 0..<s { dr[j] = pr[j] * (dr[j] - di) }
                    }
                    // dV += Pᵀ · dO ; dQ = scale · dS · K ; dK += scale · dSᵀ · Q
                    GEMM.sgemm(transA: true, m: s, n: d, k: t, a: p, lda: s, b: g.data + qo, ldb: qRow,
                               beta: 1, c: dv.data + bi * s * kvRow + kvh * d, ldc: kvRow)
                    GEMM.sgemm(m: t, n: d, k: s, alpha: scale, a: dp, lda: s, b: kp, ldb: kvRow,
                               c: dq.data + qo, ldc: qRow)
                    GEMM.sgemm(transA: true, m: s, n: d, k: t, alpha: scale, a: dp, lda: s, b: q.data + qo, ldb: qRow,
                               beta: 1, c: dk.data + bi * s * kvRow + kvh * d, ldc: kvRow)
                }
            }
        } }
        return [q.needsGrad ? dq : nil, k.needsGrad ? dk : nil, v.needsGrad ? dv : nil]
    }
}
