import Foundation

/// Byte-level BPE (GPT-2, Llama 3, SmolLM2, Qwen 2): added tokens → optional NFC → regex split → BPE → template.
///
/// Build it from a Hugging Face tokenizer.json (`init(tokenizerJSON:)`) or from GGUF metadata arrays
/// (`init(ggufTokens:…)`).
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
    let model: BPEModel
    /// Added tokens matched in the raw text (`normalized: false`), then those matched after normalization.
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let normalizeNFC: Bool
    /// Applied in order, each splitting the pieces of the previous one.
    private let splitters: [ICURegex]
    /// `ByteLevel(add_prefix_space: true)`: a space before text that does not start with one.
    private let addPrefixSpace: Bool
    /// `ignore_merges`: a pre-token that is itself in the vocabulary is taken whole (Llama 3's tokenizer.json).
    private let ignoreMerges: Bool
    public let postProcessor: PostProcessor
    private let addedTokenIDs: [String: Int]
    private let addedTokenByID: [Int: AddedToken]
    /// What each id decodes to, as the `ByteLevel` decoder computes it.
    private let decodedBytes: [[UInt8]]

    public let specialTokenIDs: Set<Int>
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    public let unkTokenID: Int?
    public let vocabularySize: Int

    /// The added tokens, in id order.
    public var addedTokens: [AddedToken] { addedTokenByID.values.sorted { $0.id < $1.id } }

    /// - Parameters:
    ///   - vocab: byte-level spelling → id.
    ///   - merges: spelling pairs, best first.
    ///   - splitPatterns: regexes applied in turn, each piece kept (`Split(…, behavior: "isolated")`).
    ///   - normalizeNFC: apply Unicode NFC before splitting (Qwen 2's normalizer).
    public init(vocab: [String: Int], merges: [(String, String)], addedTokens: [AddedToken] = [],
                splitPatterns: [String], addPrefixSpace: Bool = false, ignoreMerges: Bool = false,
                normalizeNFC: Bool = false, postProcessor: PostProcessor = .none,
                bosTokenID: Int? = nil, eosTokenID: Int? = nil, padTokenID: Int? = nil, unkTokenID: Int? = nil,
                mergesField: String = "merges") throws {
        self.model = try BPEModel(vocab: vocab, merges: merges, field: mergesField)
        self.rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        self.normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        self.normalizeNFC = normalizeNFC
        self.splitters = try splitPatterns.map(ICURegex.init)
        self.addPrefixSpace = addPrefixSpace
        self.ignoreMerges = ignoreMerges
        self.postProcessor = postProcessor
        var addedTokenIDs: [String: Int] = [:]
        var addedTokenByID: [Int: AddedToken] = [:]
        for token in addedTokens {
            addedTokenIDs[token.content] = token.id
            addedTokenByID[token.id] = token
        }
        self.addedTokenIDs = addedTokenIDs
        self.addedTokenByID = addedTokenByID
        self.specialTokenIDs = Set(addedTokens.filter(\.special).map(\.id))
        let model = self.model
        let vocabularySize = max(model.spellings.count, (addedTokens.map(\.id).max() ?? -1) + 1)
        self.vocabularySize = vocabularySize
        self.decodedBytes = (0..<vocabularySize).map { id in
            if let added = addedTokenByID[id] { return ByteLevel.decodedBytes(of: added.content) }
            return id < model.spellings.count ? model.spellings[id].map(ByteLevel.decodedBytes) ?? [] : []
        }
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID
        self.unkTokenID = unkTokenID
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
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
        guard normalizeNFC || !normalizedMatcher.isEmpty else { return encodePlain(raw, into: &ids) }
        var units = Array(raw)
        if normalizeNFC {
            units = Array(String(decoding: units, as: UTF16.self).precomposedStringWithCanonicalMapping.utf16)
        }
        units.withUnsafeBufferPointer { buffer in
            for segment in normalizedMatcher.split(buffer, range: 0..<buffer.count) {
                switch segment {
                case let .token(id): ids.append(id)
                case let .text(range): encodePlain(UnsafeBufferPointer(rebasing: buffer[range]), into: &ids)
                }
            }
        }
    }

    /// Text without added tokens: pre-tokenize, then BPE each piece.
    private func encodePlain(_ text: UnsafeBufferPointer<UInt16>, into ids: inout [Int]) {
        if addPrefixSpace, let first = text.first, first != 0x20 {
            var prefixed: [UInt16] = [0x20]
            prefixed.append(contentsOf: text)
            return prefixed.withUnsafeBufferPointer { splitAndMerge($0, level: 0, into: &ids) }
        }
        splitAndMerge(text, level: 0, into: &ids)
    }

    private func splitAndMerge(_ text: UnsafeBufferPointer<UInt16>, level: Int, into ids: inout [Int]) {
        guard level < splitters.count else {
            var word: [UInt8] = []
            word.reserveCapacity(text.count * 2)
            appendUTF8(of: text, to: &word)
            if ignoreMerges, let id = model.idForSpelling[ByteLevel.spell(word)] {
                ids.append(id)
            } else {
                model.encodeWord(word, into: &ids)
            }
            return
        }
        for piece in splitters[level].splitIsolated(text) {
            splitAndMerge(UnsafeBufferPointer(rebasing: text[piece]), level: level + 1, into: &ids)
        }
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < decodedBytes.count {
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            bytes += decodedBytes[id]
        }
        // Swift replaces each maximal invalid subsequence with one U+FFFD, as Rust's from_utf8_lossy does.
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(forToken token: String) -> Int? { addedTokenIDs[token] ?? model.idForSpelling[token] }

    public func token(forID id: Int) -> String? {
        if let added = addedTokenByID[id] { return added.content }
        return id >= 0 && id < model.spellings.count ? model.spellings[id] : nil
    }
}
