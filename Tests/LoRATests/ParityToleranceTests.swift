import XCTest
import LoRAKit

/// Issue 12: parity used to compare max|Δ| with the tensor's max|ref|, so a small element could be wrong by 100%
/// next to a large one. Every element is now held to atol + rtol·|its reference|.
final class ParityToleranceTests: XCTestCase {
    func testSmallElementsAreNotHiddenByLargeOnes() {
        let reference: [Float] = [1000, 0.001]
        let ours: [Float] = [1000, 0.002]  // the second element is 100% off; max|Δ|/max|ref| is only 1e-6
        let (maxAbs, worst) = ParityCheck.weightTolerance.compare(ours, reference)
        XCTAssertEqual(maxAbs, 0.001, accuracy: 1e-9)
        XCTAssertGreaterThan(worst, 1, "1e-3 > 1e-6 + 1e-3·1e-3 must fail")
        XCTAssertLessThanOrEqual(ParityCheck.weightTolerance.compare([1000.5, 0.001], reference).worst, 1,
                                 "5e-4 ≤ 1e-6 + 1e-3·1000 passes")
    }

    func testNaNLengthMismatchAndExactMatches() {
        let t = ParityCheck.outputTolerance
        XCTAssertEqual(t.compare([.nan], [1]).worst, .infinity)
        XCTAssertEqual(t.compare([1, 2], [1]).worst, .infinity)
        XCTAssertEqual(t.compare([.infinity, 0], [.infinity, 0]).worst, 0)
        XCTAssertEqual(t.compare([1 + 9e-5], [1]).worst, 0.9, accuracy: 0.01)
        XCTAssertEqual(ParityCheck.tolerance(for: "grad.base_model.model.x.lora_A.weight"), ParityCheck.weightTolerance)
        XCTAssertEqual(ParityCheck.tolerance(for: "merged.model.x.weight"), ParityCheck.weightTolerance)
        XCTAssertEqual(ParityCheck.tolerance(for: "logits_adapter"), ParityCheck.outputTolerance)
    }
}
