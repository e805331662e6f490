import Tokenizers

/// Which tokens carry labels (the rest are −100, ignored by the loss).
public enum LabelMasking: String, Sendable, Codable, CaseIterable {
    /// Every token is trained (causal_lm).
    case none
    /// Prompt tokens are −100; responses are trained — every assistant turn of a conversation (sft default).
    case prompt
    /// As `prompt`, but only the last assistant turn of a conversation is trained.
    case allButLastResponse = "all_but_last_response"
}

/// A tokenized example: ids and their labels (same length; −100 = ignored), unshifted as in transformers — the
/// trainer shifts them so that position t is scored on token t + 1.
public struct TokenizedExample: Equatable, Sendable {
    public var inputIDs: [Int32]
    public var labels: [Int32]
    /// Classification: the class index (then `labels` is unused).
    public var classLabel: Int?
    public var origin: String

    public init(inputIDs: [Int32], labels: [Int32], classLabel: Int? = nil, origin: String = "") {
        self.inputIDs = inputIDs
        self.labels = labels
        self.classLabel = classLabel
        self.origin = origin
    }

    public var count: Int { inputIDs.count }
    /// Tokens the loss sees after the shift (a label at position 0 predicts nothing).
    public var trainedTokenCount: Int { classLabel != nil ? 1 : labels.dropFirst().filter { $0 != ignoreIndex }.count }
}

/// The label value the loss ignores (PyTorch's default ignore_index).
public let ignoreIndex: Int32 = -100

/// Tokenizes formatted examples: segment by segment so the prompt/response boundary is exact, the post-processor's
/// special tokens (BOS) in front of untemplated text, EOS after the response, truncation to `maxLength`.
public struct ExampleTokenizer: Sendable {
    public var tokenizer: any Tokenizer
    public var masking: LabelMasking
    public var maxLength: Int

    public init(tokenizer: any Tokenizer, masking: LabelMasking, maxLength: Int) {
        self.tokenizer = tokenizer
        self.masking = masking
        self.maxLength = maxLength
    }

    /// The tokenized example, and whether it was truncated.
    public func tokenize(_ example: FormattedExample) -> (example: TokenizedExample, truncated: Bool) {
        var ids: [Int32] = [], labels: [Int32] = []
        let lastResponse = example.segments.lastIndex { $0.isResponse }
        if !example.templated {
            // Templates write BOS themselves; plain text gets what the post-processor adds (e.g. Llama's <s>).
            let specials = tokenizer.encode("", addSpecialTokens: true).map { Int32($0) }
            ids += specials
            labels += specials.map { _ in ignoreIndex }
        }
        for (i, segment) in example.segments.enumerated() {
            let piece = tokenizer.encode(segment.text, addSpecialTokens: false).map { Int32($0) }
            let trained: Bool
            switch masking {
            case .none: trained = true
            case .prompt: trained = segment.isResponse
            case .allButLastResponse: trained = segment.isResponse && i == lastResponse
            }
            ids += piece
            labels += trained ? piece : piece.map { _ in ignoreIndex }
        }
        if !example.templated && example.classLabel == nil, let eos = tokenizer.eosTokenID, ids.last != Int32(eos) {
            ids.append(Int32(eos))
            labels.append(Int32(eos))
        }
        let truncated = ids.count > maxLength
        if truncated {
            ids.removeLast(ids.count - maxLength)
            labels.removeLast(labels.count - maxLength)
        }
        if example.classLabel != nil { labels = labels.map { _ in ignoreIndex } }
        return (TokenizedExample(inputIDs: ids, labels: labels, classLabel: example.classLabel, origin: example.origin), truncated)
    }
}
