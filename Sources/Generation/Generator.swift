import Foundation
import ArchitectureKit
import TensorCore
import Tokenizers

/// Autoregressive generation with a KV cache: one forward pass over the prompt, then one token at a time.
public final class Generator {
    public let model: any ArchitectureModel
    public let tokenizer: any Tokenizer
    public let stopTokens: Set<Int>
    public let layers: Int

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
    }

    public init(model: any ArchitectureModel, tokenizer: any Tokenizer, stopTokens: Set<Int>, layers: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.stopTokens = stopTokens
        self.layers = layers
    }

    /// Generates up to `maxTokens` after `promptIDs`, stopping early at a stop token (not included). `onText`
    /// receives decoded text as soon as it forms whole characters (see `TextStreamer`); the pieces concatenate to
    /// `Result.text`.
    public func generate(promptIDs: [Int], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         onText: ((String) -> Void)? = nil) -> Result {
        precondition(!promptIDs.isEmpty, "generation needs at least one prompt token")
        let cache = KVCache(layers: layers)
        var sampler = Sampler(sampling)
        var streamer = TextStreamer(tokenizer: tokenizer)
        var produced: [Int] = []
        let start = DispatchTime.now().uptimeNanoseconds
        var promptDone = start
        var next = promptIDs
        var steps = -1
        GradMode.withoutGrad {
            while produced.count < maxTokens {
                // Only the new tokens go in; earlier positions come from the cache. logits: (1, len(next), vocab).
                let logits = model.forward(ModelInput(inputIDs: IntTensor(next, shape: [1, next.count]), cache: cache))
                steps += 1
                if produced.isEmpty { promptDone = DispatchTime.now().uptimeNanoseconds }
                let v = logits.lastDim
                let token = sampler.next(UnsafeBufferPointer(start: logits.data + (next.count - 1) * v, count: v))
                if stopTokens.contains(token) { break }
                produced.append(token)
                let piece = streamer.append(token)
                if !piece.isEmpty { onText?(piece) }
                next = [token]
            }
        }
        let rest = streamer.finish()
        if !rest.isEmpty { onText?(rest) }
        let end = DispatchTime.now().uptimeNanoseconds
        return Result(tokens: produced, text: tokenizer.decode(produced, skipSpecialTokens: true), promptTokens: promptIDs.count,
                      promptSeconds: Double(promptDone - start) / 1e9, generationSeconds: Double(end - promptDone) / 1e9,
                      decodeSteps: max(steps, 0))
    }
}
