import ArchitectureKit
import NN
import TensorCore

/// GPT-2: learned positions, pre-LN blocks, fused `c_attn` (Conv1D, weights stored (in, out)), gelu_new, tied
/// lm_head — GPT2LMHeadModel / GPT2ForSequenceClassification / GPT2Model with transformers' names.
public enum GPT2Architecture: ArchitecturePlugin {
    public static let name = "GPT-2"
    public static let modelTypes = ["gpt2"]
    /// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["gpt2"]; c_proj and c_fc are targetable too.
    public static let defaultTargetModules = ["c_attn"]
    public static let outputHeadModules = ["lm_head", "score"]
    public static let classificationHeadModule: String? = "score"
    public static let baseModelPrefix: String? = "transformer"
    /// Older checkpoints store the causal mask as buffers.
    public static let ignoredCheckpointSuffixes = [".attn.bias", ".attn.masked_bias"]

    public static func supports(_ head: TaskHead) -> Bool { true }

    public static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel {
        let c = try GPT2Configuration(config)
        let settings = DecoderSettings(c.sizes, learnedPositions: c.positions,
                                       tieWordEmbeddings: c.tied, padTokenID: c.padTokenID, embeddingDropout: c.embeddingDropout)
        return DecoderModel(layout: DecoderLayout(body: "transformer", embedding: "wte", positionEmbedding: "wpe", layers: "h", finalNorm: "ln_f"),
                            settings: settings, head: head, block: { _ in GPT2Block(c) }, norm: { LayerNorm(dimension: c.hidden, eps: c.eps) })
    }
}

struct GPT2Configuration {
    var sizes: TransformerSizes
    var hidden: Int { sizes.hidden }
    var heads: Int { sizes.heads }
    var layers: Int { sizes.layers }
    var positions, inner: Int
    var eps: Float
    var act: HiddenActivation
    /// activation_function as config.json spells it.
    var activation: String { act.rawValue }
    var tied: Bool
    /// scale_attn_weights: scores divided by √head_dim (true for every released GPT-2).
    var attentionScale: Float?
    var padTokenID: Int?
    /// embd_pdrop (after wte + wpe), attn_pdrop (attention probabilities), resid_pdrop (after each c_proj).
    var embeddingDropout, attentionDropout, residualDropout: Float

    init(_ c: ModelConfig) throws {
        typealias L = ModelConfig.Limits
        sizes = try TransformerSizes(c, hidden: "n_embd", heads: "n_head", layers: "n_layer")
        positions = try c.size("n_positions", default: 1024, limit: L.positions)
        inner = try c.size("n_inner", default: 4 * sizes.hidden, limit: 4 * L.width)
        eps = Float(try c.positive("layer_norm_epsilon", default: 1e-5))
        act = try HiddenActivation(c, key: "activation_function", default: "gelu_new", allowed: [.geluNew, .geluPytorchTanh, .gelu, .relu])
        tied = try c.bool("tie_word_embeddings", default: true)
        attentionScale = try c.bool("scale_attn_weights", default: true) ? nil : 1
        padTokenID = c.values["pad_token_id"] as? Int
        (embeddingDropout, attentionDropout, residualDropout) = (try c.dropout("embd_pdrop"), try c.dropout("attn_pdrop"), try c.dropout("resid_pdrop"))
        if try c.bool("scale_attn_by_inverse_layer_idx", default: false) || c.bool("reorder_and_upcast_attn", default: false) {
            throw ArchitectureError.unsupported("\(c.source): scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported")
        }
    }
}

/// `transformer.h.N`: attention and MLP, each behind a LayerNorm, each output through resid_pdrop.
final class GPT2Block: Module, TransformerBlock {
    let c: GPT2Configuration
    init(_ c: GPT2Configuration) {
        self.c = c
        super.init()
        let attn = Module(), mlp = Module()
        attn.register("c_attn", Conv1D(inFeatures: c.hidden, outFeatures: 3 * c.hidden))
        attn.register("c_proj", Conv1D(inFeatures: c.hidden, outFeatures: c.hidden))
        mlp.register("c_fc", Conv1D(inFeatures: c.hidden, outFeatures: c.inner))
        mlp.register("c_proj", Conv1D(inFeatures: c.inner, outFeatures: c.hidden))
        register("ln_1", LayerNorm(dimension: c.hidden, eps: c.eps))
        register("attn", attn)
        register("ln_2", LayerNorm(dimension: c.hidden, eps: c.eps))
        register("mlp", mlp)
    }

    func forward(_ h: Tensor, _ step: BlockStep) -> Tensor {
        let (b, t, hd, heads) = (h.shape[0], h.shape[1], c.sizes.headDim, c.sizes.heads)
        let attn: Module = child("attn"), mlp: Module = child("mlp")
        let qkv = attn.linear("c_attn")(child("ln_1", as: LayerNorm.self)(h)).split(lastAxis: [c.hidden, c.hidden, c.hidden])
        let (q, k, v) = (qkv[0].reshaped([b, t, heads, hd]), qkv[1].reshaped([b, t, heads, hd]), qkv[2].reshaped([b, t, heads, hd]))
        let o = step.attention(query: q, key: k, value: v, scale: c.attentionScale, dropout: c.attentionDropout)
        let h = h + step.dropout(attn.linear("c_proj")(o), c.residualDropout)
        let inner = c.act(mlp.linear("c_fc")(child("ln_2", as: LayerNorm.self)(h)))
        return h + step.dropout(mlp.linear("c_proj")(inner), c.residualDropout)
    }
}
