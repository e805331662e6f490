import XCTest
import LoRAKit

/// Generation on every causal architecture's tiny fixture (Tests/Fixtures/parity/<case>, vocab 256 = one byte a
/// token): greedy tokens with the KV cache, sized by the model itself (GPT-2 says n_layer, the others
/// num_hidden_layers), equal greedy tokens recomputed by full forwards without a cache. GPT-NeoX, a compiled
/// plugin loaded by the `lorakit` executable, is checked the same way in ExternalArchitectureTests.
final class EveryArchitectureGenerationTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity")

    override class func setUp() { registerBuiltinArchitectures() }

    func testGreedyWithCacheEqualsRecomputingOnEveryCausalFixture() throws {
        let registry = ArchitectureRegistry()
        registerBuiltinArchitectures(in: registry)
        let root = Self.fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try PluginLoader.load([root.appendingPathComponent("Plugins/Qwen2/qwen2.json").path], into: registry)
        let tokenizer = try TextStreamerTests.byteTokenizer()
        let prompt = [72, 105, 33, 10, 200, 7]
        for name in ["llama", "gpt2", "falcon-7b-style", "falcon-40b-style", "qwen2"] {
            let loaded = try ModelLoader.load(Self.fixtures.appendingPathComponent("\(name)/model").path, registry: registry)
            // No stop tokens (the fixtures' eos ids are ordinary bytes here); the cache comes from the model itself.
            let generator = Generator(model: loaded.model, tokenizer: tokenizer, stopTokens: [])
            let result = try generator.generate(promptIDs: prompt, maxTokens: 10)
            XCTAssertEqual(result.tokens.count, 10, name)
            XCTAssertEqual(result.tokens, TinyGeneratorTests.greedyWithoutCache(loaded.model, prompt: prompt, count: 10), name)
            XCTAssertEqual(loaded.layerCount, 2, "\(name): KV-cache slots")
        }
    }
}
