import Foundation

/// BERT's WordPiece tokenizer (e.g. all-MiniLM-L6-v2): added tokens → `BertNormalizer` → `BertPreTokenizer`
/// (split on whitespace, punctuation kept as its own piece) → WordPiece → `[CLS] … [SEP]`.
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    let model: WordPieceModel
    public let normalizer: BertNormalizer?
    public let postProcessor: PostProcessor
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedTokenIDs: [String: Int]
    private let addedTokenByID: [Int: AddedToken]
    /// The `WordPiece` decoder's `cleanup`: " ." → "." and the like.
    private let decoderCleanup: Bool

    public let specialTokenIDs: Set<Int>
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    public let unkTokenID: Int?
    public let vocabularySize: Int

    /// - Parameters:
    ///   - vocab: token → id, continuation pieces spelled with `continuingSubwordPrefix`.
    ///   - normalizer: nil leaves the text as it is.
    public init(vocab: [String: Int], unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100, normalizer: BertNormalizer? = BertNormalizer(),
                addedTokens: [AddedToken], postProcessor: PostProcessor, padTokenID: Int? = nil,
                decoderCleanup: Bool = true, vocabField: String = "model.vocab") throws {
        self.model = try WordPieceModel(vocab: vocab, unkToken: unkToken, prefix: continuingSubwordPrefix,
                                        maxInputCharsPerWord: maxInputCharsPerWord, field: vocabField)
        self.normalizer = normalizer
        self.postProcessor = postProcessor
        self.rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        self.normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        var addedTokenIDs: [String: Int] = [:]
        var addedTokenByID: [Int: AddedToken] = [:]
        for token in addedTokens {
            addedTokenIDs[token.content] = token.id
            addedTokenByID[token.id] = token
        }
        self.addedTokenIDs = addedTokenIDs
        self.addedTokenByID = addedTokenByID
        self.decoderCleanup = decoderCleanup
        self.specialTokenIDs = Set(addedTokens.filter(\.special).map(\.id))
        // BERT has no BOS/EOS; [CLS] and [SEP] play those parts for callers that need a start or end id.
        self.bosTokenID = addedTokenIDs["[CLS]"] ?? vocab["[CLS]"]
        self.eosTokenID = addedTokenIDs["[SEP]"] ?? vocab["[SEP]"]
        self.padTokenID = padTokenID ?? addedTokenIDs["[PAD]"] ?? vocab["[PAD]"]
        self.unkTokenID = model.unkID
        self.vocabularySize = max(model.tokens.count, (addedTokens.map(\.id).max() ?? -1) + 1)
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        let units = Array(text.utf16)
        units.withUnsafeBufferPointer { buffer in
            for segment in rawMatcher.split(buffer, range: 0..<buffer.count) {
                switch segment {
                case let .token(id): ids.append(id)
                case let .text(range): encodeNormalizing(UnsafeBufferPointer(rebasing: buffer[range]), into: &ids)
                }
            }
        }
        return addSpecialTokens ? postProcessor.apply(ids).ids : ids
    }

    private func encodeNormalizing(_ raw: UnsafeBufferPointer<UInt16>, into ids: inout [Int]) {
        let scalars = normalizer?.normalize(raw) ?? Array(String(decoding: raw, as: UTF16.self).unicodeScalars)
        guard !normalizedMatcher.isEmpty else { return preTokenizeAndEncode(scalars[...], into: &ids) }
        var string = String.UnicodeScalarView()
        string.append(contentsOf: scalars)
        let units = Array(String(string).utf16)
        units.withUnsafeBufferPointer { buffer in
            for segment in normalizedMatcher.split(buffer, range: 0..<buffer.count) {
                switch segment {
                case let .token(id): ids.append(id)
                case let .text(range):
                    let piece = Array(String(decoding: buffer[range], as: UTF16.self).unicodeScalars)
                    preTokenizeAndEncode(piece[...], into: &ids)
                }
            }
        }
    }

    /// `BertPreTokenizer`: whitespace separates words and is dropped; each punctuation character is a word.
    private func preTokenizeAndEncode(_ scalars: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        var wordStart = scalars.startIndex
        for index in scalars.indices {
            let scalar = scalars[index]
            if UnicodeCategories.isWhitespace(scalar) {
                if wordStart < index { model.encodeWord(scalars[wordStart..<index], into: &ids) }
                wordStart = index + 1
            } else if UnicodeCategories.isPunctuation(scalar) {
                if wordStart < index { model.encodeWord(scalars[wordStart..<index], into: &ids) }
                model.encodeWord(scalars[index...index], into: &ids)
                wordStart = index + 1
            }
        }
        if wordStart < scalars.endIndex { model.encodeWord(scalars[wordStart...], into: &ids) }
    }

    /// The `WordPiece` decoder: pieces joined with spaces, `##` pieces glued to the previous one.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var text = ""
        var first = true
        for id in ids {
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            guard var piece = token(forID: id) else { continue }
            if !first {
                if piece.hasPrefix(model.prefix) { piece.removeFirst(model.prefix.count) } else { piece = " " + piece }
            }
            first = false
            text += decoderCleanup ? Self.cleanup(piece) : piece
        }
        return text
    }

    /// The Rust crate's `cleanup`, applied to each decoded piece.
    static func cleanup(_ piece: String) -> String {
        var text = piece
        for (dirty, clean) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                               (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            text = text.replacingOccurrences(of: dirty, with: clean)
        }
        return text
    }

    public func id(forToken token: String) -> Int? { addedTokenIDs[token] ?? model.idForToken[token] }

    public func token(forID id: Int) -> String? {
        if let added = addedTokenByID[id] { return added.content }
        return id >= 0 && id < model.tokens.count ? model.tokens[id] : nil
    }
}

extension WordPieceTokenizer {
    /// A BERT tokenizer from a plain vocab.txt (one token per line, id = line number) with BERT's defaults:
    /// lower-casing, accent stripping, `[CLS] … [SEP]`, and `[PAD] [UNK] [CLS] [SEP] [MASK]` as special tokens.
    public convenience init(vocabTXT url: URL, lowercase: Bool = true) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TokenizerError.unreadableFile(url.path, reason: error.localizedDescription)
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        var vocab: [String: Int] = [:]
        for (id, line) in lines.enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : line
            if vocab[token] == nil { vocab[token] = id }
        }
        let added = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { name in
            vocab[name].map { AddedToken(content: name, id: $0, special: true) }
        }
        guard let cls = vocab["[CLS]"], let sep = vocab["[SEP]"] else {
            throw TokenizerError.invalidField(url.lastPathComponent, reason: "vocab.txt lacks [CLS] or [SEP]")
        }
        try self.init(vocab: vocab, normalizer: BertNormalizer(lowercase: lowercase), addedTokens: added,
                      postProcessor: .bert(cls: cls, sep: sep), vocabField: url.lastPathComponent)
    }
}
