/// Products with a frozen weight W (out × in): the forward y = x·Wᵀ and the backward dX = dY·W. W never gets a
/// gradient, so these are the only two products it takes part in.
extension GEMM {
    /// Rows of W widened per panel on the generic path: 2 MB of fp32, which stays in L2/L3 while the GEMM reads it.
    public static let panelFloats = 1 << 19

    /// c (m × n) = a (m × k) · Wᵀ when `transposed` (k = in, n = out: the forward), else a · W (k = out, n = in: the
    /// input gradient). c is overwritten.
    public static func frozenProduct(_ w: FrozenWeight, transposed: Bool, m: Int, a: UnsafePointer<Float>,
                                     c: UnsafeMutablePointer<Float>) {
        let (k, n) = transposed ? (w.columns, w.rows) : (w.rows, w.columns)
        if m == 0 || n == 0 { return }
        switch w.storage {
        case .fp32(let t):
            sgemm(transB: transposed, m: m, n: n, k: k, a: a, lda: k, b: t.data, ldb: w.columns, c: c, ldc: n)
        case .bf16(let bits):
            if let plan = nativeBF16Plan(m: m, n: n, k: k, transposed: transposed) {
                let a16 = UnsafeMutablePointer<UInt16>.allocate(capacity: m * k)
                defer { a16.deallocate() }
                Parallel.forEachChunk(m, costPerItem: k) { r in
                    BF16.round(a + r.lowerBound * k, into: a16 + r.lowerBound * k, count: r.count * k)
                }
                OneDNNMatmul.run(plan, src: a16, weights: bits, dst: c)
            } else {
                panelProduct(w, transposed: transposed, m: m, a: a, c: c)
            }
        case .quantized:
            panelProduct(w, transposed: transposed, m: m, a: a, c: c)
        }
    }

    /// Whether products with `w` widen it panel by panel (`panelProduct`) rather than read it in place.
    static func widensPanels(_ w: FrozenWeight) -> Bool {
        switch w.storage {
        case .fp32: return false
        case .bf16: return !bf16RunsNatively
        case .quantized: return true
        }
    }

    /// The generic path: W widened to fp32 one panel of rows at a time into scratch, each panel one fp32 GEMM.
    /// Forward: a panel of W's rows is a block of output columns. Backward: it is a block of the inner dimension,
    /// so the panels accumulate into c.
    ///
    /// Measured against per-thread panels (each thread decoding its own 1 MB panel and running its own GEMM slice,
    /// backward partials summed; commit 0b9cdbd): no gain on SmolLM2's shapes (`bench ops --frozen`, within noise),
    /// 1.6× slower on the 1.1B Llama at batch 1 × 128 (8.28 vs 5.21 s/step, nf4) and +45 MB peak. With the SIMD
    /// decoders the decode is ~0.1 ns per weight, so the multi-threaded GEMM on a shared panel wins.
    static func panelProduct(_ w: FrozenWeight, transposed: Bool, m: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        let cols = w.columns
        let panelRows = max(1, min(w.rows, panelFloats / max(cols, 1)))
        let scratch = Storage(count: panelRows * cols, zeroed: false)  // pooled: reused across calls and threads
        let panel = scratch.pointer
        var r0 = 0
        while r0 < w.rows {
            let r1 = min(w.rows, r0 + panelRows)
            Profiler.measure(.dequantize) {
                Parallel.forEachChunk(r1 - r0, costPerItem: cols) { r in
                    w.dequantizeRows((r0 + r.lowerBound)..<(r0 + r.upperBound), into: panel + r.lowerBound * cols)
                }
            }
            if transposed {  // c[:, r0..<r1] = a (m × in) · panelᵀ
                sgemm(transB: true, m: m, n: r1 - r0, k: cols, a: a, lda: cols, b: panel, ldb: cols, c: c + r0, ldc: w.rows)
            } else {         // c (m × in) += a[:, r0..<r1] · panel
                sgemm(m: m, n: cols, k: r1 - r0, a: a + r0, lda: w.rows, b: panel, ldb: cols, beta: r0 == 0 ? 0 : 1, c: c, ldc: cols)
            }
            r0 = r1
        }
        // The panel pointer is all the loop uses: keep its storage out of the pool until the last GEMM is done.
        withExtendedLifetime(scratch) {}
    }

    /// oneDNN's bf16×bf16→f32 matmul for this product, when bf16 products run natively (`GEMM.bf16RunsNatively`:
    /// oneDNN backend, a CPU with bf16 kernels, and those kernels measured faster than fp32 unless forced).
    ///
    /// The weights are read in their plain bf16 layout. A packed copy in oneDNN's blocked layout (format "any") would
    /// have to replace the plain one, and the forward (x·Wᵀ) and dX (dY·W) want different blocked layouts of it; on
    /// family 6 model 207 packing gained nothing measurable (`lorakit bench ops`: bf16 packed ≈ bf16 plain, both
    /// ≈ 0.57× fp32 per thread), so there is no gain to pay that complexity for.
    static func nativeBF16Plan(m: Int, n: Int, k: Int, transposed: Bool) -> OneDNNMatmul.Plan? {
        guard bf16RunsNatively else { return nil }
        return OneDNNMatmul.plan(m: m, n: n, k: k, weightsTransposed: transposed, src: .bf16, weights: .bf16)
    }

    /// How products with bf16 weights run in this process, for the training log.
    public static var bf16ComputeDescription: String {
        let isa = OneDNNInfo.effectiveISA
        let widened = "bf16 weights are widened to fp32 panel by panel and multiplied in fp32"
        if backend.kind != .onednn {
            return "\(widened) (LORAKIT_GEMM=\(backend.kind.rawValue); bf16 kernels need oneDNN)"
        }
        guard OneDNNInfo.hasNativeBF16 else {
            return "\(widened): this CPU has no bf16 GEMM (oneDNN: \(isa); needs avx512_core_bf16 or AMX)"
        }
        guard OneDNNMatmul.plan(m: 16, n: 16, k: 16, weightsTransposed: true, src: .bf16, weights: .bf16) != nil else {
            return "\(widened): oneDNN reports \(isa) but refused a bf16 matmul"
        }
        let measured = bf16Speed.map { " (\($0.summary))" } ?? ""
        switch bf16Kernels {
        case .native:
            return "bf16 matmuls with fp32 accumulation (oneDNN, \(isa); forced by LORAKIT_BF16_GEMM=native)"
        case .widened:
            return "\(widened) (LORAKIT_BF16_GEMM=widened)"
        case .auto:
            if bf16RunsNatively { return "bf16 matmuls with fp32 accumulation (oneDNN, \(isa))\(measured)" }
            return "\(widened): oneDNN's bf16 kernels are slower than fp32 on this CPU\(measured)"
        }
    }
}
