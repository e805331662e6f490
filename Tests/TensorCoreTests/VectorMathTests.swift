import XCTest
import Foundation
import TensorCore

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
