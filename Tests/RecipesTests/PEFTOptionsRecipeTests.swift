import XCTest
import LoRAKit

/// PEFT's finer LoRA options written in a recipe (Tests/Fixtures/training/tiny-llama/peft-options.yaml: PiSSA,
/// DoRA, rank and alpha patterns, exclude_modules, layers_to_transform) reach the adapter LoRAKit trains and saves.
/// scripts/interop-check.sh has PEFT load the same adapter and compares logits (1e-4).
final class PEFTOptionsRecipeTests: XCTestCase {
    static let recipeURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/training/tiny-llama/peft-options.yaml")

    override class func setUp() { registerBuiltinArchitectures() }

    func testEveryOptionReachesTheSavedAdapter() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-peft-options-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let recipe = try Recipe.load(Self.recipeURL, overrides: ["save.output_dir=\(out.path)"])
        func fresh() throws -> RecipeRun { try RecipeRun(recipe: recipe, reporter: ProgressReporter(mode: .quiet)) }
        let summary = try fresh().train()
        let checkpoint = out.appendingPathComponent("checkpoint-4")

        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: checkpoint.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["init_lora_weights"] as? String, "pissa")
        XCTAssertEqual(config["use_dora"] as? Bool, true)
        XCTAssertEqual(config["rank_pattern"] as? [String: Int], ["down_proj": 2])
        XCTAssertEqual(config["layers_to_transform"] as? [Int], [1])
        XCTAssertEqual(Set(config["exclude_modules"] as? [String] ?? []), ["k_proj"])

        let adapter = try SafetensorsFile(url: checkpoint.appendingPathComponent("adapter_model.safetensors"))
        let keys = Set(adapter.tensorNames)
        let prefix = "base_model.model.model.layers."
        XCTAssertTrue(keys.allSatisfy { $0.hasPrefix(prefix + "1.") }, "layers_to_transform [1]: \(keys.sorted())")
        XCTAssertFalse(keys.contains { $0.contains("k_proj") }, "k_proj is excluded")
        for module in ["self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.down_proj"] {
            let stem = prefix + "1." + module
            XCTAssertTrue(keys.contains(stem + ".lora_magnitude_vector"), "DoRA magnitude of \(module)")
            let rank = try adapter.shape(stem + ".lora_A.weight")[0]
            XCTAssertEqual(rank, module == "mlp.down_proj" ? 2 : 4, "rank of \(module)")
        }
        // Loaded into a fresh model (PiSSA's residual recomputed from the original weights), the adapter gives the
        // eval loss the run logged at its end, and training moved it away from the base model's.
        let logged = try XCTUnwrap(summary.finalEval?.loss)
        let trained = try fresh().evaluate(adapter: checkpoint).result.loss
        XCTAssertEqual(trained, logged, accuracy: 1e-5 * logged)
        let base = try fresh().evaluate().result.loss
        XCTAssertGreaterThan(abs(trained - base), 1e-3)
    }
}
