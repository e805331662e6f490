import XCTest
import LoRAKit
import LlamaPlugin
import FalconPlugin

/// Every export reads back through LoRAKit's own loaders (issue 14): merged models of every type through
/// ModelLoader, GGUF LoRAs through `GGUFAdapterImport` + the PEFT adapter loader, a Hugging Face directory base with
/// its tokenizer.json, and GPT-2. Expected values come from LoRAKit's merge (PEFT-exact, see LoRATests) passed through
/// the quantizer that is bit-exact with gguf-py (ModelFormatsTests), so the comparisons are exact where they can be.
final class GGUFExportRoundTripTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-roundtrip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func parameters(_ loaded: LoadedModel) -> [String: Tensor] {
        Dictionary(loaded.model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    /// `values` stored as `type` and read back: what a reader of the file must see.
    static func stored(_ values: [Float], as type: GGMLType) -> [Float] {
        let bytes = GGMLQuantizer.quantize(values, as: type)
        var out = [Float](repeating: 0, count: values.count)
        bytes.withUnsafeBytes { raw in out.withUnsafeMutableBufferPointer { GGMLDequantizer.dequantize(type, from: raw.baseAddress!, count: values.count, into: $0.baseAddress!) } }
        return out
    }

    /// Each parameter of the reloaded export equals the merged parameter moved to llama.cpp's layout, stored in the
    /// type the file holds, and moved back — exactly (no tolerance: the same quantizer and pure element moves).
    func assertReadsBackExactly(_ export: URL, reference: LoadedModel, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let reloaded = try ModelLoader.load(export.path)
        let gguf = try GGUFFile(url: export)
        let got = parameters(reloaded)
        var compared = 0
        for name in gguf.tensorNames {
            guard let mapping = reference.plugin.hfTensor(forGGUF: name, config: reference.config),
                  let tensor = parameters(reference)[mapping.path] else { XCTFail("\(label): \(name) maps to no parameter", file: file, line: line); continue }
            let info = try gguf.info(name)
            let moved = try mapping.rearrange(tensor.scalars, shape: tensor.shape, .toGGUF)
            XCTAssertEqual(moved.shape, info.shape, "\(label) \(name)", file: file, line: line)
            let expected = try mapping.rearrange(Self.stored(moved.values, as: info.type), shape: moved.shape, .fromGGUF)
            XCTAssertEqual(got[mapping.path]?.shape, tensor.shape, "\(label) \(name)", file: file, line: line)
            XCTAssertTrue(got[mapping.path]?.scalars == expected.values, "\(label) \(name) (\(info.type)) differs from the stored merged weight", file: file, line: line)
            compared += 1
        }
        XCTAssertEqual(compared, Set(reloaded.model.namedParameters().map(\.path)).subtracting(reloaded.model.tiedParameters.keys).count,
                       "\(label): every parameter comes from the file", file: file, line: line)
    }

    func testEveryMergedTypeReadsBack() throws {
        let dir = try temporaryDirectory()
        let base = try GGUFExportTests.baseGGUF("llama", in: dir)
        let adapter = GGUFExportTests.caseDirectory("llama").appendingPathComponent("adapter")
        let merged = try ModelLoader.load(base.path)
        try LoRAModel.load(from: adapter, into: merged.model, plugin: merged.plugin).mergeAndUnload()
        for type in GGUFExportType.allCases {
            let out = dir.appendingPathComponent("merged-\(type).gguf")
            try GGUFModelExport.export(model: base.path, adapter: adapter, type: type, to: out)
            XCTAssertEqual(try GGUFFile(url: out)["general.file_type"]?.int, Int(type.fileType))
            try assertReadsBackExactly(out, reference: merged, "llama \(type)")
        }
    }

    /// A GGUF LoRA turned back into a PEFT adapter holds the adapter's A and B (B's Q/K rows un-permuted), each as
    /// stored in the file's type; f32 gives the original adapter's logits (1e-6).
    func testAdapterExportsReadBack() throws {
        let dir = try temporaryDirectory()
        let base = try GGUFExportTests.baseGGUF("llama", in: dir)
        let adapter = GGUFExportTests.caseDirectory("llama").appendingPathComponent("adapter")
        let original = try SafetensorsFile(url: adapter.appendingPathComponent("adapter_model.safetensors"))
        let ids = [5, 17, 200, 33, 91, 64, 128, 7, 250, 3]
        let logits = { (m: LoadedModel) in GradMode.withoutGrad { m.model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))).scalars } }
        let withOriginal = try ModelLoader.load(base.path)
        try withOriginal.applyAdapter(adapter.path)
        for type in [GGUFExportType.f32, .f16, .bf16, .q8_0] {
            let gguf = dir.appendingPathComponent("adapter-\(type).gguf"), back = dir.appendingPathComponent("peft-\(type)")
            try GGUFAdapterExport.export(adapter: adapter, model: base.path, type: type, to: gguf)
            try GGUFAdapterImport.writePEFT(from: gguf, base: base.path, to: back)
            let file = try GGUFFile(url: gguf), imported = try SafetensorsFile(url: back.appendingPathComponent("adapter_model.safetensors"))
            XCTAssertEqual(Set(imported.tensorNames), Set(original.tensorNames), "\(type)")
            for key in original.tensorNames {
                // The type each tensor was stored in (rank-4 B rows are not whole q8_0 blocks: F16).
                let module = key.replacingOccurrences(of: "base_model.model.", with: "").replacingOccurrences(of: ".lora_A.weight", with: "").replacingOccurrences(of: ".lora_B.weight", with: "")
                let target = try XCTUnwrap(withOriginal.plugin.ggufTensorNames(config: withOriginal.config).first {
                    withOriginal.plugin.hfTensor(forGGUF: $0, config: withOriginal.config)?.path == module + ".weight"
                })
                let stored = try file.info(target + (key.hasSuffix("lora_A.weight") ? ".lora_a" : ".lora_b")).type
                XCTAssertEqual(try imported.floats(key), Self.stored(try original.floats(key), as: stored), "\(type) \(key)")
            }
            let config = try LoRAConfig(contentsOf: back.appendingPathComponent("adapter_config.json"))
            XCTAssertEqual(config.loraAlpha, 8)
            XCTAssertEqual(config.r, 4)
            if type == .f32 {
                let reloaded = try ModelLoader.load(base.path)
                try reloaded.applyAdapter(back.path)
                XCTAssertLessThan(zip(logits(reloaded), logits(withOriginal)).map { abs($0 - $1) }.max()!, 1e-6)
            }
        }
    }

    /// A copy of a fixture model directory with a tokenizer (and optional tokenizer_config.json) beside it.
    func directoryBase(model: URL, tokenizer: URL, tokenizerConfig: [String: Any]?, in dir: URL) throws -> URL {
        let out = dir.appendingPathComponent("hf-model")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] { try FileManager.default.copyItem(at: model.appendingPathComponent(f), to: out.appendingPathComponent(f)) }
        try FileManager.default.copyItem(at: tokenizer, to: out.appendingPathComponent("tokenizer.json"))
        if let tokenizerConfig {
            try JSONSerialization.data(withJSONObject: tokenizerConfig).write(to: out.appendingPathComponent("tokenizer_config.json"))
        }
        return out
    }

    /// A Hugging Face directory base: the merged GGUF carries the tokenizer written from tokenizer.json (byte tokens,
    /// pre "gpt-2", bos/eos from tokenizer_config.json, the chat template), LoRAKit tokenizes with it exactly as with
    /// tokenizer.json, and the weights read back exactly.
    func testHuggingFaceDirectoryBase() throws {
        let dir = try temporaryDirectory()
        let fixture = LlamaParityTests.fixtures.appendingPathComponent("serving/tiny-llama")
        let template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
        let hf = try directoryBase(model: fixture, tokenizer: fixture.appendingPathComponent("tokenizer.json"),
                                   tokenizerConfig: ["chat_template": template, "eos_token": "\u{10A}", "bos_token": NSNull()], in: dir)
        let out = dir.appendingPathComponent("merged.gguf")
        try GGUFModelExport.export(model: hf.path, adapter: LlamaParityTests.fixtures.appendingPathComponent("serving/adapter-a"), type: .f32, to: out)
        let file = try GGUFFile(url: out)
        XCTAssertEqual(file["general.architecture"]?.string, "llama")
        XCTAssertEqual(file["tokenizer.ggml.model"]?.string, "gpt2")
        XCTAssertEqual(file["tokenizer.ggml.pre"]?.string, "gpt-2")
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.strings?.count, 256)
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.strings?[10], "\u{10A}")
        XCTAssertEqual(Set(file["tokenizer.ggml.token_type"]?.ints ?? []), [1])
        XCTAssertEqual(file["tokenizer.ggml.eos_token_id"]?.int, 10)
        XCTAssertEqual(file["tokenizer.ggml.bos_token_id"]?.int, 1, "tokenizer_config.json's null bos_token falls back to config.json's bos_token_id")
        XCTAssertEqual(file["tokenizer.ggml.add_bos_token"]?.bool, false)
        XCTAssertEqual(file["tokenizer.chat_template"]?.string, template)

        let merged = try ModelLoader.load(hf.path)
        try LoRAModel.load(from: LlamaParityTests.fixtures.appendingPathComponent("serving/adapter-a"), into: merged.model, plugin: merged.plugin).mergeAndUnload()
        try assertReadsBackExactly(out, reference: merged, "tiny-llama directory")
        let fromJSON = try ModelAssets(reference: hf.path).makeTokenizer(), fromGGUF = try ModelAssets(reference: out.path).makeTokenizer()
        for text in ["Hello, world!", "It's 2026 — naïve café\n\tdone", "  spaces  "] {
            XCTAssertEqual(fromGGUF.encode(text), fromJSON.encode(text), text)
        }
    }

    /// Llama 3's tokenizer.json (merges, added special tokens, a BOS template): pre "llama-bpe", CONTROL types for the
    /// special tokens, merges kept, and LoRAKit's tokenizer from the written keys gives the fixture's reference ids
    /// (made by Hugging Face tokenizers, Tests/Fixtures/tokenizers/generate_cases.py).
    func testTokenizerJSONKeys() throws {
        let dir = try temporaryDirectory()
        let fixtures = LlamaParityTests.fixtures.appendingPathComponent("tokenizers")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("tiny_llama3_bpe.tokenizer.json"), to: dir.appendingPathComponent("tokenizer.json"))
        let keys = try GGUFTokenizerExport.metadata(directory: dir, vocabularySize: 640)
        let m = Dictionary(keys.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(m["tokenizer.ggml.pre"]?.string, "llama-bpe")
        let tokens = try XCTUnwrap(m["tokenizer.ggml.tokens"]?.strings), types = try XCTUnwrap(m["tokenizer.ggml.token_type"]?.ints)
        XCTAssertEqual(tokens.count, 640)
        XCTAssertEqual(Array(tokens[0...1]), ["<|begin_of_text|>", "<|eot_id|>"])
        XCTAssertEqual(Array(types[0...1]), [3, 3])
        XCTAssertEqual(tokens[639], "[PAD639]", "ids past the tokenizer's vocabulary are padding")
        XCTAssertEqual(types[639], 5)
        XCTAssertEqual(m["tokenizer.ggml.merges"]?.strings?.count, 342)
        XCTAssertEqual(m["tokenizer.ggml.bos_token_id"]?.int, 0)
        XCTAssertEqual(m["tokenizer.ggml.add_bos_token"]?.bool, true)

        let assets = ModelAssets(location: dir.appendingPathComponent("x.gguf"), ggufMetadata: m)
        let tokenizer = try assets.makeTokenizer()
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("tiny_llama3_bpe_cases.json"))) as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 10)
        for c in cases {
            XCTAssertEqual(tokenizer.encode(c["text"] as! String), c["ids"] as! [Int], c["text"] as! String)
        }
    }

    func testTokenizerRefusals() throws {
        let dir = try temporaryDirectory()
        // GPT-2's fixture tokenizer adds a prefix space, which llama.cpp's BPE tokenizer never does.
        try FileManager.default.copyItem(at: LlamaParityTests.fixtures.appendingPathComponent("tokenizers/tiny_gpt2_bpe.tokenizer.json"),
                                         to: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try GGUFTokenizerExport.metadata(directory: dir, vocabularySize: 600)) {
            XCTAssertTrue("\($0)".contains("add_prefix_space"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFTokenizerExport.metadata(directory: dir.appendingPathComponent("none"), vocabularySize: 600)) {
            XCTAssertTrue("\($0)".contains("no tokenizer.json"), "\($0)")
        }
    }

    /// Falcon, 7B layout (multi-query, one norm) and 40B layout (grouped KV, two norms): query_key_value regrouped to
    /// [q, k, v], read back exactly with the PEFT case's adapter merged; the other layouts are refused with the reason.
    func testFalconMergedExportReadsBack() throws {
        let dir = try temporaryDirectory()
        for name in ["falcon-7b-style", "falcon-40b-style"] {
            let fixture = GGUFExportTests.caseDirectory(name)
            let hf = try directoryBase(model: fixture.appendingPathComponent("model"),
                                       tokenizer: LlamaParityTests.fixtures.appendingPathComponent("serving/tiny-llama/tokenizer.json"),
                                       tokenizerConfig: nil, in: dir.appendingPathComponent(name))
            let merged = try ModelLoader.load(hf.path)
            try LoRAModel.load(from: fixture.appendingPathComponent("adapter"), into: merged.model, plugin: merged.plugin).mergeAndUnload()
            let out = dir.appendingPathComponent("\(name).gguf")
            try GGUFModelExport.export(model: hf.path, adapter: fixture.appendingPathComponent("adapter"), type: .f32, to: out)
            let file = try GGUFFile(url: out)
            XCTAssertEqual(file["general.architecture"]?.string, "falcon")
            XCTAssertEqual(file.contains("blk.0.attn_norm_2.weight"), name == "falcon-40b-style")
            try assertReadsBackExactly(out, reference: merged, name)
        }
        // A regroup moves whole head blocks: [q0 q1 k0 v0 | q2 q3 k1 v1] → [q0 q1 q2 q3 k0 k1 v0 v1], and back.
        let hf: [Float] = [0, 1, 4, 6, 2, 3, 5, 7]
        let gguf = try GGUFTensorMapping.regroupQKVRows(hf, rows: 8, columns: 1, heads: 4, kvHeads: 2, .toGGUF)
        XCTAssertEqual(gguf, [0, 1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(try GGUFTensorMapping.regroupQKVRows(gguf, rows: 8, columns: 1, heads: 4, kvHeads: 2, .fromGGUF), hf)

        var config = try ModelConfig(contentsOf: GGUFExportTests.caseDirectory("falcon-7b-style").appendingPathComponent("model/config.json"))
        config.values["bias"] = true
        XCTAssertThrowsError(try FalconArchitecture.ggufHyperparameters(config: config)) { XCTAssertTrue("\($0)".contains("no linear biases"), "\($0)") }
    }

    /// GPT-2: Conv1D weights transposed to llama.cpp's layout, position_embd, biases, no output.weight when tied; the
    /// merged export (PEFT's GPT-2 case: fan_in_fan_out, bias lora_only) reads back exactly, in f32 and q8_0.
    func testGPT2MergedExportReadsBack() throws {
        let dir = try temporaryDirectory()
        let fixture = GGUFExportTests.caseDirectory("gpt2")
        let hf = try directoryBase(model: fixture.appendingPathComponent("model"),
                                   tokenizer: LlamaParityTests.fixtures.appendingPathComponent("serving/tiny-llama/tokenizer.json"),
                                   tokenizerConfig: nil, in: dir)
        let merged = try ModelLoader.load(hf.path)
        try LoRAModel.load(from: fixture.appendingPathComponent("adapter"), into: merged.model, plugin: merged.plugin).mergeAndUnload()
        for type in [GGUFExportType.f32, .q8_0] {
            let out = dir.appendingPathComponent("gpt2-\(type).gguf")
            try GGUFModelExport.export(model: hf.path, adapter: fixture.appendingPathComponent("adapter"), type: type, to: out)
            let file = try GGUFFile(url: out)
            XCTAssertEqual(file["general.architecture"]?.string, "gpt2")
            XCTAssertEqual(file["gpt2.context_length"]?.int, 64)
            XCTAssertFalse(file.contains("output.weight"), "tied")
            XCTAssertEqual(try file.info("blk.0.attn_qkv.weight").dimensions, [64, 192], "ggml ne = {n_embd, 3·n_embd}")
            XCTAssertEqual(try file.info("blk.0.ffn_down.weight").dimensions, [256, 64], "ggml ne = {n_ff, n_embd}")
            try assertReadsBackExactly(out, reference: merged, "gpt2 \(type)")
        }
    }
}
