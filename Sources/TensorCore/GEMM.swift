import COpenBLAS

/// The single place where matrix products are computed. Every op's matmul goes through `GEMM.sgemm` (and products
/// with a frozen weight through `GEMM.linear(frozen:)`), so a backend plugs in here without touching any op.
public protocol GEMMBackend: Sendable {
    /// Which library this is, for logs and `lorakit bench ops`.
    var kind: GEMMBackendKind { get }
    /// Row-major C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, with leading dimensions in elements.
    func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// OpenBLAS's cblas_sgemm. Transposes are flags, never copies. OPENBLAS_CORETYPE is left to the environment.
public struct OpenBLASBackend: GEMMBackend {
    public init() {}
    public var kind: GEMMBackendKind { .openblas }
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
    /// ours). Call only from the orchestrating thread. (oneDNN needs no such call: its thread count is OpenMP's,
    /// per thread, and `Parallel.forEachChunk` sets it to one inside every chunk.)
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        let previous = openblas_get_num_threads()
        if previous > 1 { openblas_set_num_threads(1) }
        defer { if previous > 1 { openblas_set_num_threads(previous) } }
        return try body()
    }

    /// LORAKIT_GEMM's backend (oneDNN by default); tests swap it to run the same op on both.
    nonisolated(unsafe) public static var backend: any GEMMBackend = ComputeEnvironment.current.gemm.makeBackend()

    /// Runs `body` with `kind`'s backend, then restores the previous one (tests, `lorakit bench ops`).
    public static func withBackend<T>(_ kind: GEMMBackendKind, _ body: () throws -> T) rethrows -> T {
        let previous = backend
        backend = kind.makeBackend()
        defer { backend = previous }
        return try body()
    }

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
