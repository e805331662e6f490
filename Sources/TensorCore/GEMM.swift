import COpenBLAS

/// The single place where matrix products are computed. Every op's matmul goes through `GEMM.sgemm`, so another
/// backend (oneDNN with bf16, a quantized kernel) plugs in here without touching any op.
public protocol GEMMBackend: Sendable {
    /// Row-major C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, with leading dimensions in elements.
    func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// OpenBLAS's cblas_sgemm. Transposes are flags, never copies. OPENBLAS_CORETYPE is left to the environment.
public struct OpenBLASBackend: GEMMBackend {
    public init() {}
    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

public enum GEMM {
    /// Runs `body`, whose own threads each call GEMM on small matrices, with OpenBLAS limited to one thread, so
    /// the two levels of threading do not oversubscribe the cores (OpenBLAS's spinning workers otherwise fight
    /// ours). Call only from the orchestrating thread.
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        let previous = openblas_get_num_threads()
        if previous > 1 { openblas_set_num_threads(1) }
        defer { if previous > 1 { openblas_set_num_threads(previous) } }
        return try body()
    }

    nonisolated(unsafe) public static var backend: any GEMMBackend = OpenBLASBackend()

    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {  // BLAS leaves C untouched when k == 0 only if beta == 1; make the result explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        backend.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}
