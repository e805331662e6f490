import XCTest
import LoRAKit

/// The PEFT adapter that make_real_refs.py wrote on SmolLM2 (r 8, all seven projections, random B), loaded by
/// LoRAKit: logits within 2e-4 of PEFT's (Tests/Fixtures/real/smollm2_adapter_logits.safetensors); the worst measured
/// is 1.0e-4, from 30 layers of fp32 accumulation-order differences.
final class SmolLM2AdapterTests: XCTestCase {
    static let real = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/real")

    override class func setUp() { registerBuiltinArchitectures() }

    func testPEFTAdapterLogits() throws {
        guard (try? ModelReference.resolve("smollm2-135m-instruct")) != nil else {
            throw XCTSkip("SmolLM2 is not in the model cache; run scripts/fetch-models.sh")
        }
        let m = try ModelLoader.load("smollm2-135m-instruct")
        let lora = try LoRAModel.load(from: Self.real.appendingPathComponent("smollm2_adapter"), into: m.model, plugin: m.plugin)
        XCTAssertEqual(lora.loraLayers.count, 30 * 7)
        let ids = try SafetensorsFile(url: Self.real.appendingPathComponent("smollm2_logits.safetensors"))
        let ref = try SafetensorsFile(url: Self.real.appendingPathComponent("smollm2_adapter_logits.safetensors"))
        for i in 0..<3 {
            let tokens = try ids.integers("ids.\(i)")
            let logits = GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor(tokens, shape: [1, tokens.count]))) }
            let worst = zip(logits.scalars, try ref.floats("logits.\(i)")).map { abs($0 - $1) }.max()!
            print("SmolLM2 + PEFT adapter, prompt \(i): max |Δlogit| = \(worst)")
            XCTAssertLessThan(worst, 2e-4, "prompt \(i)")
        }
        // The same adapter merged into the weights gives the same logits (merge_and_unload).
        let tokens = try ids.integers("ids.0")
        try lora.mergeAndUnload()
        XCTAssertTrue(lora.loraLayers.isEmpty)
        let merged = GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor(tokens, shape: [1, tokens.count]))) }
        let worst = zip(merged.scalars, try ref.floats("logits.0")).map { abs($0 - $1) }.max()!
        print("SmolLM2 merged adapter: max |Δlogit| = \(worst)")
        XCTAssertLessThan(worst, 2e-4)
    }
}
