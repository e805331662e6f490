import ChatTemplates
import Tokenizers

extension PromptFormat {
    /// A Jinja chat template (built-in, the model's own, or custom text) as a prompt format, rendered with the
    /// tokenizer's special-token spellings (bos_token, eos_token, …) as transformers' apply_chat_template does.
    public static func chat(template: ChatTemplate, tokenizer: any Tokenizer) -> PromptFormat {
        var special: [String: String] = [:]
        for (key, id) in [("bos_token", tokenizer.bosTokenID), ("eos_token", tokenizer.eosTokenID),
                          ("pad_token", tokenizer.padTokenID), ("unk_token", tokenizer.unkTokenID)] {
            if let id, let t = tokenizer.token(forID: id) { special[key] = t }
        }
        let box = TemplateBox(template: template, special: special)
        return .chat { turns, addGenerationPrompt in
            try box.template.render(messages: turns.map { ChatMessage(role: $0.role, content: $0.content) },
                                    addGenerationPrompt: addGenerationPrompt, specialTokens: box.special)
        }
    }

    /// The token ids of a one-turn prompt ready for generation: the Alpaca prompt, or the user turn rendered with
    /// the generation prompt (templated text carries its own special tokens, so the tokenizer adds none).
    public func promptIDs(_ prompt: String, tokenizer: any Tokenizer) throws -> [Int] {
        switch self {
        case .alpaca: return tokenizer.encode(PromptFormat.alpacaPrompt(instruction: prompt, input: ""), addSpecialTokens: true)
        case .chat(let render): return tokenizer.encode(try render([ChatTurn(role: "user", content: prompt)], true), addSpecialTokens: false)
        }
    }
}

/// A parsed template is not mutated after parsing; the box lets the renderer closure be @Sendable.
private struct TemplateBox: @unchecked Sendable {
    let template: ChatTemplate
    let special: [String: String]
}
