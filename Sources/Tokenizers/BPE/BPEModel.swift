import Foundation

/// Byte-level BPE: a vocabulary of byte strings and rank-ordered merges, applied to one pre-token at a time.
///
/// Words are worked on as raw UTF-8 bytes; the byte-level spelling (`Ġ` for space) only matters when reading the
/// vocabulary. Results are cached per word, since running text repeats a small set of words.
final class BPEModel: @unchecked Sendable {
    /// Vocabulary spelling of each id; nil for ids the vocabulary skips.
    let spellings: [String?]
    let idForSpelling: [String: Int]
    /// The id of each single byte's token, or -1 when the vocabulary lacks it (the byte is then dropped, as the
    /// Rust crate does without an unknown token).
    private let byteIDs: [Int32]
    /// Pair `(left << 32 | right)` → `(rank << 32 | merged id)`; a lower rank merges first.
    private let merges: [UInt64: UInt64]

    private var cache: [[UInt8]: [Int32]] = [:]
    private let cacheLock = NSLock()
    /// The Rust crate also bounds its word cache; past this the cache starts over.
    private let cacheCapacity = 100_000

    /// - Parameters:
    ///   - vocab: byte-level spelling → id.
    ///   - merges: pairs of spellings in rank order (rank = index); `field` names them in errors.
    init(vocab: [String: Int], merges: [(String, String)], field: String) throws {
        let size = (vocab.values.max() ?? -1) + 1
        var spellings = [String?](repeating: nil, count: size)
        for (token, id) in vocab {
            guard id >= 0 else { throw TokenizerError.invalidField(field, reason: "negative id \(id) for \(token)") }
            spellings[id] = token
        }
        self.spellings = spellings
        self.idForSpelling = vocab
        self.byteIDs = ByteLevel.characterForByte.map { Int32(vocab[String($0)] ?? -1) }

        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftID = vocab[left], let rightID = vocab[right] else {
                throw TokenizerError.invalidField("\(field)[\(rank)]", reason: "merge \"\(left) \(right)\" uses a token outside the vocabulary")
            }
            guard let mergedID = vocab[left + right] else {
                throw TokenizerError.invalidField("\(field)[\(rank)]", reason: "merged token \"\(left + right)\" is not in the vocabulary")
            }
            // A repeated pair keeps its last rank, as the Rust crate's HashMap collect does.
            table[UInt64(leftID) << 32 | UInt64(rightID)] = UInt64(rank) << 32 | UInt64(mergedID)
        }
        self.merges = table
    }

    /// Appends the ids of one pre-token, given as UTF-8 bytes, to `ids`.
    func encodeWord(_ word: [UInt8], into ids: inout [Int]) {
        cacheLock.lock()
        let cached = cache[word]
        cacheLock.unlock()
        if let cached {
            for id in cached { ids.append(Int(id)) }
            return
        }
        let merged = merge(word)
        cacheLock.lock()
        if cache.count >= cacheCapacity { cache.removeAll(keepingCapacity: true) }
        cache[word] = merged
        cacheLock.unlock()
        for id in merged { ids.append(Int(id)) }
    }

    /// Repeatedly merges the adjacent pair of lowest rank (leftmost on ties) until no pair has a merge: the same
    /// result as the Rust crate's priority queue. Quadratic in the word length, which is short and then cached.
    private func merge(_ word: [UInt8]) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        for byte in word where byteIDs[Int(byte)] >= 0 { symbols.append(byteIDs[Int(byte)]) }
        while symbols.count > 1 {
            var best = UInt64.max
            var bestIndex = -1
            for index in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(bitPattern: symbols[index])) << 32 | UInt64(UInt32(bitPattern: symbols[index + 1]))
                if let entry = merges[key], entry < best {
                    // Comparing packed entries compares ranks first; ranks are unique per pair.
                    best = entry
                    bestIndex = index
                }
            }
            if bestIndex < 0 { break }
            symbols[bestIndex] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: bestIndex + 1)
        }
        return symbols
    }
}
