import Foundation

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
public enum GGUFTokenType: Int32, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

extension BPETokenizer {
    /// A byte-level BPE tokenizer from GGUF metadata (`tokenizer.ggml.model == "gpt2"`), built the way transformers
    /// builds it (`integrations/gguf/gguf_tokenizer_mapping.py`), so ids match `AutoTokenizer(…, gguf_file:)`:
    /// - a token spelled outside the byte alphabet is respelled from its UTF-8 bytes;
    /// - control tokens (type 3) spelled in the byte alphabet become special added tokens, user-defined ones
    ///   (type 4) plain added tokens, both matched in the raw text;
    /// - `<|endoftext|>` is always a special added token (transformers' GPT-2 class declares it), appended after
    ///   the vocabulary when the file lacks it;
    /// - the split regex comes from `preTokenizer` through `PreTokenizerPatterns.pattern(forGGUFPre:)`;
    /// - `addBOS` / `addEOS` (`tokenizer.ggml.add_bos_token` / `add_eos_token`) decide what
    ///   `encode(_:addSpecialTokens: true)` adds.
    public convenience init(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int32]?,
                            preTokenizer: String?, bosTokenID: Int? = nil, eosTokenID: Int? = nil,
                            padTokenID: Int? = nil, unkTokenID: Int? = nil,
                            addBOS: Bool = false, addEOS: Bool = false) throws {
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw TokenizerError.invalidField("tokenizer.ggml.token_type",
                                              reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            let spelling = ByteLevel.bytes(ofSpelling: token) != nil ? token : ByteLevel.spell(Array(token.utf8))
            vocab[spelling] = id
        }
        let pairs = try merges.enumerated().map { index, merge -> (String, String) in
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidField("tokenizer.ggml.merges[\(index)]", reason: "expected \"left right\", found \"\(merge)\"")
            }
            return (String(parts[0]), String(parts[1]))
        }

        var added: [AddedToken] = []
        for (id, type) in (tokenTypes ?? []).enumerated() {
            let token = tokens[id]
            if type == GGUFTokenType.control.rawValue, ByteLevel.bytes(ofSpelling: token) != nil {
                added.append(AddedToken(content: token, id: id, special: true))
            } else if type == GGUFTokenType.userDefined.rawValue, vocab[token] != nil {
                added.append(AddedToken(content: token, id: vocab[token]!, special: false))
            }
        }
        let endOfText = "<|endoftext|>"
        if let existing = added.firstIndex(where: { $0.content == endOfText }) {
            added[existing].special = true
        } else {
            added.append(AddedToken(content: endOfText, id: vocab[endOfText] ?? tokens.count, special: true))
        }

        let bos = addBOS ? bosTokenID : nil
        let eos = addEOS ? eosTokenID : nil
        try self.init(vocab: vocab, merges: pairs, addedTokens: added,
                      splitPatterns: [PreTokenizerPatterns.pattern(forGGUFPre: preTokenizer)],
                      postProcessor: bos == nil && eos == nil ? .none : .bosEos(bos: bos, eos: eos),
                      bosTokenID: bosTokenID, eosTokenID: eosTokenID, padTokenID: padTokenID, unkTokenID: unkTokenID,
                      mergesField: "tokenizer.ggml.merges")
    }

    /// A tokenizer from a JSON file holding GGUF tokenizer metadata under its GGUF key names
    /// (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`, `tokenizer.ggml.token_type`, `tokenizer.ggml.pre`,
    /// `tokenizer.ggml.bos_token_id`, …), as shipped in `tokenizers/smollm2/vocabulary.json`.
    public convenience init(ggufVocabularyJSON url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadableFile(url.path, reason: error.localizedDescription)
        }
        let json = try JSONObject(data: data, name: url.path)
        let model = try json.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw TokenizerError.unsupported("tokenizer.ggml.model", type: model) }
        let types: [NSNumber]? = try json.optional("tokenizer.ggml.token_type")
        func id(_ key: String) throws -> Int? { try json.has(key) ? json.int(key) : nil }
        try self.init(ggufTokens: try json.value("tokenizer.ggml.tokens"), merges: try json.value("tokenizer.ggml.merges"),
                      tokenTypes: types?.map(\.int32Value), preTokenizer: try json.optional("tokenizer.ggml.pre"),
                      bosTokenID: try id("tokenizer.ggml.bos_token_id"), eosTokenID: try id("tokenizer.ggml.eos_token_id"),
                      padTokenID: try id("tokenizer.ggml.padding_token_id"),
                      unkTokenID: try id("tokenizer.ggml.unknown_token_id"),
                      addBOS: try json.bool("tokenizer.ggml.add_bos_token", default: false),
                      addEOS: try json.bool("tokenizer.ggml.add_eos_token", default: false))
    }
}
