import Foundation

/// Builds the right tokenizer for a Hugging Face tokenizer.json.
public enum TokenizerLoader {
    /// A `BPETokenizer` when `model.type` is `BPE`, a `WordPieceTokenizer` when it is `WordPiece`.
    /// Padding and truncation settings in the file are ignored: `encode` returns every id, as transformers does.
    public static func load(tokenizerJSON url: URL) throws -> any Tokenizer {
        let json = try readTokenizerJSON(url)
        let type = try json.object("model").string("type")
        switch type {
        case "BPE": return try BPETokenizer(tokenizerJSON: json)
        case "WordPiece": return try WordPieceTokenizer(tokenizerJSON: json)
        default: throw TokenizerError.unsupported("model.type", type: type)
        }
    }

    static func readTokenizerJSON(_ url: URL) throws -> JSONObject {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadableFile(url.path, reason: error.localizedDescription)
        }
        return try JSONObject(data: data, name: url.path)
    }

    /// The `added_tokens` list of a tokenizer.json.
    static func addedTokens(_ json: JSONObject) throws -> [AddedToken] {
        guard json.has("added_tokens") else { return [] }
        return try json.objects("added_tokens").map { entry in
            AddedToken(content: try entry.string("content"), id: try entry.tokenID("id"),
                       special: try entry.bool("special", default: false), lstrip: try entry.bool("lstrip", default: false),
                       rstrip: try entry.bool("rstrip", default: false),
                       singleWord: try entry.bool("single_word", default: false),
                       normalized: try entry.bool("normalized", default: true))
        }
    }

    /// `model.vocab` as token → id.
    static func vocab(_ model: JSONObject) throws -> [String: Int] {
        let raw: [String: Any] = try model.value("vocab")
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(raw.count)
        for (token, value) in raw {
            guard let number = value as? NSNumber else {
                throw TokenizerError.invalidField(model.fieldPath("vocab.\(token)"), reason: "id is not a number")
            }
            vocab[token] = try TokenizerLimits.tokenID(number, field: model.fieldPath("vocab.\(token)"))
        }
        return vocab
    }
}

/// Token ids index tables sized by the largest id, so an id is checked before anything is allocated for it.
enum TokenizerLimits {
    /// Far above any real vocabulary (the largest are about 262k), far below a size that would exhaust memory.
    static let maximumID = 1 << 22

    /// A JSON number as a token id: a whole number in 0..<maximumID (NSNumber's intValue would turn 1e300 into
    /// Int.min and 2⁶⁴−1 into −1).
    static func tokenID(_ number: NSNumber, field: String) throws -> Int {
        let value = number.int64Value
        guard Double(value) == number.doubleValue, value >= 0, value < maximumID else {
            throw TokenizerError.invalidField(field, reason: "token id \(number) is not a whole number in 0..<\(maximumID)")
        }
        return Int(value)
    }
}
