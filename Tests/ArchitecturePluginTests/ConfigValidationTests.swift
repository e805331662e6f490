import Foundation
import XCTest
import LoRAKit

/// Bad sizes and constants in config.json / GGUF metadata are errors that name the key, never a trap (they were
/// divisions by zero, invalid ranges and reshape preconditions: exit 132) nor a silent NaN.
final class ConfigValidationTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity")

    func config(_ fixture: String) throws -> [String: Any] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(fixture)/model/config.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// makeModel on `fixture`'s config with `changes` must throw an error whose text contains every `mentions`.
    func assertRefused(_ fixture: String, _ changes: [String: Any], mentions: [String], head: TaskHead = .base,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        var values = try config(fixture)
        for (k, v) in changes { values[k] = v }
        let source = "/tmp/\(fixture)/config.json"
        let plugin = try ArchitectureRegistry.shared.plugin(forModelType: try XCTUnwrap(values["model_type"] as? String))
        XCTAssertThrowsError(try plugin.makeModel(config: ModelConfig(values, source: source), head: head), file: file, line: line) { error in
            let text = "\(error)"
            for m in mentions + [source] { XCTAssertTrue(text.contains(m), "\(changes): '\(text)' does not mention \(m)", file: file, line: line) }
        }
    }

    func testLlamaSizes() throws {
        try assertRefused("llama", ["num_attention_heads": 0], mentions: ["num_attention_heads", "positive"])
        try assertRefused("llama", ["num_attention_heads": -4], mentions: ["num_attention_heads"])
        try assertRefused("llama", ["num_key_value_heads": 0], mentions: ["num_key_value_heads"])
        try assertRefused("llama", ["num_key_value_heads": 3], mentions: ["num_key_value_heads", "num_attention_heads"])
        try assertRefused("llama", ["num_hidden_layers": 0], mentions: ["num_hidden_layers"])
        try assertRefused("llama", ["head_dim": 0], mentions: ["head_dim"])
        try assertRefused("llama", ["head_dim": NSNull(), "hidden_size": 66], mentions: ["hidden_size", "num_attention_heads"])
        try assertRefused("llama", ["vocab_size": 0], mentions: ["vocab_size"])
        try assertRefused("llama", ["vocab_size": 1 << 40], mentions: ["vocab_size", "limit"])
        try assertRefused("llama", ["intermediate_size": -1], mentions: ["intermediate_size"])
    }

    func testLlamaConstants() throws {
        try assertRefused("llama", ["rms_norm_eps": -1e-6], mentions: ["rms_norm_eps"])
        try assertRefused("llama", ["rms_norm_eps": Double.infinity], mentions: ["rms_norm_eps"])
        try assertRefused("llama", ["rope_parameters": NSNull(), "rope_theta": 0], mentions: ["rope_theta"])
        try assertRefused("llama", ["rope_parameters": ["rope_type": "default", "rope_theta": -1]], mentions: ["rope_theta"])
        // Llama's MLP is SwiGLU: any other activation used to be ignored silently.
        try assertRefused("llama", ["hidden_act": "gelu"], mentions: ["hidden_act", "gelu"])
    }

    func testGPT2Falcon_BERTSizes() throws {
        try assertRefused("gpt2", ["n_head": 0], mentions: ["n_head"])
        try assertRefused("gpt2", ["n_head": 5], mentions: ["n_embd", "n_head"])
        try assertRefused("gpt2", ["n_layer": -1], mentions: ["n_layer"])
        try assertRefused("gpt2", ["n_positions": 0], mentions: ["n_positions"])
        try assertRefused("gpt2", ["layer_norm_epsilon": -1], mentions: ["layer_norm_epsilon"])
        try assertRefused("falcon-7b-style", ["num_attention_heads": 0], mentions: ["num_attention_heads"])
        try assertRefused("falcon-7b-style", ["num_attention_heads": 3], mentions: ["hidden_size", "num_attention_heads"])
        try assertRefused("falcon-40b-style", ["num_kv_heads": 3], mentions: ["num_kv_heads"])
        try assertRefused("falcon-40b-style", ["num_kv_heads": 0], mentions: ["num_kv_heads"])
        try assertRefused("falcon-7b-style", ["rope_parameters": ["rope_type": "default", "rope_theta": -5]], mentions: ["rope_theta"])
        try assertRefused("bert-classification", ["num_attention_heads": 0], mentions: ["num_attention_heads"])
        try assertRefused("bert-classification", ["num_attention_heads": 5], mentions: ["hidden_size"])
        try assertRefused("bert-classification", ["num_hidden_layers": 0], mentions: ["num_hidden_layers"])
        try assertRefused("bert-classification", ["layer_norm_eps": -0.5], mentions: ["layer_norm_eps"])
        try assertRefused("bert-classification", ["max_position_embeddings": -1], mentions: ["max_position_embeddings"])
    }

    /// A layer count larger than the weight file holds is refused before building the model (a GGUF block_count of
    /// 100000 used to allocate 24 GB and be killed).
    func testLayerCountBoundedByTheWeightFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-layers-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let source = Self.fixtures.appendingPathComponent("llama/model")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name != "config.json" {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        var values = try config("llama")
        values["num_hidden_layers"] = 100_000
        try JSONSerialization.data(withJSONObject: values).write(to: dir.appendingPathComponent("config.json"))
        let started = Date()
        XCTAssertThrowsError(try ModelLoader.load(dir.path)) {
            XCTAssertTrue("\($0)".contains("num_hidden_layers") && "\($0)".contains("holds weights for 2 layers"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "refused before allocating")
    }

    func testGGUFHeadCountZeroIsAnError() throws {
        let plugin = try ArchitectureRegistry.shared.plugin(forModelType: "llama")
        let metadata: GGUFMetadata = [
            "llama.attention.head_count": .uint32(0), "llama.embedding_length": .uint32(64), "llama.feed_forward_length": .uint32(128),
            "llama.block_count": .uint32(2), "llama.vocab_size": .uint32(256),
        ]
        XCTAssertThrowsError(try plugin.config(fromGGUF: metadata)) { XCTAssertTrue("\($0)".contains("head_count"), "\($0)") }
    }
}

extension ConfigValidationTests {
    /// GGUF metadata goes through the same checks once converted to a config: a block_count of 100000 (which grew
    /// to 24 GB and was killed) and a zero KV head count are refused by name.
    func testGGUFMetadataSizesAreChecked() throws {
        let plugin = try ArchitectureRegistry.shared.plugin(forModelType: "llama")
        func metadata(_ changes: GGUFMetadata) -> GGUFMetadata {
            var m: GGUFMetadata = [
                "llama.attention.head_count": .uint32(4), "llama.embedding_length": .uint32(64), "llama.feed_forward_length": .uint32(128),
                "llama.block_count": .uint32(2), "llama.vocab_size": .uint32(256),
            ]
            for (k, v) in changes { m[k] = v }
            return m
        }
        XCTAssertNoThrow(try plugin.makeModel(config: plugin.config(fromGGUF: metadata([:])), head: .base))
        let started = Date()
        XCTAssertThrowsError(try plugin.makeModel(config: plugin.config(fromGGUF: metadata(["llama.block_count": .uint32(100_000)])), head: .base)) {
            XCTAssertTrue("\($0)".contains("num_hidden_layers") && "\($0)".contains("100000"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertThrowsError(try plugin.makeModel(config: plugin.config(fromGGUF: metadata(["llama.attention.head_count_kv": .uint32(0)])), head: .base)) {
            XCTAssertTrue("\($0)".contains("num_key_value_heads"), "\($0)")
        }
        XCTAssertThrowsError(try plugin.makeModel(config: plugin.config(fromGGUF: metadata(["llama.attention.layer_norm_rms_epsilon": .float32(.nan)])), head: .base)) {
            XCTAssertTrue("\($0)".contains("rms_norm_eps"), "\($0)")
        }
    }
}
