import Foundation

/// The chat template and special tokens an adapter was trained with, saved beside it as `lorakit_tokens.json`.
///
/// Output that got worse after export is most often a template or end-of-sequence token that differs from training;
/// recording them at training time lets `lorakit export` write exactly these into a GGUF instead of whatever the base
/// model file carries. PEFT ignores the extra file.
public struct AdapterTokens: Codable, Equatable, Sendable {
    public static let fileName = "lorakit_tokens.json"

    /// One special token: its id and spelling.
    public struct Token: Codable, Equatable, Sendable {
        public var id: Int
        public var content: String
        public init(id: Int, content: String) {
            self.id = id
            self.content = content
        }
    }

    /// The Jinja chat template the training text was rendered with (nil: plain text without a template).
    public var chatTemplate: String?
    /// Which recipe choice it came from: "model", "chatml", "llama3", "alpaca", "custom" or "none".
    public var template: String
    public var bosToken: Token?
    public var eosToken: Token?
    /// The id padded batches used (the tokenizer's pad, or its EOS when it has none).
    public var padToken: Token?
    public var unkToken: Token?

    enum CodingKeys: String, CodingKey {
        case chatTemplate = "chat_template", template, bosToken = "bos_token", eosToken = "eos_token"
        case padToken = "pad_token", unkToken = "unk_token"
    }

    public init(chatTemplate: String?, template: String, bosToken: Token?, eosToken: Token?, padToken: Token?, unkToken: Token?) {
        self.chatTemplate = chatTemplate
        self.template = template
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.padToken = padToken
        self.unkToken = unkToken
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The record in `directory`, or nil when the adapter has none (one trained elsewhere, or before LoRAKit wrote it).
    public static func read(from directory: URL) throws -> AdapterTokens? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(AdapterTokens.self, from: Data(contentsOf: url))
        } catch {
            throw LoRAError.adapterFile("\(url.path): not a valid \(fileName): \(error)")
        }
    }
}
