import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit generate`: load a model (optionally with a PEFT adapter) and stream a continuation or a chat answer.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text with a KV cache (greedy or sampled).")

    @Option(help: "Model directory, .gguf file or alias (e.g. smollm2-135m-instruct).") var model: String
    @Option(help: "The prompt (a user message with --chat).") var prompt: String
    @Flag(help: "Render the prompt as a user turn through the model's chat template.") var chat = false
    @Option(help: "System message for --chat.") var system: String?
    @Option(name: .customLong("max-tokens"), help: "Maximum new tokens.") var maxTokens = 128
    @Option(help: "0 = greedy.") var temperature: Float = 0
    @Option(name: .customLong("top-k")) var topK: Int?
    @Option(name: .customLong("top-p")) var topP: Float?
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "A PEFT adapter directory to apply.") var adapter: String?
    @Flag(name: .customLong("print-ids"), help: "Also print the prompt and generated token ids as one JSON line on stderr.") var printIDs = false

    func run() throws {
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
            // An adapter LoRAKit trained records its template (AdapterTokens): chat through the one it learned.
            if let adapter, let source = try AdapterTokens.read(from: URL(fileURLWithPath: adapter))?.chatTemplate {
                text = try ChatTemplate(source: source).render(messages: messages, addGenerationPrompt: true,
                                                               specialTokens: loaded.specialTokenStrings(tokenizer))
            } else {
                text = try loaded.renderChat(messages, tokenizer: tokenizer, addGenerationPrompt: true)
            }
        } else {
            text = prompt
        }
        let ids = tokenizer.encode(text, addSpecialTokens: !chat)
        let generator = try loaded.generator(tokenizer: tokenizer)
        let result = generator.generate(promptIDs: ids, maxTokens: maxTokens,
                                        sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)) { piece in
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        if printIDs {
            FileHandle.standardError.write(Data("{\"prompt_ids\": \(ids), \"generated_ids\": \(result.tokens)}\n".utf8))
        }
        FileHandle.standardError.write(Data(String(format: "load %.2f s, prompt %d tokens in %.2f s, generated %d tokens at %.1f tokens/s\n",
            loadSeconds, result.promptTokens, result.promptSeconds, result.tokens.count, result.tokensPerSecond).utf8))
    }
}
