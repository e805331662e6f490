import XCTest
import LoRAKit

/// End-to-end recipe runs on the tiny random Llama of the parity fixtures (Tests/Fixtures/parity/llama/model) with
/// the byte-level tokenizer and sums dataset in Tests/Fixtures/training/tiny-llama.
final class RecipeRunTests: XCTestCase {
    static let recipeURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/training/tiny-llama/recipe.yaml")

    override class func setUp() { registerBuiltinArchitectures() }

    func run(_ out: URL, _ overrides: [String] = []) throws -> RecipeRun {
        let recipe = try Recipe.load(Self.recipeURL, overrides: ["save.output_dir=\(out.path)"] + overrides)
        return try RecipeRun(recipe: recipe, reporter: ProgressReporter(mode: .quiet))
    }

    func temporary(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-\(name)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// 10 updates + resume + 10 updates writes the same adapter and optimizer bytes as 20 uninterrupted updates:
    /// LoRA dropout (p = 0.1) streams, packed data order, AdamW moments and the cosine schedule all continue exactly.
    func testResumeGivesTheSameAdapterBytes() throws {
        let (full, split) = (temporary("full"), temporary("split"))
        defer { try? FileManager.default.removeItem(at: full); try? FileManager.default.removeItem(at: split) }
        try run(full).train()
        let first = try run(split).train(stoppingAt: 10)
        XCTAssertEqual(first.steps, 10)
        XCTAssertNil(FileManager.default.contents(atPath: split.appendingPathComponent("checkpoint-20").path))
        let second = try run(split)
        try second.train(resume: try second.checkpointToResume(nil))
        for file in ["adapter_model.safetensors", "optimizer.safetensors", "adapter_config.json"] {
            let a = try Data(contentsOf: full.appendingPathComponent("checkpoint-20/\(file)"))
            let b = try Data(contentsOf: split.appendingPathComponent("checkpoint-20/\(file)"))
            XCTAssertEqual(a, b, file)
        }
        // The adapter changed: lora_B starts at zero (PEFT's init) and must not be zero after training.
        let adapter = try SafetensorsFile(url: full.appendingPathComponent("checkpoint-20/adapter_model.safetensors"))
        let b = try adapter.floats("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
        XCTAssertGreaterThan(b.map(abs).max() ?? 0, 1e-4)
        XCTAssertTrue(FileManager.default.fileExists(atPath: full.appendingPathComponent("checkpoint-20/recipe.yaml").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: full.appendingPathComponent("loss.svg").path))
        // metrics.jsonl of the resumed run keeps the lines written before the interruption: the same steps as the
        // uninterrupted run's (tokens/s differ, so only the step sequence is compared).
        func steps(_ dir: URL) throws -> [Int] {
            try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
                .map { try JSONDecoder().decode(MetricsRecord.self, from: Data($0.utf8)).step }
        }
        XCTAssertEqual(try steps(split), try steps(full))
        XCTAssertEqual(try steps(full).first, 0)
    }

    /// The saved checkpoint is a PEFT adapter: it loads strictly into a fresh model, and `evaluate(adapter:)` gives
    /// the eval loss the trainer logged at the end (same examples and batches; tolerance 1e-5 relative).
    func testCheckpointIsAPEFTAdapterThatEvaluatesAsLogged() throws {
        let out = temporary("eval")
        defer { try? FileManager.default.removeItem(at: out) }
        let summary = try run(out, ["training.max_steps=6", "save.save_every=3"]).train()
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("checkpoint-6/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["r"] as? Int, 4)
        XCTAssertEqual(config["peft_type"] as? String, "LORA")
        XCTAssertEqual(Set(config["target_modules"] as? [String] ?? []), ["q_proj", "v_proj", "o_proj"])
        // The template and special tokens of the run are recorded beside the adapter for `lorakit export`.
        let tokens = try XCTUnwrap(try AdapterTokens.read(from: out.appendingPathComponent("checkpoint-6")))
        XCTAssertEqual(tokens.template, "alpaca")
        XCTAssertEqual(tokens.chatTemplate, BuiltinTemplate.alpaca.source)
        // The byte-level test tokenizer has neither pad nor EOS, so batches were padded with id 0.
        XCTAssertNil(tokens.eosToken)
        XCTAssertEqual(tokens.padToken?.id, 0)
        let logged = try XCTUnwrap(summary.finalEval?.loss)
        let (result, split) = try run(out).evaluate(adapter: out.appendingPathComponent("checkpoint-6"))
        XCTAssertEqual(split, "validation")
        XCTAssertEqual(result.loss, logged, accuracy: 1e-5 * logged)
        let base = try run(out).evaluate().result.loss
        XCTAssertNotEqual(base, logged, "the adapter must change the model's loss")
    }

    /// The `lora` section decodes into the LoRA layer's PEFT config; a bad value names the recipe's line and
    /// column, a bad `--set` value names the override.
    func testLoRASectionDecodesIntoPEFTConfig() throws {
        let text = "model: m\ndatasets:\n  - {path: d.jsonl, type: text}\nlora:\n  r: 4\n  lora_alpha: 16\n  target_modules: all-linear\n  use_rslora: true\n"
        let r = try Recipe.parse(text, file: URL(fileURLWithPath: "/tmp/r.yaml"))
        XCTAssertEqual(r.loraConfig.r, 4)
        XCTAssertEqual(r.loraConfig.targetModules, .allLinear)
        XCTAssertEqual(r.loraConfig.scaling(for: "q_proj"), 8, accuracy: 1e-12)  // rsLoRA: 16 / √4
        XCTAssertThrowsError(try Recipe.parse(text.replacingOccurrences(of: "r: 4", with: "r: 0"), file: URL(fileURLWithPath: "/tmp/r.yaml"))) {
            XCTAssertTrue("\($0)".hasPrefix("/tmp/r.yaml:5:"), "\($0)")
        }
        XCTAssertThrowsError(try Recipe.load(Self.recipeURL, overrides: ["lora.lora_alpha=-1"])) {
            XCTAssertTrue("\($0)".contains("--set lora.lora_alpha=-1"), "\($0)")
        }
    }
}
