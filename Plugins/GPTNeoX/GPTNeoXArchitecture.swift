import ArchitectureKit
import NN
import TensorCore

/// GPT-NeoX (Pythia), written as a user would write an architecture LoRAKit does not ship: this folder is not a
/// target of the package; scripts/build-external-plugin.sh compiles it into a shared library that `lorakit` loads
/// at run time (LORAKIT_PLUGINS or a recipe's `plugins:`), through the same contract as the built-ins.
public enum GPTNeoXArchitecture: ArchitecturePlugin {
    public static let name = "GPT-NeoX"
    public static let modelTypes = ["gpt_neox"]
    /// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["gpt_neox"].
    public static let defaultTargetModules = ["query_key_value"]
    public static let outputHeadModules = ["embed_out"]
    public static let baseModelPrefix: String? = "gpt_neox"

    public static func supports(_ head: TaskHead) -> Bool {
        if case .sequenceClassification = head { return false }
        return true
    }

    public static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel {
        guard supports(head) else { throw ArchitectureError.unsupported("the GPT-NeoX plugin has no classification head") }
        let c = try GPTNeoXConfiguration(config)
        let settings = DecoderSettings(c.sizes, rotary: c.rotary,
                                       tieWordEmbeddings: c.tied, padTokenID: nil, embeddingDropout: c.hiddenDropout)
        let layout = DecoderLayout(body: "gpt_neox", embedding: "embed_in", layers: "layers", finalNorm: "final_layer_norm", outputHead: "embed_out")
        return DecoderModel(layout: layout, settings: settings, head: head, block: { _ in GPTNeoXLayer(c) },
                            norm: { LayerNorm(dimension: c.hidden, eps: c.eps) })
    }
}

struct GPTNeoXConfiguration {
    var sizes: TransformerSizes
    var hidden: Int { sizes.hidden }
    var heads: Int { sizes.heads }
    var intermediate: Int
    var eps: Float
    var rotary: RotaryParameters
    var parallelResidual, tied: Bool
    /// attention_dropout (attention probabilities); hidden_dropout (embeddings, attention and MLP outputs).
    var attentionDropout, hiddenDropout: Float

    init(_ c: ModelConfig) throws {
        sizes = try TransformerSizes(c)
        intermediate = try c.size("intermediate_size", default: 4 * sizes.hidden, limit: 4 * ModelConfig.Limits.width)
        eps = Float(try c.positive("layer_norm_eps", default: 1e-5))
        parallelResidual = try c.bool("use_parallel_residual", default: true)
        tied = try c.bool("tie_word_embeddings", default: false)
        // Older configs: rotary_emb_base and rotary_pct (transformers' default fraction 0.25).
        rotary = try c.rotary(headDim: sizes.headDim, legacyTheta: ("rotary_emb_base", 10_000), legacyFraction: ("rotary_pct", 0.25))
        (attentionDropout, hiddenDropout) = (try c.dropout("attention_dropout"), try c.dropout("hidden_dropout"))
        _ = try HiddenActivation(c, key: "hidden_act", default: "gelu", allowed: [.gelu])
    }
}

/// `gpt_neox.layers.N`: attention and MLP from one residual stream (parallel) or in sequence.
final class GPTNeoXLayer: Module, TransformerBlock {
    let c: GPTNeoXConfiguration
    init(_ c: GPTNeoXConfiguration) {
        self.c = c
        super.init()
        for norm in ["input_layernorm", "post_attention_layernorm"] { register(norm, LayerNorm(dimension: c.hidden, eps: c.eps)) }
        let attention = Module(), mlp = Module()
        attention.register("query_key_value", Linear(inFeatures: c.hidden, outFeatures: 3 * c.hidden, bias: true))
        attention.register("dense", Linear(inFeatures: c.hidden, outFeatures: c.hidden, bias: true))
        mlp.register("dense_h_to_4h", Linear(inFeatures: c.hidden, outFeatures: c.intermediate, bias: true))
        mlp.register("dense_4h_to_h", Linear(inFeatures: c.intermediate, outFeatures: c.hidden, bias: true))
        register("attention", attention)
        register("mlp", mlp)
    }

    func forward(_ h: Tensor, _ step: BlockStep) -> Tensor {
        let (b, t, hd) = (h.shape[0], h.shape[1], c.sizes.headDim)
        let attention: Module = child("attention"), mlp: Module = child("mlp")
        // The fused projection is laid out per head as [q, k, v] (view (B, T, H, 3·D), then chunk).
        let qkv = attention.linear("query_key_value")(child("input_layernorm", as: LayerNorm.self)(h))
            .reshaped([b, t, c.heads, 3 * hd]).split(lastAxis: [hd, hd, hd])
        let o = step.attention(query: qkv[0].rotary(step.rope!), key: qkv[1].rotary(step.rope!), value: qkv[2], dropout: c.attentionDropout)
        let attn = step.dropout(attention.linear("dense")(o), c.hiddenDropout)
        let post = child("post_attention_layernorm", as: LayerNorm.self)
        func feedForward(_ x: Tensor) -> Tensor { step.dropout(mlp.linear("dense_4h_to_h")(mlp.linear("dense_h_to_4h")(post(x)).gelu()), c.hiddenDropout) }
        if c.parallelResidual { return feedForward(h) + attn + h }
        let a = attn + h
        return feedForward(a) + a
    }
}

/// The entry point `lorakit` looks up after dlopen: its name carries the plugin ABI this library is written for, so
/// the host checks the version in the symbol table before calling it.
@_cdecl("lorakit_plugin_register_v3")
public func lorakitPluginRegister(_ origin: UnsafePointer<CChar>) {
    ArchitectureRegistry.shared.register(GPTNeoXArchitecture.self, origin: String(cString: origin))
}
