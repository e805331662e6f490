import Foundation
import ArchitectureKit
import Assets
import Tokenizers

extension LoadedModel {
    /// A generator over this model (with whatever adapters are injected into it).
    public func generator(tokenizer: any Tokenizer) throws -> Generator {
        guard tokenizer.vocabularySize > 0 else { throw GenerationError.badInput("the tokenizer has an empty vocabulary") }
        // Tokenizer and table sizes may differ legitimately (transformers' GGUF converter adds <|endoftext|> past the
        // vocabulary); the prompt's ids are checked one by one in `generate` instead.
        // The KV cache is sized by the model itself (n_layer for GPT-2: `ArchitectureModel.makeCache`).
        return Generator(model: model, tokenizer: tokenizer, stopTokens: stopTokenIDs(tokenizer),
                         vocabularySize: vocabularySize, contextLength: contextLength)
    }
}
