import CDNNL

/// oneDNN's GEMM. oneDNN dispatches on CPU features (AVX2 → its jit avx2 kernel, AVX-512 → avx512_core, …), so an
/// unknown CPU model never falls back to a generic kernel, as OpenBLAS 0.3.21 does on recent Xeons.
///
/// Plain products go to `dnnl_sgemm`, not to the matmul primitive: for f32 on this oneDNN (2.6) both end in the same
/// jit GEMM kernel (the f32 matmul is "gemm:jit" unless the CPU has AVX-512, see `lorakit bench ops`), and `dnnl_sgemm`
/// needs no primitive per shape — activation × activation products (attention, LoRA, gradients) change M with every
/// batch. The matmul primitive (`OneDNNMatmul`) is used where it brings something `dnnl_sgemm` cannot: bf16 inputs
/// with f32 accumulation for frozen bf16 weights.
public struct OneDNNBackend: GEMMBackend {
    public init() {}
    public var kind: GEMMBackendKind { .onednn }

    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let status = dnnl_sgemm(transA ? 0x54 : 0x4E, transB ? 0x54 : 0x4E,  // 'T' / 'N'
                                Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        precondition(status == dnnl_success, "dnnl_sgemm(\(transA ? "T" : "N")\(transB ? "T" : "N"), m \(m), n \(n), k \(k), "
                     + "lda \(lda), ldb \(ldb), ldc \(ldc)) failed with status \(status.rawValue)")
    }
}

/// What oneDNN reports about this CPU.
public enum OneDNNInfo {
    /// The highest instruction set oneDNN's kernels use here (`dnnl_get_effective_cpu_isa`).
    public static var effectiveISA: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx (AVX-512 with bf16 and AMX)"),
            (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16 (AVX-512 with DL Boost and bfloat16)"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni (AVX-512 with DL Boost)"),
            (dnnl_cpu_isa_avx512_core, "avx512_core (AVX-512)"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"),
            (dnnl_cpu_isa_avx2, "avx2"),
            (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { $0.0 == isa }?.1 ?? "isa 0x\(String(isa.rawValue, radix: 16))"
    }

    /// Whether oneDNN has bf16 GEMM kernels with f32 accumulation here (avx512_core_bf16 or AMX). Without them
    /// oneDNN 2.6 refuses bf16 primitives, and a bf16 product would only be emulated.
    public static var hasNativeBF16: Bool {
        let isa = dnnl_get_effective_cpu_isa()
        return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx
    }

    /// oneDNN's version, "2.6.3".
    public static var version: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }
}
