import Foundation
import Tokenizers
import Training

/// Turns a recipe into the pieces the data pipeline needs. Model loading, LoRA injection and the model's own chat
/// template are wired in as those layers land; until then a recipe must name its tokenizer (or a model directory
/// holding tokenizer.json) and use the alpaca or chatml template.
public enum RecipeSession {
    /// The tokenizer and prompt format a recipe asks for.
    public static func tokenizerAndFormat(_ recipe: Recipe) throws -> (tokenizer: any Tokenizer, format: PromptFormat) {
        let tokenizer: any Tokenizer
        if let explicit = try recipe.explicitTokenizer() {
            tokenizer = explicit
        } else {
            let dir = recipe.model.hasPrefix("/") ? URL(fileURLWithPath: recipe.model) : recipe.directory.appendingPathComponent(recipe.model)
            let json = dir.appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json.path) else {
                throw RecipeError(file: recipe.file.path, line: 0, column: 0, path: "tokenizer",
                                  message: "model '\(recipe.model)' is not a directory with tokenizer.json; loading tokenizers from GGUF models "
                                      + "and aliases needs the model loader — set `tokenizer:` to a tokenizer.json")
            }
            tokenizer = try TokenizerLoader.load(tokenizerJSON: json)
        }
        switch recipe.template {
        case .alpaca: return (tokenizer, .alpaca)
        case .chatml: return (tokenizer, .chat(chatML))
        case .llama3, .model, .custom:
            throw RecipeError(file: recipe.file.path, line: 0, column: 0, path: "template",
                              message: "template \(recipe.template) needs the chat-template engine, which this build does not have yet; use alpaca or chatml")
        }
    }

    /// transformers' ChatML (`chat_template` of Qwen/SmolLM2 without a default system prompt).
    public static let chatML: ChatRenderer = { messages, addGenerationPrompt in
        messages.map { "<|im_start|>\($0.role)\n\($0.content)<|im_end|>\n" }.joined() + (addGenerationPrompt ? "<|im_start|>assistant\n" : "")
    }
}
