import COpenBLAS

extension Tensor {
    /// Thin singular value decomposition of an (m × n) matrix: self = U · diag(S) · Vᵀ with U (m × k), S (k),
    /// Vᵀ (k × n), k = min(m, n), singular values descending — torch.linalg.svd(full_matrices=False). Outside the graph.
    public func svd() -> (u: Tensor, s: Tensor, vt: Tensor) {
        precondition(rank == 2, "svd of a matrix, got \(shape)")
        let (m, n) = (shape[0], shape[1]), k = Swift.min(m, n)
        // LAPACK is column-major: a row-major (m × n) matrix is the column-major (n × m) matrix Aᵀ = V·S·Uᵀ,
        // so LAPACK's "U" is our V and its "Vᵀ" our Uᵀ — both come out already in row-major form.
        var a = scalars
        var s = [Float](repeating: 0, count: k)
        var lapackU = [Float](repeating: 0, count: n * k)   // (n × k) column-major = our Vᵀ (k × n) row-major
        var lapackVt = [Float](repeating: 0, count: k * m)  // (k × m) column-major = our U (m × k) row-major
        var (mm, nn, lda, ldu, ldvt, info) = (Int32(n), Int32(m), Int32(n), Int32(n), Int32(k), Int32(0))
        var jobz = Int8(UInt8(ascii: "S"))
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var lwork: Int32 = -1
        var query: Float = 0
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &lapackU, &ldu, &lapackVt, &ldvt, &query, &lwork, &iwork, &info)
        lwork = Int32(query)
        var work = [Float](repeating: 0, count: Int(lwork))
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &lapackU, &ldu, &lapackVt, &ldvt, &work, &lwork, &iwork, &info)
        precondition(info == 0, "sgesdd failed with info \(info)")
        return (Tensor(lapackVt, shape: [m, k]), Tensor(s, shape: [k]), Tensor(lapackU, shape: [k, n]))
    }
}
