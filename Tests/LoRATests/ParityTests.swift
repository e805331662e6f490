import XCTest
import LoRAKit

/// `lorakit parity` on the shipped cases: every key of expected.safetensors (transformers 5.23 + PEFT 0.21) within
/// the project's element-wise tolerances (logits/loss |Δ| ≤ 1e-4; gradients/merged weights |Δ| ≤ 1e-6 + 1e-3·|ref|; see
/// ParityCheck.tolerance(for:)).
final class ParityTests: XCTestCase {
    static let parity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity")

    override class func setUp() { registerBuiltinArchitectures() }

    func check(_ name: String) throws {
        let report = try ParityCheck.run(caseDirectory: Self.parity.appendingPathComponent(name))
        XCTAssertTrue(report.passed, "\(name):\n\(report.text)")
        XCTAssertGreaterThan(report.rows.count, 4)
    }

    func testLlama() throws { try check("llama") }
    func testLlamaTiedRSLoRAWithRankAndAlphaPatterns() throws { try check("llama-tied-rslora") }
    func testLlamaDoRA() throws { try check("llama-dora") }
    func testLlamaClassificationWithScoreInModulesToSave() throws { try check("llama-classification") }
    func testGPT2FanInFanOutWithLoRAOnlyBiases() throws { try check("gpt2") }
    func testBERTClassification() throws { try check("bert-classification") }
    func testFalcon7BMultiQuery() throws { try check("falcon-7b-style") }
    func testFalcon40BGroupedKV() throws { try check("falcon-40b-style") }
}
