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
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var padTokenID: Int?

    public init(_ c: ModelConfig) throws {
        vocabularySize = try c.int("vocab_size")
        hiddenSize = try c.int("hidden_size")
        intermediateSize = try c.int("intermediate_size")
        layers = try c.int("num_hidden_layers")
        heads = try c.int("num_attention_heads")
        kvHeads = try c.int("num_key_value_heads", default: heads)
        headDim = try c.int("head_dim", default: hiddenSize / heads)
        rmsNormEps = Float(try c.double("rms_norm_eps", default: 1e-6))
        // transformers 5 nests rope settings under rope_parameters; older configs have rope_theta at the top level.
        if let rope = c.values["rope_parameters"] as? [String: Any] {
            let ropeType = rope["rope_type"] as? String ?? "default"
            guard ropeType == "default" else {
                throw ArchitectureError.unsupported("\(c.source): rope_type \"\(ropeType)\" is not supported (only \"default\")")
            }
            ropeTheta = try ModelConfig(rope, source: c.source + " rope_parameters").double("rope_theta", default: 10_000)
        } else {
            ropeTheta = try c.double("rope_theta", default: 10_000)
        }
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
        guard heads % kvHeads == 0 else {
            throw ArchitectureError.badConfig("\(c.source): num_attention_heads \(heads) is not a multiple of num_key_value_heads \(kvHeads)")
        }
    }
}
