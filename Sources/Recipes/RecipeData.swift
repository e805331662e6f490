import Foundation
import Tokenizers
import Training

/// A recipe's datasets read, filtered, formatted, tokenized and masked — with every count a user needs to see
/// that no row disappeared silently.
public struct PreparedData {
    public var train: [TokenizedExample]
    public var validation: [TokenizedExample]
    public var skippedBadLines: [JSONLError]
    public var filteredOut: Int
    public var truncated: Int
    /// Examples dropped because no label survived masking and truncation.
    public var withoutLabels: Int

    /// One line summarising the counts.
    public var summary: String {
        var parts = ["\(train.count) training and \(validation.count) validation examples"]
        if filteredOut > 0 { parts.append("\(filteredOut) rows filtered out") }
        if !skippedBadLines.isEmpty {
            parts.append("\(skippedBadLines.count) malformed lines skipped (first: \(skippedBadLines[0]))")
        }
        if truncated > 0 { parts.append("\(truncated) truncated to max_seq_length") }
        if withoutLabels > 0 { parts.append("\(withoutLabels) dropped with no trainable token left") }
        return parts.joined(separator: ", ")
    }

    public static func prepare(_ recipe: Recipe, tokenizer: any Tokenizer, format: PromptFormat) throws -> PreparedData {
        let rows = try LoadedRows.load(recipe.datasets, seed: recipe.training.seed)
        let formatter = ExampleFormatter(format: format, classNames: recipe.task.labels)
        let encoder = ExampleTokenizer(tokenizer: tokenizer, masking: recipe.task.masking, maxLength: recipe.training.maxSeqLength)
        var truncated = 0, withoutLabels = 0
        func tokenize(_ rows: [DatasetRow]) throws -> [TokenizedExample] {
            try rows.compactMap { row in
                let (e, cut) = encoder.tokenize(try formatter.format(row))
                if cut { truncated += 1 }
                if e.trainedTokenCount == 0 { withoutLabels += 1; return nil }
                return e
            }
        }
        return PreparedData(train: try tokenize(rows.train), validation: try tokenize(rows.validation), skippedBadLines: rows.skippedBadLines,
                            filteredOut: rows.filteredOut, truncated: truncated, withoutLabels: withoutLabels)
    }
}

/// Axolotl-style view of preprocessed examples: each token as `text(id, label)`, masked tokens in red (or marked
/// with `·` when not on a terminal) so the prompt/response boundary can be checked by eye.
public enum PreprocessView {
    public static func render(_ e: TokenizedExample, tokenizer: any Tokenizer, color: Bool) -> String {
        var out = "\(e.origin)  (\(e.count) tokens, \(e.labels.filter { $0 != ignoreIndex }.count) trained"
            + (e.classLabel.map { ", class \($0)" } ?? "") + ")\n"
        for (id, label) in zip(e.inputIDs, e.labels) {
            let text = tokenizer.decode([Int(id)], skipSpecialTokens: false)
                .replacingOccurrences(of: "\n", with: "\\n")
            let masked = label == ignoreIndex
            let cell = "\(text)(\(id), \(label))"
            if color { out += masked ? "\u{1B}[31m\(cell)\u{1B}[0m " : "\u{1B}[32m\(cell)\u{1B}[0m " } else { out += (masked ? "·" : "") + cell + " " }
        }
        return out + "\n"
    }
}
