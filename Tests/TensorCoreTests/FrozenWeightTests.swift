import XCTest
import TensorCore

/// bf16 conversion (exact expectations from the IEEE bit patterns), frozen-weight products against fp32 GEMM on
/// the widened weights, and the bf16 error bound. The products run on both GEMM backends in turn.
final class FrozenWeightTests: XCTestCase {
    /// Runs `body` once per GEMM backend; failures name the backend through `backend`.
    private func forEachBackend(_ body: (GEMMBackendKind) throws -> Void) rethrows {
        for kind in GEMMBackendKind.allCases { try GEMM.withBackend(kind) { try body(kind) } }
    }

    /// Runs `body` once per GEMM backend and, on oneDNN with bf16 kernels, once per bf16 kernel choice, so the native
    /// bf16 path is tested here even where `auto` measures it slower and would never take it.
    private func forEachBF16Path(_ body: (String) throws -> Void) rethrows {
        try forEachBackend { backend in
            for choice in [BF16KernelChoice.native, .widened] {
                try GEMM.withBF16Kernels(choice) { try body("\(backend) \(GEMM.bf16RunsNatively ? "bf16 native" : "widened")") }
            }
        }
    }

    func testBF16RoundsToNearestEvenLikeTorch() {
        // bf16 keeps 7 mantissa bits: the spacing at 1 is 2⁻⁷. Halfway cases go to the even mantissa.
        XCTAssertEqual(BF16.round(1), 0x3F80)
        XCTAssertEqual(BF16.round(1 + 0x1p-8), 0x3F80)               // halfway between 1 and 1+2⁻⁷ → 1 (even)
        XCTAssertEqual(BF16.round(1 + 3 * 0x1p-8), 0x3F82)           // halfway between 1+2⁻⁷ and 1+2⁻⁶ → 1+2⁻⁶
        XCTAssertEqual(BF16.round(1 + 0x1p-8 + 0x1p-20), 0x3F81)     // just above halfway → up
        XCTAssertEqual(BF16.round(-2.5), 0xC020)
        XCTAssertEqual(BF16.round(.infinity), 0x7F80)
        XCTAssertEqual(BF16.round(.greatestFiniteMagnitude), 0x7F80)  // overflows to inf, as torch does
        XCTAssertTrue(BF16.widen(BF16.round(.nan)).isNaN)
        XCTAssertEqual(BF16.widen(0x3F82), 1 + 0x1p-6)
    }

    func testVectorAndScalarConversionsAgreeAndRoundTrip() {
        let x = randomTensor([1037], seed: 11, std: 3)  // not a multiple of 16: the scalar tail runs too
        x.data[5] = .nan; x.data[6] = -.infinity; x.data[7] = 0x1p-130  // a subnormal
        var bits = [UInt16](repeating: 0, count: x.count)
        BF16.round(x.data, into: &bits, count: x.count)
        var back = [Float](repeating: 0, count: x.count)
        BF16.widen(bits, into: &back, count: x.count)
        for i in 0..<x.count {
            if x.data[i].isNaN { XCTAssertTrue(back[i].isNaN); continue }
            XCTAssertEqual(bits[i], BF16.round(x.data[i]), "element \(i)")
            XCTAssertEqual(back[i], BF16.widen(bits[i]), "element \(i)")
            // Round to nearest: relative error ≤ 2⁻⁸ for normal values; a widened value rounds to itself.
            if x.data[i].isNormal { XCTAssertLessThanOrEqual(abs(back[i] - x.data[i]), abs(x.data[i]) * 0x1p-8, "element \(i)") }
            XCTAssertEqual(BF16.round(back[i]), bits[i])
        }
    }

    func testBF16StorageHalvesTheBytesAndDequantizesToTheRoundedWeights() {
        let w = randomTensor([37, 53], seed: 12)
        let fp32 = FrozenWeight(w, precision: .fp32), bf16 = FrozenWeight(w, precision: .bf16)
        XCTAssertEqual(fp32.byteCount, 37 * 53 * 4)
        XCTAssertEqual(bf16.byteCount, 37 * 53 * 2)
        XCTAssertTrue(fp32.dequantized() === w, "fp32 storage keeps the tensor itself")
        let d = bf16.dequantized()
        for i in 0..<w.count { XCTAssertEqual(d.data[i], BF16.widen(BF16.round(w.data[i]))) }
        var rows = [Float](repeating: 0, count: 3 * 53)
        bf16.dequantizeRows(10..<13, into: &rows)
        XCTAssertEqual(rows, Array(d.scalars[(10 * 53)..<(13 * 53)]))
    }

    /// Forward y = x·Wᵀ and dX = dY·W with bf16 storage against the fp32 ops on the widened weight (1e-5 relative:
    /// the same numbers, summed in another order), with a weight large enough to take several panels.
    func testBF16LinearMatchesFP32OnWidenedWeightsAcrossPanels() {
        forEachBF16Path { backend in
            let (m, k, n) = (7, 512, 1100)  // 1100 × 512 floats > one 2 MB panel
            let x = randomTensor([m, k], seed: 13), w = randomTensor([n, k], seed: 14, std: 0.05), bias = randomTensor([n], seed: 15)
            let frozen = FrozenWeight(w, precision: .bf16)
            let widened = frozen.dequantized()
            let g = randomTensor([m, n], seed: 16)

            x.requiresGrad = true
            let y = x.linear(frozen: frozen, bias: bias)
            y.backward(seed: g)
            let dx = x.grad!
            x.grad = nil
            let yRef = x.linear(widened, bias: bias)
            yRef.backward(seed: g)
            let dxRef = x.grad!
            // The fallback multiplies exact widened values in fp32; native bf16 kernels also round x (and dY) to bf16.
            let rtol: Float = GEMM.bf16RunsNatively ? 1e-2 : 1e-5
            assertClose(y, yRef, rtol: rtol, "\(backend) forward")
            assertClose(dx, dxRef, rtol: rtol, "\(backend) dX")
        }
    }

    /// |y_bf16 − y_fp32| ≤ 2·2⁻⁸·Σₖ|xₖ||Wⱼₖ| + 1e-5: each of W (and, on bf16 hardware, x) is rounded once with relative
    /// error ≤ 2⁻⁸; the fp32 accumulation adds far less.
    func testBF16ProductErrorAgainstFP32IsWithinTheRoundingBound() {
        forEachBF16Path { backend in
            let (m, k, n) = (16, 576, 96)
            let x = randomTensor([m, k], seed: 17), w = randomTensor([n, k], seed: 18, std: 0.05)
            let y16 = GradMode.withoutGrad { x.linear(frozen: FrozenWeight(w, precision: .bf16)) }
            let y32 = GradMode.withoutGrad { x.linear(w) }
            var worstRatio: Float = 0
            for i in 0..<m { for j in 0..<n {
                var bound: Float = 0
                for p in 0..<k { bound += abs(x[i, p] * w[j, p]) }
                bound = 2 * 0x1p-8 * bound + 1e-5
                let err = abs(y16[i, j] - y32[i, j])
                worstRatio = max(worstRatio, err / bound)
                XCTAssertLessThanOrEqual(err, bound, "\(backend) y[\(i), \(j)]")
            } }
            XCTAssertGreaterThan(worstRatio, 0, "\(backend): bf16 storage should change the product at all")
        }
    }

    /// The matmul primitive (plain and packed weights, both orientations) against dnnl_sgemm; bf16 where oneDNN has
    /// kernels for it — and it must have them when it reports a bf16 ISA.
    func testOneDNNMatmulPrimitiveMatchesSgemm() throws {
        let (m, k, n) = (33, 70, 45)
        let x = randomTensor([m, k], seed: 19), w = randomTensor([n, k], seed: 20), wt = randomTensor([k, n], seed: 21)
        for transposed in [true, false] {
            let weights = transposed ? w : wt
            let reference = Tensor(zeros: [m, n])
            GEMM.withBackend(.onednn) {
                GEMM.sgemm(transB: transposed, m: m, n: n, k: k, a: x.data, lda: k, b: weights.data, ldb: transposed ? k : n,
                           c: reference.data, ldc: n)
            }
            for packed in [false, true] {
                let plan = try XCTUnwrap(OneDNNMatmul.plan(m: m, n: n, k: k, weightsTransposed: transposed, packed: packed,
                                                           src: .f32, weights: .f32))
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(plan.packedByteCount, 4), alignment: 64)
                defer { buffer.deallocate() }
                if plan.needsPacking { OneDNNMatmul.pack(plan, weights: weights.data, into: buffer) }
                let out = Tensor(zeros: [m, n])
                OneDNNMatmul.run(plan, src: x.data, weights: plan.needsPacking ? UnsafeRawPointer(buffer) : UnsafeRawPointer(weights.data),
                                 dst: out.data)
                assertClose(out, reference, rtol: 1e-5, "f32 matmul transposed \(transposed) packed \(packed) (\(plan.implementation))")
            }
            if let plan = OneDNNMatmul.plan(m: m, n: n, k: k, weightsTransposed: transposed, src: .bf16, weights: .bf16) {
                var x16 = [UInt16](repeating: 0, count: m * k), w16 = [UInt16](repeating: 0, count: k * n)
                BF16.round(x.data, into: &x16, count: x16.count)
                BF16.round(weights.data, into: &w16, count: w16.count)
                let widenedX = Tensor(x16.map(BF16.widen), shape: [m, k]), widenedW = Tensor(w16.map(BF16.widen), shape: weights.shape)
                let expected = Tensor(zeros: [m, n])
                GEMM.sgemm(transB: transposed, m: m, n: n, k: k, a: widenedX.data, lda: k, b: widenedW.data, ldb: transposed ? k : n,
                           c: expected.data, ldc: n)
                let out = Tensor(zeros: [m, n])
                OneDNNMatmul.run(plan, src: x16, weights: w16, dst: out.data)
                assertClose(out, expected, rtol: 1e-4, "bf16 matmul transposed \(transposed) (\(plan.implementation))")
            } else {
                XCTAssertFalse(OneDNNInfo.hasNativeBF16, "oneDNN reports \(OneDNNInfo.effectiveISA) but refuses a bf16 matmul")
            }
        }
    }

    func testComputeEnvironmentParsesAndRejectsWithClearErrors() throws {
        let defaults = try ComputeEnvironment.parse([:])
        XCTAssertEqual(defaults.gemm, .onednn)
        XCTAssertEqual(defaults.threads, ComputeEnvironment.availableCores())
        let chosen = try ComputeEnvironment.parse(["LORAKIT_GEMM": "OpenBLAS", "LORAKIT_THREADS": "3"])
        XCTAssertEqual(chosen.gemm, .openblas)
        XCTAssertEqual(chosen.threads, 3)
        XCTAssertThrowsError(try ComputeEnvironment.parse(["LORAKIT_GEMM": "mkl"])) { error in
            XCTAssertEqual("\(error)", "LORAKIT_GEMM=mkl is not valid: expected onednn or openblas")
        }
        XCTAssertEqual(defaults.bf16Kernels, .auto)
        XCTAssertEqual(try ComputeEnvironment.parse(["LORAKIT_BF16_GEMM": "Native"]).bf16Kernels, .native)
        XCTAssertThrowsError(try ComputeEnvironment.parse(["LORAKIT_BF16_GEMM": "amx"])) { error in
            XCTAssertEqual("\(error)", "LORAKIT_BF16_GEMM=amx is not valid: expected auto, native, widened")
        }
        for bad in ["0", "two", "-1"] {
            XCTAssertThrowsError(try ComputeEnvironment.parse(["LORAKIT_THREADS": bad])) { error in
                XCTAssertTrue("\(error)".hasPrefix("LORAKIT_THREADS=\(bad) is not valid"), "\(error)")
            }
        }
    }

    /// `auto` takes oneDNN's bf16 kernels only when measured at least 1.1× fp32; `native` and `widened` override it;
    /// other backends and CPUs without bf16 kernels never take them.
    func testBF16KernelChoiceFollowsTheMeasurement() throws {
        XCTAssertTrue(BF16Speed(f32: 300, bf16: 600).bf16IsFaster)
        XCTAssertFalse(BF16Speed(f32: 300, bf16: 320).bf16IsFaster)   // a tie does not pay for rounding x to bf16
        XCTAssertFalse(BF16Speed(f32: 150, bf16: 84).bf16IsFaster)    // family 6 model 207 without AMX
        GEMM.withBackend(.openblas) {
            for choice in BF16KernelChoice.allCases { GEMM.withBF16Kernels(choice) { XCTAssertFalse(GEMM.bf16RunsNatively) } }
        }
        try GEMM.withBackend(.onednn) {
            guard OneDNNInfo.hasNativeBF16 else {
                XCTAssertNil(GEMM.bf16Speed)
                GEMM.withBF16Kernels(.native) { XCTAssertFalse(GEMM.bf16RunsNatively) }
                return
            }
            let speed = try XCTUnwrap(GEMM.bf16Speed)
            XCTAssertGreaterThan(speed.f32, 1)
            XCTAssertGreaterThan(speed.bf16, 1)
            GEMM.withBF16Kernels(.auto) {
                XCTAssertEqual(GEMM.bf16RunsNatively, speed.bf16IsFaster, speed.summary)
                XCTAssertTrue(GEMM.bf16ComputeDescription.contains(speed.summary), GEMM.bf16ComputeDescription)
            }
            GEMM.withBF16Kernels(.native) { XCTAssertTrue(GEMM.bf16RunsNatively) }
            GEMM.withBF16Kernels(.widened) { XCTAssertFalse(GEMM.bf16RunsNatively) }
        }
    }

    private func assertClose(_ a: Tensor, _ b: Tensor, rtol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let scale = max(b.scalars.map(abs).max() ?? 0, 1e-6)
        let worst = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, rtol * scale, "\(what): max |Δ| \(worst) against max |ref| \(scale)", file: file, line: line)
    }
}
