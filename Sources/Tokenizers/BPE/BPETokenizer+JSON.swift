import Foundation

extension BPETokenizer {
    /// A byte-level BPE tokenizer from a Hugging Face tokenizer.json (`model.type == "BPE"`).
    public convenience init(tokenizerJSON url: URL) throws {
        try self.init(tokenizerJSON: TokenizerLoader.readTokenizerJSON(url))
    }

    /// Supported: normalizer null or `NFC`; pre-tokenizer `ByteLevel`, `Split` (isolated) or a `Sequence` of them;
    /// decoder `ByteLevel`; post-processor `TemplateProcessing`, `ByteLevel`, `RobertaProcessing` or a `Sequence`.
    /// Anything else throws `TokenizerError.unsupported` naming the field.
    convenience init(tokenizerJSON json: JSONObject) throws {
        let model = try json.object("model")
        let type = try model.string("type")
        guard type == "BPE" else { throw TokenizerError.unsupported(model.fieldPath("type"), type: type) }
        if try model.bool("byte_fallback", default: false) {
            throw TokenizerError.unsupported(model.fieldPath("byte_fallback"), type: "true")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value: String = try model.optional(key), !value.isEmpty {
                throw TokenizerError.unsupported(model.fieldPath(key), type: value)
            }
        }
        let vocab = try TokenizerLoader.vocab(model)
        let merges = try Self.merges(model)
        let added = try TokenizerLoader.addedTokens(json)

        var normalizeNFC = false
        if let normalizer = try json.optionalObject("normalizer") {
            let kind = try normalizer.string("type")
            guard kind == "NFC" else { throw TokenizerError.unsupported(normalizer.fieldPath("type"), type: kind) }
            normalizeNFC = true
        }
        var patterns: [String] = []
        var addPrefixSpace = false
        if let preTokenizer = try json.optionalObject("pre_tokenizer") {
            try Self.readPreTokenizer(preTokenizer, patterns: &patterns, addPrefixSpace: &addPrefixSpace)
        }
        if let decoder = try json.optionalObject("decoder") {
            let kind = try decoder.string("type")
            guard kind == "ByteLevel" else { throw TokenizerError.unsupported(decoder.fieldPath("type"), type: kind) }
        }
        let idOf: (String) -> Int? = { token in added.first { $0.content == token }?.id ?? vocab[token] }
        let postProcessor = try PostProcessor(json: json.optionalObject("post_processor"), idOf: idOf)
        let unk: String? = try model.optional("unk_token")
        try self.init(vocab: vocab, merges: merges, addedTokens: added, splitPatterns: patterns,
                      addPrefixSpace: addPrefixSpace, ignoreMerges: try model.bool("ignore_merges", default: false),
                      normalizeNFC: normalizeNFC, postProcessor: postProcessor,
                      unkTokenID: unk.flatMap(idOf), mergesField: model.fieldPath("merges"))
    }

    /// `model.merges` as `"a b"` strings (older files) or `["a", "b"]` pairs (newer files).
    private static func merges(_ model: JSONObject) throws -> [(String, String)] {
        let raw: [Any] = try model.value("merges")
        return try raw.enumerated().map { index, entry in
            if let pair = entry as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let text = entry as? String {
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2 { return (String(parts[0]), String(parts[1])) }
            }
            throw TokenizerError.invalidField("\(model.fieldPath("merges"))[\(index)]", reason: "expected \"a b\" or [a, b]")
        }
    }

    private static func readPreTokenizer(_ json: JSONObject, patterns: inout [String], addPrefixSpace: inout Bool) throws {
        let kind = try json.string("type")
        switch kind {
        case "Sequence":
            for step in try json.objects("pretokenizers") {
                try readPreTokenizer(step, patterns: &patterns, addPrefixSpace: &addPrefixSpace)
            }
        case "ByteLevel":
            if try json.bool("add_prefix_space", default: true) { addPrefixSpace = true }
            if try json.bool("use_regex", default: true) { patterns.append(PreTokenizerPatterns.gpt2) }
        case "Split":
            let behavior = try json.string("behavior")
            guard behavior == "Isolated" else { throw TokenizerError.unsupported(json.fieldPath("behavior"), type: behavior) }
            if try json.bool("invert", default: false) { throw TokenizerError.unsupported(json.fieldPath("invert"), type: "true") }
            let pattern = try json.object("pattern")
            if let regex: String = try pattern.optional("Regex") {
                patterns.append(regex)
            } else {
                patterns.append(NSRegularExpression.escapedPattern(for: try pattern.string("String")))
            }
        default:
            throw TokenizerError.unsupported(json.fieldPath("type"), type: kind)
        }
    }
}
