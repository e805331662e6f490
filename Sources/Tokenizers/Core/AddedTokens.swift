import CICU

/// A token matched whole in the text before the model sees it (`added_tokens` in tokenizer.json), such as
/// `<|im_start|>` or `[CLS]`.
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int
    /// Special tokens are dropped by `decode(_:skipSpecialTokens: true)`.
    public var special: Bool
    /// Also swallow the whitespace just before the token.
    public var lstrip: Bool
    /// Also swallow the whitespace just after the token.
    public var rstrip: Bool
    /// Match only when not inside a word.
    public var singleWord: Bool
    /// Match in the normalized text instead of the raw text.
    public var normalized: Bool

    public init(content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                singleWord: Bool = false, normalized: Bool = false) {
        self.content = content
        self.id = id
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
        self.normalized = normalized
    }
}

/// A piece of the input after added tokens were split out.
enum TextSegment: Equatable {
    /// Ordinary text, a UTF-16 range of the buffer that was split.
    case text(Range<Int>)
    /// An added token, already an id.
    case token(Int)
}

/// Finds added tokens in UTF-16 text the way `AddedVocabulary` does in the Rust crate: leftmost match first, the
/// longest token at that position, non-overlapping, honouring `single_word`, `lstrip` and `rstrip`.
struct AddedTokenMatcher: Sendable {
    private let tokens: [AddedToken]
    private let units: [[UInt16]]
    /// Indices into `tokens` keyed by their first UTF-16 unit, longest first.
    private let candidates: [UInt16: [Int]]

    init(_ tokens: [AddedToken]) {
        let usable = tokens.filter { !$0.content.isEmpty }
        self.tokens = usable
        let units = usable.map { Array($0.content.utf16) }
        self.units = units
        var candidates: [UInt16: [Int]] = [:]
        for index in usable.indices { candidates[units[index][0], default: []].append(index) }
        for key in candidates.keys {
            candidates[key]!.sort { units[$0].count > units[$1].count }
        }
        self.candidates = candidates
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `range` of `text` into text and token segments.
    func split(_ text: UnsafeBufferPointer<UInt16>, range: Range<Int>) -> [TextSegment] {
        if tokens.isEmpty || range.isEmpty { return range.isEmpty ? [] : [.text(range)] }
        var segments: [TextSegment] = []
        var segmentStart = range.lowerBound
        var position = range.lowerBound
        while position < range.upperBound {
            guard let indices = candidates[text[position]],
                  let found = longestMatch(indices, in: text, at: position, limit: range) else {
                position += 1
                continue
            }
            var start = position
            var end = position + units[found].count
            let token = tokens[found]
            if token.lstrip {
                while start > segmentStart, isWhitespace(text[start - 1]) { start -= 1 }
            }
            if token.rstrip {
                while end < range.upperBound, isWhitespace(text[end]) { end += 1 }
            }
            if start > segmentStart { segments.append(.text(segmentStart..<start)) }
            segments.append(.token(token.id))
            segmentStart = end
            position = end
        }
        if segmentStart < range.upperBound { segments.append(.text(segmentStart..<range.upperBound)) }
        return segments
    }

    private func longestMatch(_ indices: [Int], in text: UnsafeBufferPointer<UInt16>, at position: Int,
                              limit: Range<Int>) -> Int? {
        for index in indices {
            let pattern = units[index]
            guard position + pattern.count <= limit.upperBound else { continue }
            var matches = true
            for offset in 1..<pattern.count where text[position + offset] != pattern[offset] {
                matches = false
                break
            }
            guard matches else { continue }
            if tokens[index].singleWord {
                let end = position + pattern.count
                let wordBefore = position > limit.lowerBound && isWordCharacter(scalarBefore(position, in: text))
                let wordAfter = end < limit.upperBound && isWordCharacter(scalarAt(end, in: text))
                if wordBefore || wordAfter { continue }
            }
            return index
        }
        return nil
    }

    private func isWhitespace(_ unit: UInt16) -> Bool { lorakit_u_isUWhiteSpace(Int32(unit)) != 0 }

    /// The Rust crate's word characters: alphanumeric or underscore.
    private func isWordCharacter(_ scalar: UInt32) -> Bool {
        if scalar == UInt32(UInt8(ascii: "_")) { return true }
        guard let value = Unicode.Scalar(scalar) else { return false }
        return value.properties.isAlphabetic || value.properties.numericType != nil
    }

    private func scalarAt(_ index: Int, in text: UnsafeBufferPointer<UInt16>) -> UInt32 {
        let unit = text[index]
        if UTF16.isLeadSurrogate(unit), index + 1 < text.count, UTF16.isTrailSurrogate(text[index + 1]) {
            return 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(text[index + 1]) - 0xDC00)
        }
        return UInt32(unit)
    }

    private func scalarBefore(_ index: Int, in text: UnsafeBufferPointer<UInt16>) -> UInt32 {
        let unit = text[index - 1]
        if UTF16.isTrailSurrogate(unit), index >= 2, UTF16.isLeadSurrogate(text[index - 2]) {
            return scalarAt(index - 2, in: text)
        }
        return UInt32(unit)
    }
}
