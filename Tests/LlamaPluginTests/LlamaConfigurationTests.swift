import XCTest
import LoRAKit
import LlamaPlugin

/// config.json variants transformers accepts for Llama/Mistral: values read back exactly, errors name the key.
final class LlamaConfigurationTests: XCTestCase {
    func config(_ extra: [String: Any]) -> ModelConfig {
        var values: [String: Any] = ["model_type": "llama", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
                                     "num_hidden_layers": 1, "num_attention_heads": 4]
        values.merge(extra) { _, new in new }
        return ModelConfig(values, source: "config.json")
    }

    func testRopeThetaFromTransformers5RopeParametersOrTopLevel() throws {
        XCTAssertEqual(try LlamaConfiguration(config(["rope_parameters": ["rope_type": "default", "rope_theta": 500_000.0]])).ropeTheta, 500_000)
        XCTAssertEqual(try LlamaConfiguration(config(["rope_theta": 100_000.0])).ropeTheta, 100_000)
        XCTAssertEqual(try LlamaConfiguration(config([:])).ropeTheta, 10_000)
        XCTAssertThrowsError(try LlamaConfiguration(config(["rope_parameters": ["rope_type": "llama3", "rope_theta": 5e5]]))) {
            XCTAssertTrue("\($0)".contains("llama3"), "\($0)")
        }
    }

    func testDefaults() throws {
        let c = try LlamaConfiguration(config(["head_dim": NSNull(), "pad_token_id": NSNull()]))
        XCTAssertEqual(c.headDim, 8)  // hidden / heads
        XCTAssertEqual(c.kvHeads, 4)
        XCTAssertNil(c.padTokenID)
        XCTAssertFalse(c.tieWordEmbeddings)
        XCTAssertEqual(try LlamaConfiguration(config(["num_key_value_heads": 2, "head_dim": 16, "pad_token_id": 7])).headDim, 16)
    }

    func testMistralRunsAsLlamaOnlyWhenTheWindowCoversTheContext() throws {
        XCTAssertNoThrow(try LlamaConfiguration(config(["model_type": "mistral", "sliding_window": NSNull()])))
        XCTAssertNoThrow(try LlamaConfiguration(config(["model_type": "mistral", "sliding_window": 4096, "max_position_embeddings": 4096])))
        XCTAssertThrowsError(try LlamaConfiguration(config(["model_type": "mistral", "sliding_window": 4096, "max_position_embeddings": 32768]))) {
            XCTAssertTrue("\($0)".contains("sliding_window"), "\($0)")
        }
        let registry = ArchitectureRegistry()
        registry.register(LlamaArchitecture.self)
        XCTAssertEqual(try registry.plugin(forModelType: "mistral").name, "Llama")
    }

    func testBadValuesNameTheKey() {
        XCTAssertThrowsError(try LlamaConfiguration(config(["num_key_value_heads": 3]))) { XCTAssertTrue("\($0)".contains("num_key_value_heads"), "\($0)") }
        XCTAssertThrowsError(try LlamaConfiguration(config(["hidden_size": "big"]))) { XCTAssertTrue("\($0)".contains("hidden_size"), "\($0)") }
    }

    func testConfigFromGGUFMetadata() throws {
        let m: GGUFMetadata = [
            "llama.block_count": .uint32(30), "llama.embedding_length": .uint32(576), "llama.feed_forward_length": .uint32(1536),
            "llama.attention.head_count": .uint32(9), "llama.attention.head_count_kv": .uint32(3),
            "llama.rope.freq_base": .float32(100_000), "llama.attention.layer_norm_rms_epsilon": .float32(1e-5),
            "llama.context_length": .uint32(8192), "tokenizer.ggml.tokens": .array(Array(repeating: .string("x"), count: 49152)),
            "tokenizer.ggml.padding_token_id": .uint32(2),
        ]
        let c = try LlamaConfiguration(try LlamaArchitecture.config(fromGGUF: m))
        XCTAssertEqual([c.layers, c.hiddenSize, c.intermediateSize, c.heads, c.kvHeads, c.headDim, c.vocabularySize, c.padTokenID],
                       [30, 576, 1536, 9, 3, 64, 49152, 2])
        XCTAssertEqual(c.ropeTheta, 100_000)
        XCTAssertEqual(c.rmsNormEps, 1e-5)
        XCTAssertThrowsError(try LlamaArchitecture.config(fromGGUF: m.filter { $0.key != "llama.block_count" })) {
            XCTAssertTrue("\($0)".contains("llama.block_count"), "\($0)")
        }
    }
}
