import Foundation
import LoRAKit

/// Generation through the server's engine without HTTP: for programs that embed it, and for tests that need
/// requests to share a batch deterministically.
extension LoRAServer {
    /// One completion request: `model` is an adapter name or the base name; `lora` adds or rescales adapters.
    public struct Completion: Sendable {
        public var model: String
        /// Raw text (tokenised with the tokenizer's special tokens, like /v1/completions).
        public var prompt: String
        public var maxTokens: Int
        public var temperature: Float
        public var seed: UInt64
        public var stop: [String]
        public var lora: [(name: String, scale: Float)]

        public init(model: String, prompt: String, maxTokens: Int, temperature: Float = 0, seed: UInt64 = 0,
                    stop: [String] = [], lora: [(name: String, scale: Float)] = []) {
            (self.model, self.prompt, self.maxTokens, self.temperature, self.seed, self.stop, self.lora) =
                (model, prompt, maxTokens, temperature, seed, stop, lora)
        }
    }

    public struct Output: Sendable {
        public var text: String
        public var tokens: [Int]
        public var finishReason: String
        public var promptTokens: Int
        /// The most requests this one was decoded together with (itself included).
        public var peakBatch: Int
    }

    /// Starts the engine thread without the HTTP server (`run` starts it too).
    public func start() { engine.start() }

    /// Runs `requests` together: all are queued at once, so (up to --max-batch) they share decode steps.
    public func generate(_ requests: [Completion]) async throws -> [Output] {
        var streams: [AsyncStream<EngineEvent>] = []
        var jobs: [GenerationJob] = []
        for r in requests {
            var parsed = try CompletionRequest(json: try JSONSerialization.data(withJSONObject: [
                "model": r.model, "prompt": r.prompt, "max_tokens": r.maxTokens, "temperature": Double(r.temperature),
                "seed": Int(Int64(bitPattern: r.seed)), "stop": r.stop,
            ] as [String: Any]), chat: false, contextLength: engine.contextLength)
            parsed.lora = r.lora
            let (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
            jobs.append(GenerationJob(input: parsed.input, adapters: try resolveAdapters(parsed),
                                      templateAdapter: nil, maxTokens: parsed.maxTokens, sampling: parsed.sampling,
                                      stop: parsed.stop, events: continuation))
            streams.append(events)
        }
        guard engine.submit(jobs) else { throw ServeError(status: 429, "the request queue is full", type: "rate_limit_error") }
        var outputs: [Output] = []
        for stream in streams {
            var text = ""
            var info: FinishInfo?
            for await event in stream {
                switch event {
                case .text(let piece): text += piece
                case .finished(let i): info = i
                case .failed(let e): throw e
                }
            }
            guard let info else { throw ServeError(status: 500, "the engine ended a request without an answer", type: "server_error") }
            outputs.append(Output(text: text, tokens: info.tokens, finishReason: info.reason,
                                  promptTokens: info.promptTokens, peakBatch: info.peakBatch))
        }
        return outputs
    }

    /// Loads or replaces an adapter (as POST /v1/load_lora_adapter); returns the seconds it took.
    @discardableResult
    public func loadAdapter(name: String, path: String) async throws -> Double {
        let engine = self.engine
        return try await engine.perform { try engine.loadAdapter(name: name, path: path) }
    }

    /// Forgets an adapter (as POST /v1/unload_lora_adapter).
    public func unloadAdapter(name: String) async throws {
        let engine = self.engine
        try await engine.perform { try engine.unloadAdapter(name: name) }
    }

    /// Names of the adapters clients can use.
    public var adapterNames: [String] { catalog.names }

    /// Stops taking requests and waits for queued and running ones to finish.
    public func drain() { engine.drain() }
}
