import Assets
import ChatTemplates
import Tokenizers

extension PromptFormat {
    /// A Jinja chat template (built-in, the model's own, or custom text) as a prompt format, rendered with the
    /// tokenizer's special-token spellings (bos_token, eos_token, …) as transformers' apply_chat_template does.
    public static func chat(template: ChatTemplate, tokenizer: any Tokenizer) -> PromptFormat {
        let box = TemplateBox(template: template, special: tokenizer.templateSpecialTokens)
        return .chat { turns, addGenerationPrompt in
            try box.template.render(messages: turns,
                                    addGenerationPrompt: addGenerationPrompt, specialTokens: box.special)
        }
    }

    /// The token ids of a one-turn prompt ready for generation: the Alpaca prompt, or the user turn rendered with
    /// the generation prompt (templated text carries its own special tokens, so the tokenizer adds none).
    public func promptIDs(_ prompt: String, tokenizer: any Tokenizer) throws -> [Int] {
        switch self {
        case .alpaca: return tokenizer.encode(try PromptFormat.alpacaPrompt(instruction: prompt, input: ""), addSpecialTokens: true)
        case .chat(let render): return tokenizer.encode(try render([ChatMessage(role: "user", content: prompt)], true), addSpecialTokens: false)
        }
    }
}

/// A parsed template is not mutated after parsing; the box lets the renderer closure be @Sendable.
private struct TemplateBox: @unchecked Sendable {
    let template: ChatTemplate
    let special: [String: String]
}
