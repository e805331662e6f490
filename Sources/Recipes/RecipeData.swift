import Foundation
import Tokenizers
import Training

extension PreparedData {
    /// A recipe's datasets prepared as its task, masking, template and max_seq_length say.
    public static func prepare(_ recipe: Recipe, tokenizer: any Tokenizer, format: PromptFormat) throws -> PreparedData {
        try prepare(recipe.datasets, seed: recipe.training.seed, tokenizer: tokenizer, format: format, masking: recipe.task.masking,
                    maxLength: recipe.training.maxSeqLength, classNames: recipe.task.labels)
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
