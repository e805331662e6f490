import Foundation
import ArchitectureKit
import ModelFormats
import NN

/// `lorakit export --model M [--adapter DIR] --format gguf`: the model with the adapter merged (PEFT's
/// merge_and_unload), as a llama.cpp model GGUF: the base's metadata with the hyperparameters LoRAKit's plugin
/// derives from the config, the base's tokenizer (`tokenizer.ggml.*`), the chat template and special tokens the
/// adapter was trained with (`lorakit_tokens.json`), and exactly the tensors llama.cpp's converter writes (a tied
/// output matrix left out), Q and K rows permuted for llama.cpp's rotary layout.
public enum GGUFModelExport {
    @discardableResult
    public static func export(model reference: String, adapter: URL?, type: GGUFExportType, to url: URL, overwrite: Bool = false,
                              registry: ArchitectureRegistry = .shared) throws -> GGUFExportReport {
        if FileManager.default.fileExists(atPath: url.path) && !overwrite { throw GGUFWriteError.exists(path: url.path) }
        let base = try GGUFExportBase(reference: reference, registry: registry)
        guard let baseFile = base.gguf else {
            throw GGUFExportError("\(base.location.path): merged GGUF export takes its tokenizer from a .gguf base (tokenizer.ggml.*); "
                + "Hugging Face directories are not converted yet — use the model's GGUF, e.g. an alias from `lorakit models list`")
        }
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
        let replaced: Set<String> = ["general.file_type", "general.quantization_version", "general.type"]
        for key in baseFile.metadataKeys where !replaced.contains(key) { writer.set(key, baseFile.metadata[key]!) }
        writer.set("general.type", .string("model"))
        for (key, value) in try base.plugin.ggufHyperparameters(config: loaded.config) { writer.set(key, value) }
        writer.set("general.file_type", .uint32(type.fileType))
        if type.isQuantized { writer.set("general.quantization_version", .uint32(2)) }
        if let tokens { try apply(tokens, to: &writer, vocabulary: baseFile.metadata["tokenizer.ggml.tokens"]?.strings, source: adapter!) }

        let parameters = Dictionary(loaded.model.namedParameters().map { ($0.path, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let names = loaded.plugin.ggufTensorNames(config: loaded.config)
        for name in names {
            guard let mapping = loaded.plugin.hfTensor(forGGUF: name, config: loaded.config), let tensor = parameters[mapping.path] else {
                throw GGUFExportError("\(name): no parameter of the loaded \(loaded.plugin.name) model maps to it")
            }
            var values = tensor.scalars
            if let heads = mapping.undoRotaryPermutation {
                values = try RotaryPermutation.apply(values, rows: tensor.shape[0], columns: tensor.shape.dropFirst().reduce(1, *), heads: heads)
            }
            try writer.addConverted(name, shape: tensor.shape, values: values, type: type.ggmlType, report: &report)
        }
        // Tensors of the base file that are not weights (llama.cpp's precomputed rope_freqs) are copied as they are;
        // any other tensor the export would drop is an error rather than a silently different model.
        for name in baseFile.tensorNames where !names.contains(name) {
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
