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
/// Products cover only blocks of the score matrix that hold visible entries: packed prompts score each sequence
/// against its own keys, and causal masks take the queries `causalBlockRows` at a time, each block stopping at the
/// last key its last query may see, so the blocks above the diagonal are never computed (at T = S = 256: 10 of 16
/// blocks, 62.5% of the full square's work), forward and backward.
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

    /// Queries `queries` of a batch row and the keys `keys` they are scored against.
    typealias Block = (queries: Range<Int>, keys: Range<Int>)
    let whole: Block = (0..<t, 0..<s)

    /// scores[i, j] for head (bi, hi) over `block` into `p` (queries × keys of the block): scaled QKᵀ with masked
    /// entries at −inf.
    func scores(_ bi: Int, _ hi: Int, _ block: Block, _ p: UnsafeMutablePointer<Float>) {
        let kvh = hi / group
        let (q0, k0, m, n) = (block.queries.lowerBound, block.keys.lowerBound, block.queries.count, block.keys.count)
        GEMM.sgemm(transB: true, m: m, n: n, k: d, alpha: scale,
                   a: q.data + (bi * t + q0) * qRow + hi * d, lda: qRow, b: k.data + (bi * s + k0) * kvRow + kvh * d, ldb: kvRow,
                   c: p, ldc: n)
        let pad = mask.keyPadding.map { Array($0.values[(bi * s + k0)..<(bi * s + k0 + n)]) }
        let seg = mask.segments.map { Array($0.values[(bi * s)..<((bi + 1) * s)]) }
        for i in 0..<m {
            let row = p + i * n, qi = s - t + q0 + i
            let visible = qi + 1 - k0  // keys k0..<qi+1 under the causal mask
            if mask.causal && visible < n { (row + max(0, visible)).update(repeating: -.infinity, count: n - max(0, visible)) }
            if let pad { for j in 0..<n where pad[j] == 0 { row[j] = -.infinity } }
            if let seg { for j in 0..<n where seg[k0 + j] != seg[qi] { row[j] = -.infinity } }
        }
    }

    /// Per batch row, the blocks the products cover; every score outside them is masked, so computing it would be
    /// wasted work. Packed sequences whose segments are contiguous runs over a row without cached keys (a prompt
    /// pass or packed training rows) give one span per run, scored against its own keys; otherwise the span is the
    /// whole (T × S) matrix. Under a causal mask each span is cut into query blocks that stop at the last visible key.
    func blocks(_ bi: Int) -> [Block] {
        var spans = [whole]
        if let segments = mask.segments, s == t {
            var runs: [Block] = []
            var seen = Set<Int32>()
            var start = 0
            for j in 1...s where j == s || segments.values[bi * s + j] != segments.values[bi * s + start] {
                guard seen.insert(segments.values[bi * s + start]).inserted else { runs = [whole]; break }
                runs.append((start..<j, start..<j))
                start = j
            }
            spans = runs
        }
        guard mask.causal else { return spans }
        return spans.flatMap { span in
            stride(from: span.queries.lowerBound, to: span.queries.upperBound, by: causalBlockRows).map { i0 -> Block in
                let i1 = min(span.queries.upperBound, i0 + causalBlockRows)
                return (i0..<i1, span.keys.lowerBound..<min(span.keys.upperBound, s - t + i1))
            }
        }
    }

    let out = Tensor(uninitialized: q.shape)
    let lse = Tensor(uninitialized: [b, h, t])
    let units = b * hkv
    // One query per row (a decode step): by hand, without the two GEMM calls per head (their setup costs more than
    // the 4·S·D flops), over each row's visible keys only.
    let decoding = t == 1 && mask.segments == nil
    GEMM.withSingleThreadedBLAS { Parallel.forEachChunk(units, costPerItem: decoding ? group * s * d * 4 : 1 << 20) { r in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
        defer { p.deallocate() }
        for u in r {
            let (bi, kvh) = (u / hkv, u % hkv)
            if decoding {
                for hi in (kvh * group)..<((kvh + 1) * group) {
                    lse.data[bi * h + hi] = decodeAttention(query: q.data + bi * qRow + hi * d, keys: k.data + bi * s * kvRow + kvh * d,
                                                            values: v.data + bi * s * kvRow + kvh * d, stride: kvRow, count: s,
                                                            dimension: d, scale: scale, padding: mask.keyPadding, row: bi,
                                                            scores: p, into: out.data + bi * qRow + hi * d)
                }
                continue
            }
            let rowBlocks = blocks(bi)
            for hi in (kvh * group)..<((kvh + 1) * group) {
                for block in rowBlocks {
                    let (n, q0, k0) = (block.keys.count, block.queries.lowerBound, block.keys.lowerBound)
                    scores(bi, hi, block, p)
                    let l = lse.data + (bi * h + hi) * t + q0
                    for i in 0..<block.queries.count { l[i] = VectorMath.softmaxInPlace(p + i * n, count: n) }
                    GEMM.sgemm(m: block.queries.count, n: d, k: n, a: p, lda: n, b: v.data + (bi * s + k0) * kvRow + kvh * d, ldb: kvRow,
                               c: out.data + (bi * t + q0) * qRow + hi * d, ldc: qRow)
                }
            }
        }
    } }

    // Backward reads O through a detached view: capturing `out` would be a cycle (out → node → closure → out) that
    // leaks q, k, v and everything upstream of them whenever this backward never runs (a checkpoint's first pass).
    let o = out.detached()
    return out.recording("attention", [q, k, v]) { g in
        let dq = q.needsGrad ? Tensor(zeros: q.shape) : nil, dk = k.needsGrad ? Tensor(zeros: k.shape) : nil
        let dv = v.needsGrad ? Tensor(zeros: v.shape) : nil
        // rowsum(dO ⊙ O) of every (query, head), which dS needs: one streaming pass over dO and O here rather than
        // a strided dot per row inside the blocks, where it was the loop's costliest load (first touch of dO).
        let rowDots = dq != nil || dk != nil ? Tensor(uninitialized: [b, t, h]) : nil
        if let rowDots {
            let (pr, pg, po) = (rowDots.data, g.data, o.data)
            Parallel.forEachChunk(b * t, costPerItem: qRow) { r in
                for row in r {
                    for hi in 0..<h { pr[row * h + hi] = VectorMath.dot(pg + row * qRow + hi * d, po + row * qRow + hi * d, count: d) }
                }
            }
        }
        GEMM.withSingleThreadedBLAS { Parallel.forEachChunk(units, costPerItem: 1 << 20) { r in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
            defer { p.deallocate(); dp.deallocate() }
            for u in r {
                let (bi, kvh) = (u / hkv, u % hkv)
                let rowBlocks = blocks(bi)
                for hi in (kvh * group)..<((kvh + 1) * group) {
                    for block in rowBlocks {
                        let (m, n, q0, k0) = (block.queries.count, block.keys.count, block.queries.lowerBound, block.keys.lowerBound)
                        let qo = (bi * t + q0) * qRow + hi * d, ko = (bi * s + k0) * kvRow + kvh * d
                        scores(bi, hi, block, p)
                        let l = lse.data + (bi * h + hi) * t + q0
                        for i in 0..<m {
                            let row = p + i * n
                            if l[i] == -.infinity { row.update(repeating: 0, count: n); continue }
                            _ = VectorMath.expShifted(row, shift: l[i], into: row, count: n)
                        }
                        // dP = dO · Vᵀ ; dS = P ⊙ (dP − rowsum(dO ⊙ O)), which only dQ and dK read.
                        if let rowDots {
                            GEMM.sgemm(transB: true, m: m, n: n, k: d, a: g.data + qo, lda: qRow, b: v.data + ko, ldb: kvRow, c: dp, ldc: n)
                            let di = rowDots.data + (bi * t + q0) * h + hi
                            for i in 0..<m { VectorMath.softmaxBackwardInPlace(p + i * n, dp + i * n, dot: di[i * h], count: n) }
                        }
                        // dV += Pᵀ · dO ; dQ += scale · dS · K ; dK += scale · dSᵀ · Q; each only for an input
                        // that takes a gradient (BERT's first key, say, is a frozen product of the embeddings).
                        if let dv {
                            GEMM.sgemm(transA: true, m: n, n: d, k: m, a: p, lda: n, b: g.data + qo, ldb: qRow,
                                       beta: 1, c: dv.data + ko, ldc: kvRow)
                        }
                        if let dq {
                            GEMM.sgemm(m: m, n: d, k: n, alpha: scale, a: dp, lda: n, b: k.data + ko, ldb: kvRow,
                                       beta: 1, c: dq.data + qo, ldc: qRow)
                        }
                        if let dk {
                            GEMM.sgemm(transA: true, m: n, n: d, k: m, alpha: scale, a: dp, lda: n, b: q.data + qo, ldb: qRow,
                                       beta: 1, c: dk.data + ko, ldc: kvRow)
                        }
                    }
                }
            }
        } }
        return [dq, dk, dv]
    }
}

/// Attention of one query over `count` keys and values (rows `stride` apart), into `out` (dimension floats); returns
/// the log-sum-exp of the scaled scores. Keys where `padding` (B, count) is 0 for `row` are hidden. The sums run
/// over the visible span from its first key, so a row left-padded in a batch adds in the same order as the same
/// sequence alone (greedy tokens do not depend on the batch).
func decodeAttention(query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int,
                     count s: Int, dimension d: Int, scale: Float, padding: IntTensor?, row: Int,
                     scores p: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) -> Float {
    var (lo, hi) = (0, s)
    if let padding {
        padding.values.withUnsafeBufferPointer { pad in
            let base = row * s
            while lo < s && pad[base + lo] == 0 { lo += 1 }
            while hi > lo && pad[base + hi - 1] == 0 { hi -= 1 }
        }
    }
    let n = hi - lo
    guard n > 0 else { out.update(repeating: 0, count: d); return -.infinity }
    for j in 0..<n { p[j] = scale * decodeDot(query, keys + (lo + j) * stride, d) }
    if let padding {  // holes inside the span (not made by the engines here, but a mask may have them)
        padding.values.withUnsafeBufferPointer { pad in
            for j in 0..<n where pad[row * s + lo + j] == 0 { p[j] = -.infinity }
        }
    }
    let m = VectorMath.maximum(p, count: n)
    let sum = VectorMath.expShifted(p, shift: m, into: p, count: n)
    let inv = 1 / sum
    out.update(repeating: 0, count: d)
    for j in 0..<n where p[j] != 0 {
        let w = p[j] * inv, vj = values + (lo + j) * stride
        var e = 0
        while e + 16 <= d {
            let o = UnsafeMutableRawPointer(out + e)
            o.storeBytes(of: o.loadUnaligned(as: SIMD16<Float>.self) + w * UnsafeRawPointer(vj + e).loadUnaligned(as: SIMD16<Float>.self),
                         as: SIMD16<Float>.self)
            e += 16
        }
        while e < d { out[e] += w * vj[e]; e += 1 }
    }
    return m + logf(sum)
}

@inline(__always)
private func decodeDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var k = 0
    while k + 16 <= n {
        acc += UnsafeRawPointer(a + k).loadUnaligned(as: SIMD16<Float>.self) * UnsafeRawPointer(b + k).loadUnaligned(as: SIMD16<Float>.self)
        k += 16
    }
    var sum = acc.sum()
    while k < n { sum += a[k] * b[k]; k += 1 }
    return sum
}

/// Query rows per block of causal attention: small enough that the skipped upper triangle is most of the masked
/// work, large enough for efficient GEMMs (64 × head dim × keys). Tests lower it to cover several blocks cheaply.
nonisolated(unsafe) public var causalBlockRows = 64
