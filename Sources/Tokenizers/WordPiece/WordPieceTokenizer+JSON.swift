import Foundation

extension WordPieceTokenizer {
    /// A WordPiece tokenizer from a Hugging Face tokenizer.json (`model.type == "WordPiece"`).
    public convenience init(tokenizerJSON url: URL) throws {
        try self.init(tokenizerJSON: TokenizerLoader.readTokenizerJSON(url))
    }

    /// Supported: normalizer `BertNormalizer` or null; pre-tokenizer `BertPreTokenizer`; decoder `WordPiece`;
    /// post-processor `TemplateProcessing` or `BertProcessing`.
    convenience init(tokenizerJSON json: JSONObject) throws {
        let model = try json.object("model")
        let type = try model.string("type")
        guard type == "WordPiece" else { throw TokenizerError.unsupported(model.fieldPath("type"), type: type) }
        let vocab = try TokenizerLoader.vocab(model)
        let added = try TokenizerLoader.addedTokens(json)

        var normalizer: BertNormalizer?
        if let spec = try json.optionalObject("normalizer") {
            let kind = try spec.string("type")
            guard kind == "BertNormalizer" else { throw TokenizerError.unsupported(spec.fieldPath("type"), type: kind) }
            let strip: NSNumber? = try spec.optional("strip_accents")
            normalizer = BertNormalizer(cleanText: try spec.bool("clean_text", default: true),
                                        handleChineseChars: try spec.bool("handle_chinese_chars", default: true),
                                        stripAccents: strip?.boolValue, lowercase: try spec.bool("lowercase", default: true))
        }
        if let spec = try json.optionalObject("pre_tokenizer") {
            let kind = try spec.string("type")
            guard kind == "BertPreTokenizer" else { throw TokenizerError.unsupported(spec.fieldPath("type"), type: kind) }
        }
        var cleanup = true
        if let spec = try json.optionalObject("decoder") {
            let kind = try spec.string("type")
            guard kind == "WordPiece" else { throw TokenizerError.unsupported(spec.fieldPath("type"), type: kind) }
            cleanup = try spec.bool("cleanup", default: true)
        }
        let idOf: (String) -> Int? = { token in added.first { $0.content == token }?.id ?? vocab[token] }
        let postProcessor = try PostProcessor(json: json.optionalObject("post_processor"), idOf: idOf)
        let padding = try json.optionalObject("padding")
        let padID: Int? = try padding.flatMap { try $0.has("pad_id") ? $0.tokenID("pad_id") : nil }
        try self.init(vocab: vocab, unkToken: try model.has("unk_token") ? model.string("unk_token") : "[UNK]",
                      continuingSubwordPrefix: try model.has("continuing_subword_prefix")
                          ? model.string("continuing_subword_prefix") : "##",
                      maxInputCharsPerWord: try model.has("max_input_chars_per_word") ? model.int("max_input_chars_per_word") : 100,
                      normalizer: normalizer, addedTokens: added, postProcessor: postProcessor, padTokenID: padID,
                      decoderCleanup: cleanup, vocabField: model.fieldPath("vocab"))
    }
}
