import Foundation

/// WordPiece: each word split greedily into the longest vocabulary entries, pieces after the first spelled with
/// the continuation prefix (`##`); a word with no split, or longer than `maxInputCharsPerWord`, becomes `[UNK]`.
final class WordPieceModel: @unchecked Sendable {
    let idForToken: [String: Int]
    let tokens: [String?]
    let unkID: Int
    let prefix: String
    let maxInputCharsPerWord: Int
    /// The longest vocabulary entry in scalars: no candidate piece longer than this can match, which keeps
    /// the greedy search linear in the word length instead of quadratic.
    private let longestToken: Int

    private var cache: [String: [Int]] = [:]
    private let cacheLock = NSLock()
    private let cacheCapacity = 100_000

    init(vocab: [String: Int], unkToken: String, prefix: String, maxInputCharsPerWord: Int, field: String) throws {
        guard let unkID = vocab[unkToken] else {
            throw TokenizerError.invalidField(field, reason: "unknown token \(unkToken) is not in the vocabulary")
        }
        self.idForToken = vocab
        var tokens = [String?](repeating: nil, count: (vocab.values.max() ?? -1) + 1)
        for (token, id) in vocab where id >= 0 { tokens[id] = token }
        self.tokens = tokens
        self.unkID = unkID
        self.prefix = prefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.longestToken = vocab.keys.map(\.unicodeScalars.count).max() ?? 0
    }

    /// Appends the ids of one pre-tokenized word.
    func encodeWord(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        var key = String.UnicodeScalarView()
        key.append(contentsOf: word)
        let text = String(key)
        cacheLock.lock()
        let cached = cache[text]
        cacheLock.unlock()
        if let cached {
            ids += cached
            return
        }
        let pieces = split(Array(word))
        cacheLock.lock()
        if cache.count >= cacheCapacity { cache.removeAll(keepingCapacity: true) }
        cache[text] = pieces
        cacheLock.unlock()
        ids += pieces
    }

    private func split(_ word: [Unicode.Scalar]) -> [Int] {
        if word.count > maxInputCharsPerWord { return [unkID] }
        var pieces: [Int] = []
        var start = 0
        while start < word.count {
            let prefixLength = start > 0 ? prefix.unicodeScalars.count : 0
            var end = min(word.count, start + max(0, longestToken - prefixLength))
            var found: Int?
            while end > start {
                var candidate = String.UnicodeScalarView()
                if start > 0 { candidate.append(contentsOf: prefix.unicodeScalars) }
                candidate.append(contentsOf: word[start..<end])
                if let id = idForToken[String(candidate)] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unkID] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}
