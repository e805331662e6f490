import Foundation
import ArchitectureKit
import LoRA
import Tokenizers

extension LoadedModel {
    /// A generator over this model (with whatever adapters are injected into it).
    public func generator(tokenizer: any Tokenizer) throws -> Generator {
        Generator(model: model, tokenizer: tokenizer, stopTokens: stopTokenIDs(tokenizer),
                  layers: try config.int("num_hidden_layers"))
    }

    /// Loads a PEFT adapter directory into this model (for generate/forward/eval with --adapter).
    @discardableResult
    public func applyAdapter(_ directory: String) throws -> LoRAModel {
        try LoRAModel.load(from: URL(fileURLWithPath: directory), into: model, plugin: plugin)
    }
}
