import XCTest
import LoRAKit
import LlamaPlugin

/// The GGUF path end to end without the real model: the tiny safetensors fixtures are rewritten the way llama.cpp's
/// convert_hf_to_gguf.py writes them (llama.cpp names, Q/K rows permuted, eps and rope theta as float32, no
/// output.weight when tied), loaded back through ModelLoader and compared with the directory load.
final class LlamaGGUFTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    /// llama.cpp's `LlamaModel.permute`: reshape(heads, 2, half, cols).swapaxes(1, 2).
    static func permute(_ w: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        let headDim = rows / heads, half = headDim / 2
        var out = w
        for h in 0..<heads { for p in 0..<2 { for i in 0..<half { for c in 0..<columns {
            out[(h * headDim + i * 2 + p) * columns + c] = w[(h * headDim + p * half + i) * columns + c]
        } } } }
        return out
    }

    /// HF name → llama.cpp name, the inverse of the mapping the plugin implements.
    static func ggufName(_ path: String) -> String {
        let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                     "lm_head.weight": "output.weight"]
        if let name = fixed[path] { return name }
        let parts = path.split(separator: ".").map(String.init)  // model.layers.N.<block>.<proj>.weight or …N.<norm>.weight
        let kind = ["self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"]
        let middle = parts[3..<(parts.count - 1)].joined(separator: ".")
        return "blk.\(parts[2]).\(kind[middle]!).\(parts.last!)"
    }

    /// Writes Tests/Fixtures/parity/<name>/model as a GGUF file in a temp directory.
    func writeGGUF(case name: String, blockCount: UInt32? = nil) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-\(name)-\(UUID().uuidString).gguf")
        try Self.ggufData(case: name, blockCount: blockCount).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The bytes of that GGUF file (all tensors F32).
    static func ggufData(case name: String, blockCount: UInt32? = nil) throws -> Data {
        let dir = LlamaParityTests.fixtures.appendingPathComponent("parity/\(name)/model")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        let int = { (k: String) in config[k] as! Int }
        let theta = (config["rope_parameters"] as? [String: Any])?["rope_theta"] as? Double ?? 10_000
        var writer = TinyGGUFWriter()
        writer.metadata = [
            ("general.architecture", .string("llama")),
            ("llama.block_count", .u32(blockCount ?? UInt32(int("num_hidden_layers")))),
            ("llama.context_length", .u32(UInt32(int("max_position_embeddings")))),
            ("llama.embedding_length", .u32(UInt32(int("hidden_size")))),
            ("llama.feed_forward_length", .u32(UInt32(int("intermediate_size")))),
            ("llama.attention.head_count", .u32(UInt32(int("num_attention_heads")))),
            ("llama.attention.head_count_kv", .u32(UInt32(int("num_key_value_heads")))),
            ("llama.rope.freq_base", .f32(Float(theta))),
            ("llama.attention.layer_norm_rms_epsilon", .f32(Float(config["rms_norm_eps"] as! Double))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.tokens", .strings((0...255).map { byteLevelSpelling(UInt8($0)) })),
            ("tokenizer.ggml.merges", .strings([])),
            ("tokenizer.ggml.bos_token_id", .u32(1)),
            ("tokenizer.ggml.eos_token_id", .u32(2)),
        ]
        let file = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        let (heads, kvHeads) = (int("num_attention_heads"), int("num_key_value_heads"))
        for path in file.tensorNames.sorted() {
            let shape = try file.info(path).shape
            var values = try file.floats(path)
            if path.hasSuffix("q_proj.weight") { values = Self.permute(values, rows: shape[0], columns: shape[1], heads: heads) }
            if path.hasSuffix("k_proj.weight") { values = Self.permute(values, rows: shape[0], columns: shape[1], heads: kvHeads) }
            writer.tensors.append((Self.ggufName(path), shape, values))
        }
        return writer.data()
    }

    func checkMatchesDirectoryLoad(case name: String, tied: Bool) throws {
        let gguf = try ModelLoader.load(try writeGGUF(case: name).path)
        let reference = try ModelLoader.load(LlamaParityTests.fixtures.appendingPathComponent("parity/\(name)/model").path)
        XCTAssertEqual(gguf.model.tiedParameters.isEmpty, !tied)
        for key in ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size"] {
            XCTAssertEqual(try gguf.config.int(key), try reference.config.int(key), key)
        }
        let ids = [5, 17, 200, 33, 91, 64, 128, 7]
        let input = ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))
        let a = GradMode.withoutGrad { gguf.model.forward(input) }.scalars
        let b = GradMode.withoutGrad { reference.model.forward(input) }.scalars
        // Only rms_norm_eps differs (1e-5 stored as float32), so the logits agree to far below the 1e-4 bar.
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5, "\(name): max |Δlogit| = \(worst)")
    }

    func testUntiedGGUFMatchesSafetensors() throws { try checkMatchesDirectoryLoad(case: "llama", tied: false) }
    func testTiedGGUFWithoutOutputMatrixMatchesSafetensors() throws { try checkMatchesDirectoryLoad(case: "llama-tied-rslora", tied: true) }

    func testTokenizerComesFromGGUFMetadataWithoutLoadingWeights() throws {
        let assets = try ModelAssets(reference: try writeGGUF(case: "llama").path)
        let tokenizer = try assets.makeTokenizer()
        // One byte-level token per byte and no merges: ids are the UTF-8 bytes.
        XCTAssertEqual(tokenizer.encode("héllo", addSpecialTokens: false), Array("héllo".utf8).map(Int.init))
        XCTAssertEqual(tokenizer.eosTokenID, 2)
        XCTAssertNil(assets.chatTemplateSource)
    }

    func testGGUFNamesMapToTransformersNames() {
        let config = ModelConfig(["num_attention_heads": 9, "num_key_value_heads": 3], source: "test")
        let expected: [String: (String, Int?)] = [
            "token_embd.weight": ("model.embed_tokens.weight", nil), "output_norm.weight": ("model.norm.weight", nil),
            "output.weight": ("lm_head.weight", nil),
            "blk.7.attn_q.weight": ("model.layers.7.self_attn.q_proj.weight", 9),
            "blk.7.attn_k.weight": ("model.layers.7.self_attn.k_proj.weight", 3),
            "blk.7.attn_q.bias": ("model.layers.7.self_attn.q_proj.bias", nil),
            "blk.7.attn_v.weight": ("model.layers.7.self_attn.v_proj.weight", nil),
            "blk.7.attn_output.weight": ("model.layers.7.self_attn.o_proj.weight", nil),
            "blk.7.ffn_gate.weight": ("model.layers.7.mlp.gate_proj.weight", nil),
            "blk.7.ffn_up.weight": ("model.layers.7.mlp.up_proj.weight", nil),
            "blk.7.ffn_down.weight": ("model.layers.7.mlp.down_proj.weight", nil),
            "blk.7.attn_norm.weight": ("model.layers.7.input_layernorm.weight", nil),
            "blk.7.ffn_norm.weight": ("model.layers.7.post_attention_layernorm.weight", nil),
        ]
        for (name, (path, heads)) in expected {
            let mapping = LlamaArchitecture.hfTensor(forGGUF: name, config: config)
            XCTAssertEqual(mapping?.path, path, name)
            XCTAssertEqual(mapping?.undoRotaryPermutation, heads, name)
        }
        XCTAssertNil(LlamaArchitecture.hfTensor(forGGUF: "blk.7.attn_qkv.weight", config: config))
    }

    /// Issue 12: a block_count of 100000 in a small file used to allocate 100000 layers (24 GB) before strict
    /// loading noticed the missing tensors. The count is now bounded by the blk.N tensors the file holds.
    func testBlockCountBeyondTheFilesTensorsIsRefusedBeforeAllocating() throws {
        let url = try writeGGUF(case: "llama", blockCount: 100_000)
        XCTAssertThrowsError(try ModelLoader.load(url.path)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(url.path) && message.contains("100000 layers") && message.contains("block_count"), message)
        }
    }
}
