import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit generate`: load a model (optionally with a PEFT adapter) and stream a continuation or a chat answer.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text with a KV cache (greedy or sampled).")

    @Option(help: "Model directory, .gguf file or alias (e.g. smollm2-135m-instruct).") var model: String
    @Option(help: "The prompt (a user message with --chat).") var prompt: String
    @Flag(help: "Render the prompt as a user turn through the model's chat template.") var chat = false
    @Option(help: "With --chat: a built-in template (chatml, llama3, alpaca) or a Jinja file, for models without one.") var template: String?
    @Option(help: "System message for --chat.") var system: String?
    @Option(name: .customLong("max-tokens"), help: "Maximum new tokens (stops earlier at the model's context length).") var maxTokens = 128
    @Option(help: "0 = greedy.") var temperature: Float = 0
    @Option(name: .customLong("top-k")) var topK: Int?
    @Option(name: .customLong("top-p")) var topP: Float?
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "A PEFT adapter directory to apply.") var adapter: String?

    /// Bad values are input errors (exit 1 with the reason), checked before minutes of model loading.
    func checkArguments() throws {
        guard maxTokens >= 0 else { throw GenerationError.badInput("--max-tokens is \(maxTokens); it must be 0 or more") }
        guard !prompt.isEmpty else { throw GenerationError.badInput("--prompt is empty: generation needs at least one token") }
        if template != nil && !chat { throw GenerationError.badInput("--template applies to --chat only") }
        try SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed).validate()
    }

    func run() throws {
        try checkArguments()
        let start = Date()
        let loaded = try ModelLoader.load(model)
        if let adapter { try loaded.applyAdapter(adapter) }
        let tokenizer = try loaded.makeTokenizer()
        let loadSeconds = Date().timeIntervalSince(start)
        let text: String
        if chat {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            let chosen: ChatTemplate
            if let template {
                if let builtin = BuiltinTemplate(named: template) { chosen = try builtin.template() }
                else { chosen = try ChatTemplate(source: try String(contentsOf: URL(fileURLWithPath: template), encoding: .utf8)) }
            } else {
                // Falling back silently to some other template would prompt the model in a format it never saw.
                guard loaded.chatTemplateSource != nil else {
                    throw GenerationError.badInput("--chat: \(model) has no chat template; pass --template chatml|llama3|alpaca|FILE, or drop --chat")
                }
                chosen = try loaded.chatTemplate()
            }
            text = try chosen.render(messages: messages, addGenerationPrompt: true, specialTokens: loaded.specialTokenStrings(tokenizer))
        } else {
            text = prompt
        }
        let ids = tokenizer.encode(text, addSpecialTokens: !chat)
        let generator = try loaded.generator(tokenizer: tokenizer)
        let result = try generator.generate(promptIDs: ids, maxTokens: maxTokens,
                                            sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)) { piece in
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        if result.stoppedAtContext {
            FileHandle.standardError.write(Data("note: stopped after \(result.tokens.count) tokens at the model's context of \(generator.contextLength ?? 0) positions\n".utf8))
        }
        FileHandle.standardError.write(Data(String(format: "load %.2f s, prompt %d tokens in %.2f s, generated %d tokens at %.1f tokens/s\n",
            loadSeconds, result.promptTokens, result.promptSeconds, result.tokens.count, result.tokensPerSecond).utf8))
    }
}
