import XCTest
import Foundation
import TensorCore
import CVectorKernels

/// The vectorized exp against Foundation's expf: relative error within 4 ulp (≈ 5e-7) over the range softmax uses.
final class VectorMathTests: XCTestCase {
    func testExpMatchesExpfAcrossTheRange() {
        let xs: [Float] = stride(from: -90, through: 88, by: 0.0137).map { Float($0) } + [-.infinity, 0, -0.0, 1e-8]
        var ys = [Float](repeating: 0, count: xs.count)
        let sum = xs.withUnsafeBufferPointer { x in ys.withUnsafeMutableBufferPointer { y in
            VectorMath.expShifted(x.baseAddress!, shift: 0, into: y.baseAddress!, count: xs.count)
        } }
        var worst: Float = 0
        var reference: Double = 0
        for (x, y) in zip(xs, ys) {
            let e = expf(x)
            reference += Double(e)
            if e < 1e-37 { XCTAssertLessThan(y, 1e-37, "exp(\(x))"); continue }
            worst = max(worst, abs(y - e) / e)
        }
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertTrue(sum.isInfinite && reference > Double(Float.greatestFiniteMagnitude), "the Float sum overflows like the reference")
    }

    func testSumOfShiftedExpsMatchesDoubleReference() {
        let xs: [Float] = (0..<1000).map { Float($0 % 37) * 0.41 - 9 }
        let sum = xs.withUnsafeBufferPointer { VectorMath.sumExpShifted($0.baseAddress!, shift: 2, count: xs.count) }
        let reference = xs.reduce(0.0) { $0 + Foundation.exp(Double($1) - 2) }
        XCTAssertEqual(Double(sum), reference, accuracy: reference * 1e-5)
    }
}

/// CVectorKernels at every level this CPU runs: each kernel against a Double reference, and every level's output
/// bit for bit equal to the baseline's, over lengths that leave every tail size (0…15 lanes) and a long row.
final class VectorKernelLevelTests: XCTestCase {
    override func tearDown() { lk_vec_set_level(lk_vec_best_level()) }

    private let lengths = Array(0...40) + [257, 1000]

    private func inputs(_ n: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in Float.random(in: -9...9, using: &g) }
    }

    /// Every kernel's outputs for length n, flattened, at the current level.
    private func outputs(_ n: Int) -> [Float] {
        let x = inputs(n, seed: 1), u = inputs(n, seed: 2), g = inputs(n, seed: 3)
        var out: [Float] = []
        var y = [Float](repeating: 0, count: n), y2 = [Float](repeating: 0, count: n)
        out.append(VectorMath.expShifted(x, shift: 1.5, into: &y, count: n)); out += y
        out.append(VectorMath.sumExpShifted(x, shift: -2, count: n))
        out.append(VectorMath.maximum(x, count: n))
        out.append(VectorMath.dot(x, g, count: n))
        VectorMath.gelu(x, into: &y, count: n); out += y
        VectorMath.geluBackward(x, g, into: &y, count: n); out += y
        VectorMath.swiglu(x, u, into: &y, count: n); out += y
        VectorMath.swigluBackward(x, u, g, dGate: &y, dUp: &y2, count: n); out += y + y2
        var p = x
        out.append(VectorMath.softmaxInPlace(&p, count: n)); out += p
        var dp = g
        VectorMath.softmaxBackwardInPlace(p, &dp, dot: 0.25, count: n); out += dp
        if n > 0 {  // the norms' rows (weights u, bias g)
            out.append(lk_vec_rms_norm(x, u, &y, Int64(n), 1e-5)); out += y
            lk_vec_rms_norm_backward(x, u, g, 0.7, &y, Int64(n)); out += y
            out.append(lk_vec_layer_norm(x, u, g, &y2, &y, Int64(n), 1e-12)); out += y + y2
            out.append(lk_vec_layer_norm(x, u, nil, &y2, &y, Int64(n), 1e-12)); out += y
            lk_vec_layer_norm_backward(g, u, x, 0.3, &y, Int64(n)); out += y
        }
        return out
    }

    func testKernelsMatchDoubleReferences() {
        for n in lengths {
            let x = inputs(n, seed: 1).map(Double.init), u = inputs(n, seed: 2).map(Double.init), g = inputs(n, seed: 3).map(Double.init)
            let xf = x.map(Float.init), uf = u.map(Float.init), gf = g.map(Float.init)
            var y = [Float](repeating: .nan, count: n), y2 = [Float](repeating: .nan, count: n)
            func close(_ got: [Float], _ want: [Double], _ what: String, tolerance: Double = 2e-6) {
                for i in 0..<n { XCTAssertEqual(Double(got[i]), want[i], accuracy: tolerance * max(1, abs(want[i])), "\(what)[\(i)] of \(n)") }
            }
            let phi = { (v: Double) in 0.5 * (1 + Foundation.erf(v / 2.0.squareRoot())) }
            let sigma = { (v: Double) in 1 / (1 + Foundation.exp(-v)) }
            VectorMath.gelu(xf, into: &y, count: n)
            close(y, x.map { $0 * phi($0) }, "gelu")
            VectorMath.geluBackward(xf, gf, into: &y, count: n)
            close(y, (0..<n).map { g[$0] * (phi(x[$0]) + x[$0] * Foundation.exp(-x[$0] * x[$0] / 2) / (2 * Double.pi).squareRoot()) }, "gelu backward")
            VectorMath.swiglu(xf, uf, into: &y, count: n)
            close(y, (0..<n).map { x[$0] * sigma(x[$0]) * u[$0] }, "swiglu")
            VectorMath.swigluBackward(xf, uf, gf, dGate: &y, dUp: &y2, count: n)
            close(y, (0..<n).map { let s = sigma(x[$0]); return g[$0] * u[$0] * s * (1 + x[$0] * (1 - s)) }, "swiglu dGate")
            close(y2, (0..<n).map { g[$0] * x[$0] * sigma(x[$0]) }, "swiglu dUp")
            var p = xf
            let lse = VectorMath.softmaxInPlace(&p, count: n)
            let m = x.max() ?? -.infinity
            let reference = m + Foundation.log(x.reduce(0) { $0 + Foundation.exp($1 - m) })
            if n > 0 { XCTAssertEqual(Double(lse), reference, accuracy: 1e-5) } else { XCTAssertEqual(lse, -.infinity) }
            close(p, x.map { Foundation.exp($0 - reference) }, "softmax")
            XCTAssertEqual(VectorMath.maximum(xf, count: n), xf.max() ?? -.infinity)
            let dotReference = (0..<n).reduce(0.0) { $0 + x[$1] * g[$1] }
            XCTAssertEqual(Double(VectorMath.dot(xf, gf, count: n)), dotReference, accuracy: 1e-5 * max(1, (0..<n).reduce(0.0) { $0 + abs(x[$1] * g[$1]) }))
            guard n > 0 else { continue }
            // The norms' rows: RMSNorm with weights u, LayerNorm with weights u and bias g, and their backwards.
            let inv = lk_vec_rms_norm(xf, uf, &y, Int64(n), 1e-5)
            let rms = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(n) + 1e-5).squareRoot()
            XCTAssertEqual(Double(inv), rms, accuracy: rms * 1e-6)
            close(y, (0..<n).map { u[$0] * x[$0] * rms }, "rms_norm")
            let dot = (0..<n).reduce(0.0) { $0 + g[$1] * u[$1] * x[$1] }
            lk_vec_rms_norm_backward(xf, uf, gf, Float(rms), &y, Int64(n))
            close(y, (0..<n).map { g[$0] * u[$0] * rms - x[$0] * dot * rms * rms * rms / Double(n) }, "rms_norm backward", tolerance: 1e-5)
            let mean = x.reduce(0, +) / Double(n)
            let lnInv = 1 / (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n) + 1e-12).squareRoot()
            let xhat = x.map { ($0 - mean) * lnInv }
            XCTAssertEqual(Double(lk_vec_layer_norm(xf, uf, gf, &y2, &y, Int64(n), 1e-12)), lnInv, accuracy: lnInv * 1e-5)
            close(y2, xhat, "layer_norm xhat", tolerance: 1e-5)
            close(y, (0..<n).map { xhat[$0] * u[$0] + g[$0] }, "layer_norm", tolerance: 1e-5)
            let gw = (0..<n).map { g[$0] * u[$0] }
            let (mg, mgh) = (gw.reduce(0, +) / Double(n), (0..<n).reduce(0.0) { $0 + gw[$1] * xhat[$1] } / Double(n))
            lk_vec_layer_norm_backward(gf, uf, xhat.map(Float.init), Float(lnInv), &y, Int64(n))
            close(y, (0..<n).map { lnInv * (gw[$0] - mg - xhat[$0] * mgh) }, "layer_norm backward", tolerance: 1e-5)
        }
    }

    func testMaskedRowsAndNaNs() {
        var row: [Float] = Array(repeating: -.infinity, count: 19)
        XCTAssertEqual(VectorMath.softmaxInPlace(&row, count: 19), -.infinity)
        XCTAssertEqual(row, Array(repeating: 0, count: 19), "a fully masked row attends to nothing")
        row = Array(repeating: -.infinity, count: 19)
        row[3] = 2
        XCTAssertEqual(VectorMath.softmaxInPlace(&row, count: 19), 2)
        XCTAssertEqual(row[3], 1)
        let withNaN: [Float] = [1, .nan, 5, -3] + Array(repeating: 0, count: 17)
        XCTAssertEqual(VectorMath.maximum(withNaN, count: withNaN.count), 5, "NaNs are skipped by the maximum")
    }

    func testEveryLevelGivesTheBaselineBits() {
        XCTAssertEqual(lk_vec_set_level(Int32(LK_VEC_BASELINE)), Int32(LK_VEC_BASELINE))
        let baseline = lengths.map(outputs)
        for level in Int32(LK_VEC_BASELINE + 1)...lk_vec_best_level() {
            XCTAssertEqual(lk_vec_set_level(level), level)
            for (n, expected) in zip(lengths, baseline) {
                let got = outputs(n)
                let differing = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "level \(level), length \(n): \(differing) values differ from the baseline's")
            }
        }
    }
}
