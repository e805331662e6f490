import Foundation
import ArchitectureKit
import LoRA
import Tokenizers

extension LoadedModel {
    /// A generator over this model (with whatever adapters are injected into it).
    public func generator(tokenizer: any Tokenizer) throws -> Generator {
        guard tokenizer.vocabularySize > 0 else { throw GenerationError.badInput("the tokenizer has an empty vocabulary") }
        // Tokenizer and table sizes may differ legitimately (transformers' GGUF converter adds <|endoftext|> past the
        // vocabulary); the prompt's ids are checked one by one in `generate` instead.
        // The KV cache has one slot per block of the plugin's own module tree (n_layer for GPT-2).
        return Generator(model: model, tokenizer: tokenizer, stopTokens: stopTokenIDs(tokenizer), layers: layerCount,
                         vocabularySize: vocabularySize, contextLength: contextLength)
    }

    /// Loads a PEFT adapter directory into this model (for generate/forward/eval with --adapter).
    @discardableResult
    public func applyAdapter(_ directory: String) throws -> LoRAModel {
        try LoRAModel.load(from: URL(fileURLWithPath: directory), into: model, plugin: plugin)
    }
}
