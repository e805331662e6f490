import XCTest
import LoRAKit

/// The library API (`LoRATrainer`, `trainLoRA`) on the tiny random Llama of the parity fixtures.
final class LoRATrainerTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// `.auto` resolves the learning rate by the documented rule (2e-4 · 2 / (alpha/r) → 1e-4 for alpha = 4r) and
    /// the batch size by trial steps (at least 1, at most 16); the result saves as a PEFT adapter that loads back
    /// strictly into a fresh model and reproduces its logits (tolerance 1e-6: the same float32 arithmetic).
    func testAutoSettingsAndPEFTRoundTrip() throws {
        let model = try ModelLoader.load(Self.fixtures.appendingPathComponent("parity/llama/model").path)
        let tokenizer = try TokenizerLoader.load(tokenizerJSON: Self.fixtures.appendingPathComponent("training/tiny-llama/tokenizer.json"))
        let trainer = try LoRATrainer(model: model, tokenizer: tokenizer, rank: 4, alpha: 16, targetModules: ["q_proj", "v_proj"], dropout: 0)
        trainer.format = .alpaca
        trainer.maxSeqLength = 32
        trainer.reporter = ProgressReporter(mode: .quiet)
        trainer.memoryBudgetGB = 1
        let adapter = try trainer.train(dataset: .jsonl(Self.fixtures.appendingPathComponent("training/tiny-llama/sums.jsonl"), type: .completion,
                                                        filter: "ok == true", validationSplit: 0.25), steps: 4)
        XCTAssertEqual(adapter.configuration.learningRate, 1e-4, accuracy: 1e-12)
        XCTAssert((1...16).contains(adapter.configuration.batchSize))
        XCTAssertEqual(adapter.summary.steps, 4)
        XCTAssertNotNil(adapter.summary.finalEval)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try adapter.save(to: dir)
        let ids = IntTensor(tokenizer.encode("3+4=", addSpecialTokens: false).map(Int32.init), shape: [1, 4])
        model.model.setTraining(false)
        let trained = GradMode.withoutGrad { model.model.forward(ModelInput(inputIDs: ids)) }
        let fresh = try ModelLoader.load(Self.fixtures.appendingPathComponent("parity/llama/model").path)
        try fresh.applyAdapter(dir.path)
        let reloaded = GradMode.withoutGrad { fresh.model.forward(ModelInput(inputIDs: ids)) }
        XCTAssertEqual(trained.shape, reloaded.shape)
        for i in 0..<trained.count { XCTAssertEqual(trained.data[i], reloaded.data[i], accuracy: 1e-6) }
    }
}
