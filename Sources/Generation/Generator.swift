import Foundation
import ArchitectureKit
import TensorCore
import Tokenizers

/// Autoregressive generation with a KV cache: one forward pass over the prompt, then one token at a time.
public final class Generator {
    public let model: any ArchitectureModel
    public let tokenizer: any Tokenizer
    public let stopTokens: Set<Int>
    /// KV-cache slots; nil = the model's own count (`ArchitectureModel.makeCache`).
    public let layers: Int?
    /// Rows of the embedding table and the model's context (nil = unknown): prompts are checked against them and
    /// generation stops at the context instead of running past it.
    public let vocabularySize: Int?
    public let contextLength: Int?

    public struct Result {
        public var tokens: [Int]
        public var text: String
        public var promptTokens: Int
        /// Seconds for the prompt pass (which yields the first token) and for the one-token steps after it.
        public var promptSeconds: Double
        public var generationSeconds: Double
        /// One-token forward passes after the prompt pass.
        public var decodeSteps: Int
        /// Decoding speed: one-token steps per second (the prompt pass is timed separately).
        public var tokensPerSecond: Double { generationSeconds > 0 ? Double(decodeSteps) / generationSeconds : 0 }
        /// Generation stopped because the model's context was full, not at max tokens or a stop token.
        public var stoppedAtContext = false
    }

    public init(model: any ArchitectureModel, tokenizer: any Tokenizer, stopTokens: Set<Int>, layers: Int? = nil,
                vocabularySize: Int? = nil, contextLength: Int? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.stopTokens = stopTokens
        self.layers = layers
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
    }

    /// New tokens that fit after `promptTokens` within the context (nil = no known limit).
    public func room(afterPrompt promptTokens: Int) -> Int? { contextLength.map { max(0, $0 - promptTokens) } }

    /// Generates up to `maxTokens` after `promptIDs`, stopping early at a stop token (not included). `onText`
    /// receives decoded text as soon as it forms whole characters (see `TextStreamer`); the pieces concatenate to
    /// `Result.text`. Generation also stops at the model's context length (`Result.stoppedAtContext`). Throws on an
    /// empty prompt, an id outside the embedding table, a prompt longer than the context, and non-finite logits
    /// (a corrupt adapter or model: the sampler would pick garbage).
    public func generate(promptIDs: [Int], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         onText: ((String) -> Void)? = nil) throws -> Result {
        guard !promptIDs.isEmpty else { throw GenerationError.badInput("the prompt is empty: generation needs at least one token") }
        guard maxTokens >= 0 else { throw GenerationError.badInput("max tokens is \(maxTokens); it must be 0 or more") }
        try sampling.validate()
        if let v = vocabularySize, let bad = promptIDs.firstIndex(where: { $0 < 0 || $0 >= v }) {
            throw GenerationError.badInput("prompt token \(promptIDs[bad]) at position \(bad) is outside the model's embedding table (0..<\(v))")
        }
        if let context = contextLength, promptIDs.count >= context {
            throw GenerationError.badInput("the prompt has \(promptIDs.count) tokens; the model's context is \(context), leaving no room to generate")
        }
        let limit = min(maxTokens, room(afterPrompt: promptIDs.count) ?? maxTokens)
        var failure: Error?
        let cache = layers.map { KVCache(layers: $0) } ?? model.makeCache()
        var sampler = Sampler(sampling)
        var streamer = TextStreamer(tokenizer: tokenizer)
        var produced: [Int] = []
        let start = DispatchTime.now().uptimeNanoseconds
        var promptDone = start
        var next = promptIDs
        var steps = -1
        GradMode.withoutGrad {
            while produced.count < limit {
                // Only the new tokens go in; earlier positions come from the cache. Only the last position's logits
                // are needed: (1, vocab), or (1, len(next), vocab) from a model that computes them all.
                let logits = model.forward(ModelInput(inputIDs: IntTensor(next, shape: [1, next.count]), cache: cache,
                                                      logitRows: [next.count - 1]))
                steps += 1
                if produced.isEmpty { promptDone = DispatchTime.now().uptimeNanoseconds }
                let v = logits.lastDim
                let row = UnsafeBufferPointer(start: logits.rank == 2 ? logits.data : logits.data + (next.count - 1) * v, count: v)
                guard row.allSatisfy(\.isFinite) else {
                    failure = GenerationError.nonFiniteLogits(step: produced.count)
                    break
                }
                let token = sampler.next(row)
                if stopTokens.contains(token) { break }
                produced.append(token)
                let piece = streamer.append(token)
                if !piece.isEmpty { onText?(piece) }
                next = [token]
            }
        }
        if let failure { throw failure }
        let rest = streamer.finish()
        if !rest.isEmpty { onText?(rest) }
        let end = DispatchTime.now().uptimeNanoseconds
        return Result(tokens: produced, text: tokenizer.decode(produced, skipSpecialTokens: true), promptTokens: promptIDs.count,
                      promptSeconds: Double(promptDone - start) / 1e9, generationSeconds: Double(end - promptDone) / 1e9,
                      decodeSteps: max(steps, 0), stoppedAtContext: limit < maxTokens && produced.count == limit)
    }
}

/// Why generation cannot run or had to stop.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case badInput(String)
    /// NaN or infinite logits: the model or adapter weights are corrupt (or overflowed).
    case nonFiniteLogits(step: Int)

    public var description: String {
        switch self {
        case .badInput(let s): return s
        case .nonFiniteLogits(let step):
            return "the model produced NaN or infinite logits at generated token \(step); its weights or the adapter's are corrupt"
        }
    }
}
