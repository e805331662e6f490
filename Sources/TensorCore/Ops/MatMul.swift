/// Matrix products. Leading dimensions are batch dimensions; transposes are flags passed to GEMM, never copies.
extension Tensor {
    /// a: (…, M, K) or (…, K, M) if transposeA; b: (K, N) / (N, K) if transposeB, or batched (…, K, N) with the
    /// same batch shape as a. out: (…, M, N).
    public func matmul(_ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        let a = self
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs matrices: \(a.shape) · \(b.shape)")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (kb, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == kb, "matmul inner dims differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        let batch = Array(a.shape.dropLast(2))
        let batchCount = batch.reduce(1, *)
        let bBatched = b.rank > 2
        precondition(!bBatched || Array(b.shape.dropLast(2)) == batch, "matmul batch shapes differ: \(a.shape) · \(b.shape)")

        // A shared (unbatched) right operand with an untransposed left operand is one big GEMM over all rows.
        if !bBatched && !transposeA {
            let out = Tensor(uninitialized: batch + [m, n])
            GEMM.sgemm(transB: transposeB, m: batchCount * m, n: n, k: k, a: a.data, lda: ac, b: b.data, ldb: bc,
                       c: out.data, ldc: n)
            // dA needs only B and dB only A: a frozen weight's layer does not keep its input alive for backward.
            let (needA, needB) = (a.needsGrad, b.needsGrad)
            let (aShape, bShape) = (a.shape, b.shape)
            let savedA = needB ? a : nil, savedB = needA ? b : nil
            return out.recording("matmul", [a, b]) { g in
                // dA = g · op(B)ᵀ ; dB = op(A)ᵀ · g (then transposed back when B was used transposed).
                var da: Tensor?, db: Tensor?
                if needA, let b = savedB {
                    let t = Tensor(uninitialized: aShape)
                    GEMM.sgemm(transB: !transposeB, m: batchCount * m, n: k, k: n, a: g.data, lda: n, b: b.data, ldb: bc,
                               c: t.data, ldc: ac)
                    da = t
                }
                if needB, let a = savedA {
                    let t = Tensor(uninitialized: bShape)
                    if transposeB {  // B is (N, K): dB = gᵀ · A
                        GEMM.sgemm(transA: true, m: n, n: k, k: batchCount * m, a: g.data, lda: n, b: a.data, ldb: ac,
                                   c: t.data, ldc: bc)
                    } else {         // B is (K, N): dB = Aᵀ · g
                        GEMM.sgemm(transA: true, m: k, n: n, k: batchCount * m, a: a.data, lda: ac, b: g.data, ldb: n,
                                   c: t.data, ldc: bc)
                    }
                    db = t
                }
                return [da, db]
            }
        }

        let out = Tensor(uninitialized: batch + [m, n])
        let (aStride, bStride) = (ar * ac, bBatched ? br * bc : 0)
        for i in 0..<batchCount {
            GEMM.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: a.data + i * aStride, lda: ac,
                       b: b.data + i * bStride, ldb: bc, c: out.data + i * m * n, ldc: n)
        }
        return out.recording("bmm", [a, b]) { g in
            var da: Tensor?, db: Tensor?
            if a.needsGrad {
                let t = Tensor(uninitialized: a.shape)
                for i in 0..<batchCount {
                    let gp = g.data + i * m * n, bp = b.data + i * bStride, tp = t.data + i * aStride
                    if transposeA {  // A stored (K, M): dA = op(B) · gᵀ
                        GEMM.sgemm(transA: transposeB, transB: true, m: k, n: m, k: n, a: bp, lda: bc, b: gp, ldb: n, c: tp, ldc: ac)
                    } else {         // A stored (M, K): dA = g · op(B)ᵀ
                        GEMM.sgemm(transB: !transposeB, m: m, n: k, k: n, a: gp, lda: n, b: bp, ldb: bc, c: tp, ldc: ac)
                    }
                }
                da = t
            }
            if b.needsGrad {
                let t = Tensor(zeros: b.shape)
                for i in 0..<batchCount {
                    let gp = g.data + i * m * n, ap = a.data + i * aStride, tp = t.data + i * bStride
                    let beta: Float = bBatched || i == 0 ? 0 : 1  // a shared B accumulates over the batch
                    if transposeB {  // B stored (N, K): dB = gᵀ · op(A)
                        GEMM.sgemm(transA: true, transB: transposeA, m: n, n: k, k: m, a: gp, lda: n, b: ap, ldb: ac, beta: beta, c: tp, ldc: bc)
                    } else {         // B stored (K, N): dB = op(A)ᵀ · g
                        GEMM.sgemm(transA: !transposeA, m: k, n: n, k: m, a: ap, lda: ac, b: gp, ldb: n, beta: beta, c: tp, ldc: bc)
                    }
                }
                db = t
            }
            return [da, db]
        }
    }

    /// x: (…, in), weight: (out, in) as in torch.nn.Linear, bias: (out). out: (…, out).
    /// With a bias the product and the bias add are one op: the bias goes into the GEMM's output in place, so no
    /// second (…, out) tensor is made in the forward pass nor passed through in the backward one.
    public func linear(_ weight: Tensor, bias: Tensor? = nil) -> Tensor {
        guard let bias else { return matmul(weight, transposeB: true) }
        let x = self, (rows, inF, outF) = (rowCount, lastDim, weight.shape[0])
        precondition(weight.shape == [outF, inF] && bias.shape == [outF],
                     "linear: weight \(weight.shape) and bias \(bias.shape) for input \(x.shape)")
        let y = Tensor(uninitialized: Array(shape.dropLast()) + [outF])
        GEMM.sgemm(transB: true, m: rows, n: outF, k: inF, a: x.data, lda: inF, b: weight.data, ldb: inF, c: y.data, ldc: outF)
        let (py, pb) = (y.data, bias.data)
        Parallel.forEachChunk(rows, costPerItem: outF) { chunk in
            for row in chunk { let r = py + row * outF; for j in 0..<outF { r[j] += pb[j] } }
        }
        // A frozen layer keeps only its weight for backward; its input is kept only when the weight trains.
        let (needX, needW, needBias) = (x.needsGrad, weight.needsGrad, bias.needsGrad)
        let savedX = needW ? x : nil, savedW = needX ? weight : nil, xShape = x.shape
        return y.recording("linear", [x, weight, bias]) { g in
            var dx: Tensor?, dw: Tensor?
            if let w = savedW {  // dX = g · W
                let t = Tensor(uninitialized: xShape)
                GEMM.sgemm(m: rows, n: inF, k: outF, a: g.data, lda: outF, b: w.data, ldb: inF, c: t.data, ldc: inF)
                dx = t
            }
            if let x = savedX {  // dW = gᵀ · x
                let t = Tensor(uninitialized: [outF, inF])
                GEMM.sgemm(transA: true, m: outF, n: inF, k: rows, a: g.data, lda: outF, b: x.data, ldb: inF, c: t.data, ldc: inF)
                dw = t
            }
            return [dx, dw, needBias ? g.reduced(to: [outF]) : nil]  // dBias: g summed over rows
        }
    }
}
