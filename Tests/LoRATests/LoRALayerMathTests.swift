import XCTest
import LoRAKit

/// LoRALinear's forward against the formulas of PEFT's lora.Linear / DoraLinearLayer, evaluated here in Double on
/// small hand-chosen matrices. Tolerance 1e-5 absolute (fp32 forward vs Double reference on values of order 10).
final class LoRALayerMathTests: XCTestCase {
    typealias Matrix = [[Double]]

    func matvec(_ m: Matrix, _ v: [Double]) -> [Double] {
        var out: [Double] = []
        for row in m {
            var acc: Double = 0
            for (p, q) in zip(row, v) { acc += p * q }
            out.append(acc)
        }
        return out
    }
    /// A row-major tensor as a matrix of Doubles.
    func matrix(_ t: Tensor) -> Matrix {
        let (r, c) = (t.shape[0], t.shape[1])
        let v: [Float] = t.scalars
        return (0..<r).map { (i: Int) -> [Double] in (0..<c).map { (j: Int) -> Double in Double(v[i * c + j]) } }
    }
    /// W + s·B·A.
    func adapted(_ w: Matrix, _ a: Matrix, _ b: Matrix, _ s: Double) -> Matrix {
        var out = w
        for i in 0..<w.count { for j in 0..<w[0].count { for k in 0..<a.count { out[i][j] += s * b[i][k] * a[k][j] } } }
        return out
    }
    func rowNorms(_ m: Matrix) -> [Double] {
        m.map { (row: [Double]) -> Double in
            var acc: Double = 0
            for v in row { acc += v * v }
            return acc.squareRoot()
        }
    }
    func sumOfSquares(_ v: [Double]) -> Double {
        var acc: Double = 0
        for x in v { acc += x * x }
        return acc
    }
    func doubles(_ t: Tensor) -> [Double] { t.scalars.map { (v: Float) -> Double in Double(v) } }
    func tensor(_ m: Matrix) -> Tensor { Tensor(m.flatMap { $0.map(Float.init) }, shape: [m.count, m[0].count]) }
    func assertClose(_ a: [Float], _ b: [Double], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(Double(x), y, accuracy: 1e-5, message, file: file, line: line) }
    }

    let w: Matrix = [[1, 0, 2], [0, 1, -1]]        // (out 2, in 3)
    let bias: [Double] = [0.5, -0.25]
    let a: Matrix = [[1, 1, 0], [0, 2, 1]]         // (r 2, in 3)
    let b: Matrix = [[1, 0], [2, -1]]              // (out 2, r 2)
    let x: [Double] = [1, 2, 3]
    let scale = 1.5

    func layer(dora: Bool, rank: Int = 2) throws -> LoRALinear {
        let base = Linear(inFeatures: 3, outFeatures: 2, bias: true)
        try base.setParameter(at: "weight", tensor(w))
        try base.setParameter(at: "bias", Tensor(bias.map(Float.init), shape: [2]))
        let l = LoRALinear(wrapping: base)
        var g = SeededGenerator(seed: 1)
        try l.addAdapter("default", rank: rank, scaling: scale, dropout: 0, useDoRA: dora, initialization: .kaiming, generator: &g)
        try l.loraA("default").setParameter(at: "weight", tensor(a))
        try l.loraB("default").setParameter(at: "weight", tensor(b))
        return l
    }


    func testLoRAForwardIsBasePlusScaledBA() throws {
        let l = try layer(dora: false)
        let ba = matvec(b, matvec(a, x))
        let expected = zip(matvec(w, x), bias).enumerated().map { $0.element.0 + $0.element.1 + scale * ba[$0.offset] }
        assertClose(l(Tensor(x.map(Float.init), shape: [1, 3])).scalars, expected, "y = Wx + b + s·BAx")
    }

    func testDoRAForwardAsPEFT() throws {
        let l = try layer(dora: true)
        // PEFT initialises the magnitude to ‖W + s·BA‖ per output row (its value at the zero-B init it is built with
        // would be ‖W‖; here B was set after adding, so read it back and set a magnitude of our own).
        let m: [Double] = [2.0, 0.75]
        try l.child("lora_magnitude_vector")!.child("default")!.setParameter(at: "weight", Tensor(m.map(Float.init), shape: [2]))
        let norms = rowNorms(adapted(w, a, b, scale))
        let baseNoBias = matvec(w, x), lora = matvec(b, matvec(a, x))
        // result = base(x) + (m/‖·‖ − 1)·(base(x) − bias) + m/‖·‖·s·B·A·x
        let expected = (0..<2).map { i -> Double in
            let f = m[i] / norms[i]
            return baseNoBias[i] + bias[i] + (f - 1) * baseNoBias[i] + f * scale * lora[i]
        }
        assertClose(l(Tensor(x.map(Float.init), shape: [1, 3])).scalars, expected, "DoRA forward")
    }

    func testDoRAMagnitudeStartsAsTheRowNormsOfTheAdaptedWeight() throws {
        let base = Linear(inFeatures: 3, outFeatures: 2, bias: false)
        try base.setParameter(at: "weight", tensor(w))
        let l = LoRALinear(wrapping: base)
        var g = SeededGenerator(seed: 2)
        try l.addAdapter("d", rank: 2, scaling: scale, dropout: 0, useDoRA: true, initialization: .random, generator: &g)
        let full = adapted(w, matrix(l.loraA("d").weight), matrix(l.loraB("d").weight), scale)
        assertClose(l.magnitude("d")!.scalars, rowNorms(full), "update_layer: weight = ‖W + s·BA‖ per row")
        // With that magnitude the DoRA layer equals plain LoRA: m/‖·‖ = 1.
        let y = l(Tensor(x.map(Float.init), shape: [1, 3])).scalars
        assertClose(y, matvec(full, x), "DoRA at its initial magnitude")
    }

    /// PEFT's DoRA with active dropout recomputes the base term from the dropped-out input (variants.py:
    /// base_result = None → F.linear(dropout(x), W)); without dropout it reuses base(x) − bias.
    func testDoRADropoutInTrainingUsesTheDroppedInputForTheBaseTerm() throws {
        let base = Linear(inFeatures: 3, outFeatures: 2, bias: true)
        try base.setParameter(at: "weight", tensor(w))
        try base.setParameter(at: "bias", Tensor(bias.map(Float.init), shape: [2]))
        let l = LoRALinear(wrapping: base)
        var g = SeededGenerator(seed: 3)
        try l.addAdapter("default", rank: 2, scaling: scale, dropout: 0.5, useDoRA: true, initialization: .random, generator: &g)
        let m = l.magnitude("default")!.scalars.map { Double($0) * 1.3 }
        try l.child("lora_magnitude_vector")!.child("default")!.setParameter(at: "weight", Tensor(m.map(Float.init), shape: [2]))
        let xs: [Double] = (0..<12).map { Double($0 % 5) - 1.5 }  // 4 rows so some entries drop
        let input = Tensor(xs.map(Float.init), shape: [4, 3])
        l.setTraining(true)
        l.generator = SeededGenerator(seed: 77)
        let y = l(input).scalars
        var replay = SeededGenerator(seed: 77)
        let dropped = doubles(input.dropout(0.5, generator: &replay))
        let (aw, bw) = (matrix(l.loraA("default").weight), matrix(l.loraB("default").weight))
        let norms = rowNorms(adapted(w, aw, bw, scale))
        var expected: [Double] = []
        for row in 0..<4 {
            let xr = Array(xs[row * 3..<row * 3 + 3]), dr = Array(dropped[row * 3..<row * 3 + 3])
            let baseOut = matvec(w, xr), baseDropped = matvec(w, dr)
            let lora = matvec(bw, matvec(aw, dr))
            for i in 0..<2 {
                let f: Double = m[i] / norms[i]
                let plain: Double = baseOut[i] + bias[i]
                let dora: Double = (f - 1) * baseDropped[i] + f * scale * lora[i]
                expected.append(plain + dora)
            }
        }
        XCTAssertTrue(zip(dropped, xs).contains { $0.0 == 0 && $0.1 != 0 }, "the mask must drop something for this test to mean anything")
        assertClose(y, expected, "DoRA with dropout in training mode")
        l.setTraining(false)
    }

    /// PEFT: y = base(x) + s·B·A·dropout(x), the dropout active in training mode only (the base sees x itself).
    func testLoRADropoutOnlyInTrainingAndOnlyOnTheAdapterPath() throws {
        let base = Linear(inFeatures: 3, outFeatures: 2, bias: false)
        try base.setParameter(at: "weight", tensor(w))
        let l = LoRALinear(wrapping: base)
        var g = SeededGenerator(seed: 6)
        try l.addAdapter("default", rank: 2, scaling: scale, dropout: 0.5, useDoRA: false, initialization: .random, generator: &g)
        let xs: [Double] = (0..<12).map { Double($0 % 7) - 2.5 }
        let input = Tensor(xs.map(Float.init), shape: [4, 3])
        let delta = matrix(l.delta("default"))
        func expected(_ adapterInput: [Double]) -> [Double] {
            var out: [Double] = []
            for row in 0..<4 {
                let xr = Array(xs[row * 3..<row * 3 + 3]), ar = Array(adapterInput[row * 3..<row * 3 + 3])
                out += zip(matvec(w, xr), matvec(delta, ar)).map { (p: (Double, Double)) -> Double in p.0 + p.1 }
            }
            return out
        }
        assertClose(l(input).scalars, expected(xs), "eval mode: no dropout")
        l.setTraining(true)
        l.generator = SeededGenerator(seed: 8)
        var replay = SeededGenerator(seed: 8)
        let dropped = doubles(input.dropout(0.5, generator: &replay))
        assertClose(l(input).scalars, expected(dropped), "training mode: dropout on the adapter's input only")
        l.setTraining(false)
    }

    func testSeveralActiveAdaptersAddUpAndDisablingRestoresTheBase() throws {
        let l = try layer(dora: false)
        var g = SeededGenerator(seed: 4)
        try l.addAdapter("second", rank: 1, scaling: 0.5, dropout: 0, useDoRA: false, initialization: .random, generator: &g)
        let input = Tensor(x.map(Float.init), shape: [1, 3])
        let baseOnly = doubles(l.base(input))
        let d1 = matvec(matrix(l.delta("default")), x), d2 = matvec(matrix(l.delta("second")), x)
        l.activeAdapters = ["default", "second"]
        let expected = (0..<2).map { (i: Int) -> Double in baseOnly[i] + d1[i] + d2[i] }
        assertClose(l(input).scalars, expected, "two active adapters")
        l.disabled = true
        assertClose(l(input).scalars, baseOnly, "disabled")
        l.disabled = false
        l.activeAdapters = ["second"]
        l.deleteAdapter("default")
        XCTAssertNil(l.child("lora_A")!.child("default"))
        XCTAssertEqual(l.adapters.keys.sorted(), ["second"])
    }

    func testFanInFanOutConv1DBase() throws {
        // GPT-2's Conv1D stores W as (in, out): y = x·W + b. The adapter delta is stored transposed to match.
        let conv = Conv1D(inFeatures: 3, outFeatures: 2)
        let wT: Matrix = (0..<3).map { j in (0..<2).map { i in w[i][j] } }
        try conv.setParameter(at: "weight", tensor(wT))
        try conv.setParameter(at: "bias", Tensor(bias.map(Float.init), shape: [2]))
        let l = LoRALinear(wrapping: conv)
        XCTAssertTrue(l.fanInFanOut)
        var g = SeededGenerator(seed: 1)
        try l.addAdapter("default", rank: 2, scaling: scale, dropout: 0, useDoRA: false, initialization: .kaiming, generator: &g)
        try l.loraA("default").setParameter(at: "weight", tensor(a))
        try l.loraB("default").setParameter(at: "weight", tensor(b))
        XCTAssertEqual(l.delta("default").shape, [3, 2])
        let full = adapted(w, a, b, scale)
        let expected = zip(matvec(full, x), bias).map { (p: (Double, Double)) -> Double in p.0 + p.1 }
        assertClose(l(Tensor(x.map(Float.init), shape: [1, 3])).scalars, expected, "Conv1D + LoRA")
        try l.merge("default")
        assertClose(l(Tensor(x.map(Float.init), shape: [1, 3])).scalars, expected, "Conv1D merged")
    }

    func testInitialisations() throws {
        let base = Linear(inFeatures: 64, outFeatures: 8, bias: false)
        var g = SeededGenerator(seed: 9)
        try base.setParameter(at: "weight", .normal([8, 64], std: 1, generator: &g))
        let l = LoRALinear(wrapping: base)
        try l.addAdapter("k", rank: 4, scaling: 2, dropout: 0, useDoRA: false, initialization: .kaiming, generator: &g)
        try l.addAdapter("g", rank: 4, scaling: 2, dropout: 0, useDoRA: false, initialization: .gaussian, generator: &g)
        // kaiming_uniform(a=√5) on (4, 64): U(−1/√64, 1/√64) = U(−0.125, 0.125); B = 0.
        let ka = l.loraA("k").weight.scalars
        XCTAssertLessThanOrEqual(ka.map(abs).max()!, 0.125)
        XCTAssertGreaterThan(ka.map(abs).max()!, 0.1, "256 draws reach near the bound")
        XCTAssertEqual(l.loraB("k").weight.scalars.map(abs).max(), 0)
        // gaussian: N(0, 1/r) → std 0.25 over 256 draws (±20%).
        let ga = doubles(l.loraA("g").weight)
        let std = (sumOfSquares(ga) / Double(ga.count)).squareRoot()
        XCTAssertEqual(std, 0.25, accuracy: 0.05)
        XCTAssertEqual(l.loraB("g").weight.scalars.map(abs).max(), 0)
    }

    func testPiSSAKeepsTheOutputAndMovesThePrincipalComponentsIntoTheAdapter() throws {
        let base = Linear(inFeatures: 6, outFeatures: 5, bias: false)
        var g = SeededGenerator(seed: 10)
        let original = Tensor.normal([5, 6], std: 1, generator: &g)
        try base.setParameter(at: "weight", original.copy())
        let l = LoRALinear(wrapping: base)
        try l.addAdapter("p", rank: 2, scaling: 0.5, dropout: 0, useDoRA: false, initialization: .pissa, generator: &g)
        // W_res + s·BA = W (the layer computes the same function at step 0).
        let rebuilt = l.base.parameter("weight")!.scalars.enumerated().map { $0.element + l.delta("p").scalars[$0.offset] }
        for (u, v) in zip(rebuilt, original.scalars) { XCTAssertEqual(u, v, accuracy: 1e-5) }
        // The residual holds the trailing singular values only: ‖W_res‖²_F = Σ_{i>r} σᵢ², ‖s·BA‖²_F = σ₁² + σ₂².
        let sigma = doubles(original.svd().s)
        let res = sumOfSquares(doubles(l.base.parameter("weight")!)), top = sumOfSquares(doubles(l.delta("p")))
        XCTAssertEqual(res, sumOfSquares(Array(sigma.dropFirst(2))), accuracy: 1e-3)
        XCTAssertEqual(top, sumOfSquares(Array(sigma.prefix(2))), accuracy: 1e-3)
    }
}
