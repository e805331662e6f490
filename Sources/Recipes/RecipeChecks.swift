import Foundation
import ArchitectureKit
import Tokenizers
import Training

/// What can be known about a recipe before training once its model and tokenizer are loaded: ids the embedding
/// table cannot hold, sequences longer than a learned position table, generation past the context. `lorakit
/// validate` reports these and `lorakit train` refuses to start on them (instead of a trap mid-run).
public enum RecipeChecks {
    /// Throws on what would crash training; returns notes on what will be adjusted (the sample's length).
    @discardableResult
    public static func check(_ recipe: Recipe, model: LoadedModel, tokenizer: any Tokenizer, data: PreparedData? = nil) throws -> [String] {
        func error(_ path: String, _ message: String) -> RecipeError {
            RecipeError(file: recipe.file.path, line: 0, column: 0, path: path, message: message)
        }
        guard tokenizer.vocabularySize > 0 else { throw error(recipe.tokenizer == nil ? "model" : "tokenizer", "the tokenizer has an empty vocabulary") }
        // The ids the data really uses decide (a tokenizer may define a few ids past the table that never occur:
        // transformers' GGUF converter adds <|endoftext|>); without data, the tokenizer's size.
        if let v = model.vocabularySize {
            let what = recipe.tokenizer == nil ? "model" : "tokenizer"
            if let data {
                for (split, examples) in [("training", data.train), ("validation", data.validation)] {
                    for e in examples {
                        if let bad = e.inputIDs.first(where: { $0 < 0 || Int($0) >= v }) {
                            throw error(what, "the tokenizer (\(tokenizer.vocabularySize) tokens) gives id \(bad) in \(split) example \(e.origin), "
                                + "outside the model's embedding table of \(v) rows; use the model's own tokenizer")
                        }
                    }
                }
            } else if tokenizer.vocabularySize > v + 1 {
                throw error(what, "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's embedding table has \(v) rows; "
                    + "ids ≥ \(v) cannot be embedded (use the model's own tokenizer)")
            }
        }
        if let limit = model.positionLimit, recipe.training.maxSeqLength > limit {
            throw error("training.max_seq_length", "\(recipe.training.maxSeqLength) exceeds the model's \(limit) positions; set it to \(limit) or less")
        }
        var notes: [String] = []
        if let sample = recipe.sample, let context = model.contextLength, sample.maxNewTokens >= context {
            notes.append("sample.max_new_tokens \(sample.maxNewTokens) is at least the model's context of \(context) positions; the sample stops at the context")
        }
        return notes
    }
}
