import Foundation
import ArchitectureKit

/// The fields of a Llama config.json that the model uses, read with the names transformers writes.
public struct LlamaConfiguration {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var rotary: RotaryParameters
    public var ropeTheta: Double { rotary.theta }
    /// Dropout on attention probabilities in train mode (transformers' attention_dropout).
    public var attentionDropout: Float
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var padTokenID: Int?

    public init(_ c: ModelConfig) throws {
        typealias L = ModelConfig.Limits
        vocabularySize = try c.size("vocab_size", limit: L.vocabulary)
        hiddenSize = try c.size("hidden_size", limit: L.width)
        intermediateSize = try c.size("intermediate_size", limit: L.width)
        layers = try c.size("num_hidden_layers", limit: L.layers)
        heads = try c.size("num_attention_heads", limit: L.heads)
        kvHeads = try c.size("num_key_value_heads", default: heads, limit: L.heads)
        // Without head_dim, transformers takes hidden_size // heads: it must divide exactly.
        if c.values["head_dim"] == nil || c.values["head_dim"] is NSNull {
            try c.requireDivides(("num_attention_heads", heads), ("hidden_size", hiddenSize))
        }
        headDim = try c.size("head_dim", default: hiddenSize / heads, limit: L.width)
        guard headDim % 2 == 0 else { throw ArchitectureError.badConfig("\(c.source): head_dim \(headDim) must be even for rotary embeddings") }
        rmsNormEps = Float(try c.positive("rms_norm_eps", default: 1e-6))
        // Llama's MLP is SwiGLU: another activation would be silently replaced by SiLU.
        _ = try c.requireOneOf("hidden_act", default: "silu", ["silu", "swish"])
        _ = try c.size("max_position_embeddings", default: 2048, limit: L.positions)
        rotary = try c.rotary(headDim: headDim)
        attentionDropout = try c.dropout("attention_dropout")
        tieWordEmbeddings = try c.bool("tie_word_embeddings", default: false)
        attentionBias = try c.bool("attention_bias", default: false)
        mlpBias = try c.bool("mlp_bias", default: false)
        padTokenID = c.values["pad_token_id"] as? Int
        // Mistral is Llama plus sliding-window attention; a window at least as long as the context never masks
        // anything, so such configs (and those without a window) run exactly as Llama.
        if c.modelType == "mistral", let window = c.values["sliding_window"] as? Int {
            let context = try c.int("max_position_embeddings", default: Int.max)
            guard window >= context else {
                throw ArchitectureError.unsupported("\(c.source): sliding_window \(window) < max_position_embeddings \(context); sliding-window attention is not implemented")
            }
        }
        try c.requireDivides(("num_key_value_heads", kvHeads), ("num_attention_heads", heads))
    }
}
