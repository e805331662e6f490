import XCTest
import LoRAKit

/// The real SmolLM2-135M-Instruct GGUF (Q4_1, dequantized to fp32 as transformers does) against
/// Tests/Fixtures/real/smollm2_logits.safetensors from transformers 5.23. Needs scripts/fetch-models.sh.
final class SmolLM2Tests: XCTestCase {
    nonisolated(unsafe) static var model: LoadedModel?

    override class func setUp() { registerBuiltinArchitectures() }

    func loaded() throws -> LoadedModel {
        if let m = Self.model { return m }
        guard (try? ModelReference.resolve("smollm2-135m-instruct")) != nil else {
            throw XCTSkip("SmolLM2 is not in the model cache; run scripts/fetch-models.sh")
        }
        let m = try ModelLoader.load("smollm2-135m-instruct")
        Self.model = m
        return m
    }

    func testLogitsForTheThreePromptsWithin1e3() throws {
        let m = try loaded()
        let ref = try SafetensorsFile(url: LlamaParityTests.fixtures.appendingPathComponent("real/smollm2_logits.safetensors"))
        for i in 0..<3 {
            let ids = try ref.integers("ids.\(i)")
            let logits = GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))) }
            let expected = try ref.floats("logits.\(i)")
            XCTAssertEqual(logits.count, expected.count)
            let worst = zip(logits.scalars, expected).map { abs($0 - $1) }.max()!
            print("SmolLM2 prompt \(i): \(ids.count) tokens, max |Δlogit| = \(worst)")
            XCTAssertLessThan(worst, 2e-4, "prompt \(i)")
        }
    }
}
