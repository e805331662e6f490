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
        /// Seconds for the prompt pass and for the generated tokens.
        public var promptSeconds: Double
        public var generationSeconds: Double
        public var tokensPerSecond: Double { generationSeconds > 0 ? Double(tokens.count) / generationSeconds : 0 }
    }

    public init(model: any ArchitectureModel, tokenizer: any Tokenizer, stopTokens: Set<Int>, layers: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.stopTokens = stopTokens
        self.layers = layers
    }

    /// Generates up to `maxTokens` after `promptIDs`; `onText` receives decoded text as soon as it forms whole
    /// characters (a multi-byte character split over tokens is held back until complete).
    public func generate(promptIDs: [Int], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         onText: ((String) -> Void)? = nil) -> Result {
        let cache = KVCache(layers: layers)
        var sampler = Sampler(sampling)
        var produced: [Int] = []
        var emitted = ""
        let start = DispatchTime.now().uptimeNanoseconds
        var promptDone = start
        var next = promptIDs
        GradMode.withoutGrad {
            while produced.count < maxTokens {
                let input = ModelInput(inputIDs: IntTensor(next, shape: [1, next.count]), cache: cache)
                let logits = model.forward(input)
                if produced.isEmpty { promptDone = DispatchTime.now().uptimeNanoseconds }
                let v = logits.lastDim
                let token = sampler.next(UnsafeBufferPointer(start: logits.data + (next.count - 1) * v, count: v))
                if stopTokens.contains(token) { break }
                produced.append(token)
                let text = tokenizer.decode(produced, skipSpecialTokens: true)
                if let onText, !text.hasSuffix("\u{FFFD}"), text.count > emitted.count, text.hasPrefix(emitted) {
                    onText(String(text.dropFirst(emitted.count)))
                    emitted = text
                }
                next = [token]
            }
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return Result(tokens: produced, text: tokenizer.decode(produced, skipSpecialTokens: true), promptTokens: promptIDs.count,
                      promptSeconds: Double(promptDone - start) / 1e9, generationSeconds: Double(end - promptDone) / 1e9)
    }
}
