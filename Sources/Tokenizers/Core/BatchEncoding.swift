/// Model inputs for one sequence or pair: ids, attention mask and token type ids, padded on the right.
public struct Encoding: Sendable, Equatable {
    public var inputIDs: [Int]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// 0 for the first sequence, 1 for the second (per the post-processor's template), 0 for padding.
    public var tokenTypeIDs: [Int]
}

/// A tokenizer whose post-processor can lay out sentence pairs.
public protocol TemplateTokenizer: Tokenizer {
    var postProcessor: PostProcessor { get }
}

extension BPETokenizer: TemplateTokenizer {}
extension WordPieceTokenizer: TemplateTokenizer {}

extension TemplateTokenizer {
    /// `text` (and `pair`) with special tokens, padded with the pad id to `length` when given.
    /// Sequences longer than `length` are not truncated, as Hugging Face does with padding alone.
    public func encoding(_ text: String, pair: String? = nil, paddedTo length: Int? = nil) -> Encoding {
        let a = encode(text, addSpecialTokens: false)
        let b = pair.map { encode($0, addSpecialTokens: false) }
        let (ids, typeIDs) = postProcessor.apply(a, b)
        var encoding = Encoding(inputIDs: ids, attentionMask: Array(repeating: 1, count: ids.count), tokenTypeIDs: typeIDs)
        if let length { pad(&encoding, to: length) }
        return encoding
    }

    /// Every text (or pair) encoded and padded to `length`, or to the longest in the batch when nil.
    public func batch(_ texts: [(String, String?)], paddedTo length: Int? = nil) -> [Encoding] {
        var encodings = texts.map { encoding($0.0, pair: $0.1) }
        let target = length ?? encodings.map(\.inputIDs.count).max() ?? 0
        for index in encodings.indices { pad(&encodings[index], to: target) }
        return encodings
    }

    private func pad(_ encoding: inout Encoding, to length: Int) {
        let missing = length - encoding.inputIDs.count
        guard missing > 0 else { return }
        encoding.inputIDs += Array(repeating: padTokenID ?? 0, count: missing)
        encoding.attentionMask += Array(repeating: 0, count: missing)
        encoding.tokenTypeIDs += Array(repeating: 0, count: missing)
    }
}
