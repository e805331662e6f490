import Foundation
import ArchitectureKit
import ChatTemplates
import Tokenizers

extension LoadedModel {
    /// The model's own chat template, or ChatML when it ships none (what transformers' old default was).
    public func chatTemplate() throws -> ChatTemplate {
        try chatTemplateSource.map { try ChatTemplate(source: $0) } ?? BuiltinTemplate.chatml.template()
    }

    /// Renders messages through the model's template with its special tokens, as apply_chat_template(tokenize=False).
    public func renderChat(_ messages: [ChatMessage], tokenizer: any Tokenizer, addGenerationPrompt: Bool) throws -> String {
        try chatTemplate().render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                  specialTokens: specialTokenStrings(tokenizer))
    }

    /// bos_token / eos_token / pad_token / unk_token spellings for templates.
    public func specialTokenStrings(_ tokenizer: any Tokenizer) -> [String: String] { tokenizer.templateSpecialTokens }
}

extension Tokenizer {
    /// bos_token / eos_token / pad_token / unk_token spellings, the variables transformers' apply_chat_template
    /// passes to a template.
    public var templateSpecialTokens: [String: String] {
        var out: [String: String] = [:]
        for (key, id) in [("bos_token", bosTokenID), ("eos_token", eosTokenID), ("pad_token", padTokenID), ("unk_token", unkTokenID)] {
            if let id, let t = token(forID: id) { out[key] = t }
        }
        return out
    }
}
