import Foundation
import TensorCore

/// Next-token choice: greedy at temperature 0, else temperature → top-k → top-p (nucleus) sampling as in
/// transformers' logits warpers, drawn from a seeded generator so a run repeats.
public struct SamplingOptions {
    public var temperature: Float
    public var topK: Int?
    public var topP: Float?
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }
}

public struct Sampler {
    public let options: SamplingOptions
    var generator: SeededGenerator

    public init(_ options: SamplingOptions) {
        self.options = options
        generator = SeededGenerator(seed: options.seed)
    }

    /// logits: one row of vocabulary scores.
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int {
        guard options.temperature > 0 else {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return best
        }
        var candidates = (0..<logits.count).map { (id: $0, logit: logits[$0] / options.temperature) }
        candidates.sort { $0.logit > $1.logit }
        if let k = options.topK, k > 0, k < candidates.count { candidates.removeSubrange(k...) }
        let m = candidates[0].logit
        var probs = candidates.map { expf($0.logit - m) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if let p = options.topP, p < 1 {
            // Keep the smallest prefix whose mass reaches p (always at least one token).
            var mass: Float = 0, keep = 0
            while keep < probs.count { mass += probs[keep]; keep += 1; if mass >= p { break } }
            probs = Array(probs[..<keep])
            candidates = Array(candidates[..<keep])
            let t = probs.reduce(0, +)
            probs = probs.map { $0 / t }
        }
        var u = generator.nextUniform()
        for (i, pr) in probs.enumerated() {
            u -= pr
            if u < 0 { return candidates[i].id }
        }
        return candidates[probs.count - 1].id
    }
}

extension SamplingOptions {
    /// transformers' ranges: temperature ≥ 0 (0 = greedy), top_k ≥ 0 (0 = off), top_p in (0, 1].
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw GenerationError.badInput("temperature is \(temperature); it must be a finite number ≥ 0 (0 = greedy)")
        }
        if let k = topK, k < 0 { throw GenerationError.badInput("top-k is \(k); it must be ≥ 0 (0 = off)") }
        if let p = topP, !(p.isFinite && p > 0 && p <= 1) { throw GenerationError.badInput("top-p is \(p); it must be in (0, 1]") }
    }
}
