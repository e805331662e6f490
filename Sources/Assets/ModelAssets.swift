import Foundation
import ArchitectureKit
import ModelFormats
import Tokenizers

public enum ModelAssetsError: Error, CustomStringConvertible {
    case noTokenizer(String)
    case badMetadata(String)
    public var description: String {
        switch self {
        case .noTokenizer(let s): return "\(s): no tokenizer (tokenizer.json, vocab.txt or GGUF tokenizer.ggml.* metadata)"
        case .badMetadata(let s): return s
        }
    }
}

/// The tokenizer and chat template that come with a model: from GGUF metadata, or from tokenizer.json /
/// tokenizer_config.json next to the weights. Reading them needs no weights, so `lorakit tokenize` stays fast.
public struct ModelAssets {
    /// The .gguf file or the model directory.
    public let location: URL
    /// GGUF metadata when the model is a .gguf file.
    public let ggufMetadata: GGUFMetadata?

    public init(location: URL, ggufMetadata: GGUFMetadata?) {
        self.location = location
        self.ggufMetadata = ggufMetadata
    }

    /// The assets of a model reference (path or alias) without loading its weights: GGUF tensors are memory-mapped
    /// by `GGUFFile`, never read here.
    public init(reference: String) throws {
        let url = try ModelReference.resolve(reference)
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        self.init(location: url, ggufMetadata: isDirectory.boolValue ? nil : try GGUFFile(url: url).metadata)
    }

    /// The model's tokenizer, built exactly as transformers builds it from the same files.
    public func makeTokenizer() throws -> any Tokenizer {
        if let m = ggufMetadata {
            guard let tokens = m["tokenizer.ggml.tokens"]?.strings else { throw ModelAssetsError.noTokenizer(location.path) }
            guard m["tokenizer.ggml.model"]?.string == "gpt2" else {
                throw ModelAssetsError.badMetadata("\(location.path): tokenizer.ggml.model \"\(m["tokenizer.ggml.model"]?.string ?? "?")\" is not supported (byte-level BPE \"gpt2\" is)")
            }
            return try BPETokenizer(
                ggufTokens: tokens, merges: m["tokenizer.ggml.merges"]?.strings ?? [],
                tokenTypes: m["tokenizer.ggml.token_type"]?.ints?.map { Int32($0) },
                preTokenizer: m["tokenizer.ggml.pre"]?.string,
                bosTokenID: m["tokenizer.ggml.bos_token_id"]?.int, eosTokenID: m["tokenizer.ggml.eos_token_id"]?.int,
                padTokenID: m["tokenizer.ggml.padding_token_id"]?.int, unkTokenID: m["tokenizer.ggml.unknown_token_id"]?.int,
                addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false, addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false)
        }
        let json = location.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) { return try TokenizerLoader.load(tokenizerJSON: json) }
        let vocab = location.appendingPathComponent("vocab.txt")
        if FileManager.default.fileExists(atPath: vocab.path) { return try WordPieceTokenizer(vocabTXT: vocab) }
        throw ModelAssetsError.noTokenizer(location.path)
    }

    /// The chat template source (Jinja), if the model ships one.
    public var chatTemplateSource: String? {
        if let m = ggufMetadata { return m["tokenizer.chat_template"]?.string }
        let url = location.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: url),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["chat_template"] as? String
    }
}

extension LoadedModel {
    /// The tokenizer and template files of this model.
    public var assets: ModelAssets { ModelAssets(location: location, ggufMetadata: ggufMetadata) }

    /// The model's tokenizer, built exactly as transformers builds it from the same files.
    public func makeTokenizer() throws -> any Tokenizer { try assets.makeTokenizer() }

    /// The chat template source (Jinja), if the model ships one.
    public var chatTemplateSource: String? { assets.chatTemplateSource }

    /// Token ids that end a generation: EOS and the template's end-of-turn markers present in the vocabulary.
    public func stopTokenIDs(_ tokenizer: any Tokenizer) -> Set<Int> {
        var ids = Set<Int>()
        if let eos = tokenizer.eosTokenID { ids.insert(eos) }
        // generation_config / config.json may list several EOS ids (Llama 3 does).
        if let eos = config.values["eos_token_id"] as? Int { ids.insert(eos) }
        if let list = config.values["eos_token_id"] as? [Int] { ids.formUnion(list) }
        for marker in ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>"] {
            if let id = tokenizer.id(forToken: marker) { ids.insert(id) }
        }
        return ids
    }
}
