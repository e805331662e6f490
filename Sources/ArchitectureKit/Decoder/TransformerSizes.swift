/// The sizes every transformer config gives, under whatever names it uses (GPT-2: n_embd, n_head, n_layer),
/// each range-checked with the key named in the error.
public struct TransformerSizes {
    public var vocabularySize, hidden, heads, layers: Int
    /// Channels per head when the heads split the width (`hidden / heads`).
    public var headDim: Int { hidden / heads }

    /// - Parameter headsDivideWidth: the heads must split the width exactly (false when head_dim is given instead).
    public init(_ c: ModelConfig, hidden hiddenKey: String = "hidden_size", heads headsKey: String = "num_attention_heads",
                layers layersKey: String = "num_hidden_layers", headsDivideWidth: Bool = true) throws {
        typealias L = ModelConfig.Limits
        vocabularySize = try c.size("vocab_size", limit: L.vocabulary)
        hidden = try c.size(hiddenKey, limit: L.width)
        heads = try c.size(headsKey, limit: L.heads)
        if headsDivideWidth { try c.requireDivides((headsKey, heads), (hiddenKey, hidden)) }
        layers = try c.size(layersKey, limit: L.layers)
    }
}
