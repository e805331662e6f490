import XCTest
import LoRAKit
import LlamaPlugin

/// `lorakit export` on the tiny Llama parity cases: a GGUF base is written the way llama.cpp's converter writes it
/// (LlamaGGUFTests' rules), the PEFT adapter of the case (made by PEFT 0.21, see case.json) is exported, and the
/// exports are read back by LoRAKit's own GGUF reader and loader.
final class GGUFExportTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    func caseDirectory(_ name: String) -> URL { Self.caseDirectory(name) }
    static func caseDirectory(_ name: String) -> URL { LlamaParityTests.fixtures.appendingPathComponent("parity/\(name)") }
    func baseGGUF(_ name: String, in dir: URL) throws -> URL { try Self.baseGGUF(name, in: dir) }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The case's model as a llama.cpp GGUF (llama.cpp names, Q/K permuted, no output.weight when tied), with a
    /// 256-token byte vocabulary whose ids 1 and 2 are bos/eos.
    static func baseGGUF(_ name: String, in dir: URL) throws -> URL {
        let modelDir = caseDirectory(name).appendingPathComponent("model")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: modelDir.appendingPathComponent("config.json"))) as! [String: Any]
        let int = { (k: String) in config[k] as! Int }
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.name", .string(name))
        w.set("llama.block_count", .uint32(UInt32(int("num_hidden_layers"))))
        w.set("llama.context_length", .uint32(UInt32(int("max_position_embeddings"))))
        w.set("llama.embedding_length", .uint32(UInt32(int("hidden_size"))))
        w.set("llama.feed_forward_length", .uint32(UInt32(int("intermediate_size"))))
        w.set("llama.attention.head_count", .uint32(UInt32(int("num_attention_heads"))))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(int("num_key_value_heads"))))
        w.set("llama.rope.freq_base", .float32(Float((config["rope_parameters"] as? [String: Any])?["rope_theta"] as? Double ?? 10_000)))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(Float(config["rms_norm_eps"] as! Double)))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("smollm"))
        w.set("tokenizer.ggml.tokens", .array((0...255).map { .string(byteLevelSpelling(UInt8($0))) }))
        w.set("tokenizer.ggml.merges", .array([]))
        w.set("tokenizer.ggml.bos_token_id", .uint32(1))
        w.set("tokenizer.ggml.eos_token_id", .uint32(2))
        w.set("tokenizer.chat_template", .string("{{ messages[0]['content'] }}"))
        let file = try SafetensorsFile(url: modelDir.appendingPathComponent("model.safetensors"))
        for path in file.tensorNames.sorted() {
            let shape = try file.info(path).shape
            var values = try file.floats(path)
            if path.hasSuffix("q_proj.weight") { values = LlamaGGUFTests.permute(values, rows: shape[0], columns: shape[1], heads: int("num_attention_heads")) }
            if path.hasSuffix("k_proj.weight") { values = LlamaGGUFTests.permute(values, rows: shape[0], columns: shape[1], heads: int("num_key_value_heads")) }
            try w.addTensor(LlamaGGUFTests.ggufName(path), shape: shape, values: values, type: .F32)
        }
        let url = dir.appendingPathComponent("base.gguf")
        try w.write(to: url)
        return url
    }

    func logits(_ loaded: LoadedModel, _ ids: [Int]) -> [Float] {
        GradMode.withoutGrad { loaded.model.forward(ModelInput(inputIDs: IntTensor(ids, shape: [1, ids.count]))).scalars }
    }

    let ids = [5, 17, 200, 33, 91, 64, 128, 7, 250, 3]

    /// The merged f32 export reloads through ModelLoader and gives the logits of base + unmerged adapter (1e-5: only
    /// the merge's rounding differs), holds exactly the base's tensors, and its metadata says what llama.cpp needs.
    func testMergedExportRoundTrips() throws {
        for name in ["llama", "llama-tied-rslora", "llama-dora"] {
            let dir = try temporaryDirectory()
            let base = try baseGGUF(name, in: dir)
            let adapter = caseDirectory(name).appendingPathComponent("adapter")
            let out = dir.appendingPathComponent("merged.gguf")
            try GGUFModelExport.export(model: base.path, adapter: adapter, type: .f32, to: out)

            let reference = try ModelLoader.load(base.path)
            try reference.applyAdapter(adapter.path)
            let exported = try ModelLoader.load(out.path)
            let (a, b) = (logits(reference, ids), logits(exported, ids))
            XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-5, name)

            let file = try GGUFFile(url: out)
            XCTAssertEqual(Set(file.tensorNames), Set(try GGUFFile(url: base).tensorNames), "\(name): the base's tensors, no more")
            XCTAssertEqual(file.contains("output.weight"), name != "llama-tied-rslora", name)
            XCTAssertEqual(file["general.type"]?.string, "model")
            XCTAssertEqual(file["general.file_type"]?.int, 0)
            XCTAssertEqual(file["llama.rope.dimension_count"]?.int, try reference.config.int("hidden_size") / (try reference.config.int("num_attention_heads")))
            XCTAssertEqual(file["tokenizer.ggml.pre"]?.string, "smollm")
            XCTAssertEqual(file["tokenizer.ggml.tokens"]?.strings?.count, 256)
        }
    }

    /// q8_0 and q4_0: 2-D weights in the type asked, vectors in F32, rows that are not whole blocks in F16 (hidden
    /// size 48); logits within the quantization error (q8_0 0.05, q4_0 0.5 on logits of magnitude ~1; the tiny models'
    /// random weights are the worst case for 4-bit).
    func testQuantizedExports() throws {
        for (name, type, tolerance) in [("llama", GGUFExportType.q8_0, Float(0.05)), ("llama", .q4_0, 0.5), ("llama-tied-rslora", .q8_0, 0.05)] {
            let dir = try temporaryDirectory()
            let base = try baseGGUF(name, in: dir)
            let out = dir.appendingPathComponent("m.gguf")
            let report = try GGUFModelExport.export(model: base.path, adapter: caseDirectory(name).appendingPathComponent("adapter"), type: type, to: out)
            let file = try GGUFFile(url: out)
            for info in file.tensorInfos {
                let expected: GGMLType = info.dimensions.count == 1 ? .F32 : (info.rowLength % 32 == 0 ? type.ggmlType : .F16)
                XCTAssertEqual(info.type, expected, "\(name) \(type) \(info.name)")
            }
            XCTAssertEqual(report.fallbacks.isEmpty, name == "llama", "\(name): rows of 48 fall back to F16")
            let reference = try ModelLoader.load(base.path)
            try reference.applyAdapter(caseDirectory(name).appendingPathComponent("adapter").path)
            let diff = zip(logits(reference, ids), logits(try ModelLoader.load(out.path), ids)).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff, tolerance, "\(name) \(type)")
        }
    }

    /// The GGUF LoRA: llama.cpp's keys, shapes as llama_adapter_lora_init checks them (base ne[0] == a.ne[0], base
    /// ne[1] == b.ne[1], a.ne[1] == b.ne[0]), A unchanged, and — the permutation rule — the delta llama.cpp adds to
    /// each permuted base tensor, alpha / r · B·A, is the permuted PEFT delta (1e-6).
    func testAdapterExportFollowsLlamaCppRules() throws {
        for name in ["llama", "llama-tied-rslora"] {
            let dir = try temporaryDirectory()
            let base = try baseGGUF(name, in: dir)
            let adapterDir = caseDirectory(name).appendingPathComponent("adapter")
            let out = dir.appendingPathComponent("adapter.gguf")
            let report = try GGUFAdapterExport.export(adapter: adapterDir, model: base.path, type: .f32, to: out)
            let file = try GGUFFile(url: out), baseFile = try GGUFFile(url: base)
            let config = try LoRAConfig(contentsOf: adapterDir.appendingPathComponent("adapter_config.json"))
            XCTAssertEqual(file["general.type"]?.string, "adapter")
            XCTAssertEqual(file["adapter.type"]?.string, "lora")
            XCTAssertEqual(file["general.architecture"]?.string, "llama")
            XCTAssertEqual(file["adapter.lora.alpha"]?.float, Float(config.loraAlpha))
            XCTAssertEqual(report.notes.isEmpty, !config.useRSLoRA, "\(name): rsLoRA / alpha_pattern scales are folded and said so")

            // Expected deltas from LoRAKit itself: merged − base, per module, in Hugging Face layout.
            let plain = try ModelLoader.load(base.path), merged = try ModelLoader.load(base.path)
            try LoRAModel.load(from: adapterDir, into: merged.model, plugin: merged.plugin).mergeAndUnload()
            let before = Dictionary(plain.model.namedParameters().map { ($0.path, $0.tensor.scalars) }, uniquingKeysWith: { a, _ in a })
            let heads = try plain.config.int("num_attention_heads"), kvHeads = try plain.config.int("num_key_value_heads")
            let loraTensors = file.tensorNames.filter { $0.hasSuffix(".lora_a") }
            XCTAssertEqual(loraTensors.count * 2, file.tensorNames.count)
            XCTAssertFalse(loraTensors.isEmpty)
            for aName in loraTensors {
                let target = String(aName.dropLast(".lora_a".count)), bName = target + ".lora_b"
                let (a, b, w) = (try file.info(aName), try file.info(bName), try baseFile.info(target))
                XCTAssertEqual(w.dimensions[0], a.dimensions[0], aName)
                XCTAssertEqual(w.dimensions[1], b.dimensions[1], bName)
                XCTAssertEqual(a.dimensions[1], b.dimensions[0], bName)
                let (rank, inF, outF) = (a.dimensions[1], a.dimensions[0], b.dimensions[1])
                let (av, bv) = (try file.floats(aName), try file.floats(bName))
                let scale = Float(config.loraAlpha) / Float(rank)
                var delta = [Float](repeating: 0, count: outF * inF)
                for o in 0..<outF { for i in 0..<inF { var s: Float = 0; for k in 0..<rank { s += bv[o * rank + k] * av[k * inF + i] }; delta[o * inF + i] = scale * s } }
                // Back to Hugging Face row order with the loader's inverse permutation.
                if target.contains("attn_q") { delta = try GGUFTensorMapping.permuteRotaryRows(delta, rows: outF, columns: inF, heads: heads, .fromGGUF) }
                if target.contains("attn_k") { delta = try GGUFTensorMapping.permuteRotaryRows(delta, rows: outF, columns: inF, heads: kvHeads, .fromGGUF) }
                let path = merged.plugin.hfTensor(forGGUF: target, config: merged.config)!.path
                let after = merged.model.namedParameters().first { $0.path == path }!.tensor.scalars
                let expected = zip(after, before[path]!).map { $0 - $1 }
                XCTAssertLessThan(zip(delta, expected).map { abs($0 - $1) }.max()!, 1e-6, "\(name) \(target)")
            }
        }
    }

    func testRefusals() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("x.gguf")
        let base = try baseGGUF("llama-dora", in: dir)
        XCTAssertThrowsError(try GGUFAdapterExport.export(adapter: caseDirectory("llama-dora").appendingPathComponent("adapter"), model: base.path,
                                                          type: .f32, to: out)) { XCTAssertTrue("\($0)".contains("use_dora"), "\($0)") }
        XCTAssertThrowsError(try GGUFAdapterExport.export(adapter: caseDirectory("llama-classification").appendingPathComponent("adapter"),
                                                          model: base.path, type: .f32, to: out)) { XCTAssertTrue("\($0)".contains("modules_to_save"), "\($0)") }
        XCTAssertThrowsError(try GGUFAdapterExport.export(adapter: caseDirectory("llama").appendingPathComponent("adapter"), model: base.path,
                                                          type: .q4_0, to: out)) { XCTAssertTrue("\($0)".contains("q4_0"), "\($0)") }
        XCTAssertThrowsError(try GGUFAdapterExport.export(adapter: caseDirectory("gpt2").appendingPathComponent("adapter"),
                                                          model: base.path, type: .f32, to: out)) { XCTAssertTrue("\($0)".contains("bias \"lora_only\""), "\($0)") }
        // BERT has no llama.cpp mapping in LoRAKit: refused by architecture, whatever the adapter.
        XCTAssertThrowsError(try GGUFAdapterExport.export(adapter: caseDirectory("llama").appendingPathComponent("adapter"),
                                                          model: caseDirectory("bert-classification").appendingPathComponent("model").path, type: .f32, to: out)) {
            XCTAssertTrue("\($0)".contains("BERT models cannot be exported to GGUF"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        // An existing output is kept unless overwriting is asked for.
        try Data("keep".utf8).write(to: out)
        XCTAssertThrowsError(try GGUFModelExport.export(model: base.path, adapter: nil, type: .f32, to: out)) {
            XCTAssertTrue("\($0)".contains("already exists"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "keep")
        try GGUFModelExport.export(model: base.path, adapter: nil, type: .f32, to: out, overwrite: true)
        XCTAssertEqual(try GGUFFile(url: out)["general.type"]?.string, "model")
    }

    /// The template and special tokens recorded at training time (lorakit_tokens.json) are what the merged GGUF
    /// carries, and an id whose spelling differs in the base vocabulary is refused.
    func testTrainingTokensAreWritten() throws {
        let dir = try temporaryDirectory()
        let base = try baseGGUF("llama", in: dir)
        let adapter = dir.appendingPathComponent("adapter")
        try FileManager.default.copyItem(at: caseDirectory("llama").appendingPathComponent("adapter"), to: adapter)
        let template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}"
        let spelling = { (id: Int) in byteLevelSpelling(UInt8(id)) }
        var record = AdapterTokens(chatTemplate: template, template: "custom", bosToken: AdapterTokens.Token(id: 1, content: spelling(1)),
                                   eosToken: AdapterTokens.Token(id: 3, content: spelling(3)), padToken: AdapterTokens.Token(id: 4, content: spelling(4)), unkToken: nil)
        try record.jsonData().write(to: adapter.appendingPathComponent(AdapterTokens.fileName))
        let out = dir.appendingPathComponent("m.gguf")
        try GGUFModelExport.export(model: base.path, adapter: adapter, type: .f32, to: out)
        let file = try GGUFFile(url: out)
        XCTAssertEqual(file["tokenizer.chat_template"]?.string, template)
        XCTAssertEqual(file["tokenizer.ggml.eos_token_id"]?.int, 3)
        XCTAssertEqual(file["tokenizer.ggml.padding_token_id"]?.int, 4)
        XCTAssertEqual(try ModelAssets(reference: out.path).chatTemplateSource, template)

        record.eosToken = AdapterTokens.Token(id: 3, content: "<|im_end|>")
        try record.jsonData().write(to: adapter.appendingPathComponent(AdapterTokens.fileName))
        XCTAssertThrowsError(try GGUFModelExport.export(model: base.path, adapter: adapter, type: .f32, to: out, overwrite: true)) {
            XCTAssertTrue("\($0)".contains("tokenizer.ggml.eos_token_id 3 was \"<|im_end|>\""), "\($0)")
        }
    }
}
