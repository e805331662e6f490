import Foundation
import ArchitectureKit
import ModelFormats
import NN

/// `lorakit export --model M [--adapter DIR] --format gguf`: the model with the adapter merged (PEFT's
/// merge_and_unload), as a llama.cpp model GGUF: the hyperparameters LoRAKit's plugin derives from the config; the
/// tokenizer — the base GGUF's `tokenizer.ggml.*`, or for a Hugging Face directory the keys written from its
/// tokenizer.json (`GGUFTokenizerExport`); the chat template and special tokens the adapter was trained with
/// (`lorakit_tokens.json`); and exactly the tensors llama.cpp's converter writes (a tied output matrix left out),
/// each moved to llama.cpp's layout by its `GGUFTensorMapping` (Q/K rotary rows, GPT-2 transposes, Falcon's QKV).
public enum GGUFModelExport {
    @discardableResult
    public static func export(model reference: String, adapter: URL?, type: GGUFExportType, to url: URL, overwrite: Bool = false,
                              registry: ArchitectureRegistry = .shared) throws -> GGUFExportReport {
        if FileManager.default.fileExists(atPath: url.path) && !overwrite { throw GGUFWriteError.exists(path: url.path) }
        let base = try GGUFExportBase(reference: reference, registry: registry)
        var report = GGUFExportReport()
        var tokens: AdapterTokens?
        let loaded = try ModelLoader.load(reference, registry: registry)
        if let adapter {
            let config = try LoRAConfig(contentsOf: adapter.appendingPathComponent("adapter_config.json"))
            if config.taskType == "SEQ_CLS" {
                throw GGUFExportError("\(adapter.path): a sequence-classification adapter; the merged GGUF is a causal LM (llama.cpp has no classification head for \(base.architecture))")
            }
            let lora = try LoRAModel.load(from: adapter, into: loaded.model, plugin: loaded.plugin)
            try lora.mergeAndUnload()
            tokens = try AdapterTokens.read(from: adapter)
            if tokens == nil {
                report.notes.append("\(adapter.path) has no \(AdapterTokens.fileName): the base model's chat template and special tokens are written")
            }
        }

        var writer = GGUFWriter()
        if let baseFile = base.gguf {
            // The base's own metadata (name, tokenizer, license …), with the keys below replaced.
            let replaced: Set<String> = ["general.file_type", "general.quantization_version", "general.type"]
            for key in baseFile.metadataKeys where !replaced.contains(key) { writer.set(key, baseFile.metadata[key]!) }
        } else {
            writer.set("general.architecture", .string(base.architecture))
            writer.set("general.name", .string(base.location.standardizedFileURL.lastPathComponent))
            let vocabularySize = try loaded.config.int("vocab_size")
            for (key, value) in try GGUFTokenizerExport.metadata(directory: base.location, vocabularySize: vocabularySize) { writer.set(key, value) }
        }
        writer.set("general.type", .string("model"))
        for (key, value) in try base.plugin.ggufHyperparameters(config: loaded.config) { writer.set(key, value) }
        writer.set("general.file_type", .uint32(type.fileType))
        if type.isQuantized { writer.set("general.quantization_version", .uint32(2)) }
        if let tokens {
            let vocabulary = writer.metadata.first { $0.key == "tokenizer.ggml.tokens" }?.value.strings
            try apply(tokens, to: &writer, vocabulary: vocabulary, source: adapter!)
        }

        let parameters = Dictionary(loaded.model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let names = loaded.plugin.ggufTensorNames(config: loaded.config)
        for name in names {
            guard let mapping = loaded.plugin.hfTensor(forGGUF: name, config: loaded.config), let tensor = parameters[mapping.path] else {
                throw GGUFExportError("\(name): no parameter of the loaded \(loaded.plugin.name) model maps to it")
            }
            let (values, shape) = try mapping.rearrange(tensor.scalars, shape: tensor.shape, .toGGUF)
            try writer.addConverted(name, shape: shape, values: values, type: type.ggmlType, report: &report)
        }
        // Tensors of the base file that are not weights (llama.cpp's precomputed rope_freqs) are copied as they are;
        // any other tensor the export would drop is an error rather than a silently different model.
        for name in base.gguf?.tensorNames ?? [] where !names.contains(name) {
            let baseFile = base.gguf!
            guard name.hasPrefix("rope_freqs") else {
                throw GGUFExportError("\(baseFile.url.path): tensor '\(name)' has no place in the exported \(base.architecture) model")
            }
            let info = try baseFile.info(name)
            try writer.addTensor(name, dimensions: info.dimensions, type: info.type, bytes: Array(try baseFile.rawBytes(name)))
            report.tensorCount += 1
        }
        try writer.write(to: url, overwrite: overwrite)
        return report
    }

    /// Writes the training-time template and special-token ids, after checking that each id is spelled the same in
    /// the exported vocabulary (a different tokenizer would make the ids mean other tokens).
    static func apply(_ tokens: AdapterTokens, to writer: inout GGUFWriter, vocabulary: [String]?, source: URL) throws {
        if let template = tokens.chatTemplate { writer.set("tokenizer.chat_template", .string(template)) } else { writer.remove("tokenizer.chat_template") }
        for (token, key) in [(tokens.bosToken, "tokenizer.ggml.bos_token_id"), (tokens.eosToken, "tokenizer.ggml.eos_token_id"),
                             (tokens.padToken, "tokenizer.ggml.padding_token_id"), (tokens.unkToken, "tokenizer.ggml.unknown_token_id")] {
            guard let token else { continue }
            if let vocabulary {
                guard token.id >= 0, token.id < vocabulary.count, vocabulary[token.id] == token.content else {
                    let found = token.id >= 0 && token.id < vocabulary.count ? "\"\(vocabulary[token.id])\"" : "out of range"
                    throw GGUFExportError("\(source.path)/\(AdapterTokens.fileName): \(key) \(token.id) was \"\(token.content)\" in training but is \(found) in the base vocabulary")
                }
            }
            writer.set(key, .uint32(UInt32(token.id)))
        }
    }
}
