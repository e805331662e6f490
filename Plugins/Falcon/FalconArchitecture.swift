import ArchitectureKit
import NN
import TensorCore

/// Falcon: fused `query_key_value`, rotary positions, parallel attention + MLP; the 7B layout (multi-query: one
/// shared key/value head, one input_layernorm) and the 40B layout (new_decoder_architecture: grouped key/value
/// heads, ln_attn + ln_mlp) — FalconForCausalLM / FalconModel with transformers' names.
public enum FalconArchitecture: ArchitecturePlugin {
    public static let name = "Falcon"
    public static let modelTypes = ["falcon"]
    /// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["falcon"]; dense, dense_h_to_4h and
    /// dense_4h_to_h are targetable too.
    public static let defaultTargetModules = ["query_key_value"]
    public static let outputHeadModules = ["lm_head", "score"]
    public static let classificationHeadModule: String? = "score"
    public static let baseModelPrefix: String? = "transformer"

    public static func supports(_ head: TaskHead) -> Bool { true }

    /// FalconForCausalLM / FalconForSequenceClassification / FalconModel.
    public static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel {
        let c = try FalconConfiguration(config)
        let settings = DecoderSettings(c.sizes, rotary: c.rotary,
                                       tieWordEmbeddings: c.tied, padTokenID: c.padTokenID)
        return DecoderModel(layout: DecoderLayout(body: "transformer", embedding: "word_embeddings", layers: "h", finalNorm: "ln_f"),
                            settings: settings, head: head, block: { _ in FalconBlock(c) }, norm: { LayerNorm(dimension: c.hidden, eps: c.eps) })
    }
}

struct FalconConfiguration {
    var sizes: TransformerSizes
    var hidden: Int { sizes.hidden }
    var heads: Int { sizes.heads }
    var layers: Int { sizes.layers }
    var ropeTheta: Double { rotary.theta }
    var kvHeads, ffn: Int
    var eps: Float
    var rotary: RotaryParameters
    /// transformers' dropout_add: attention_dropout on the attention output (sequential layout only), hidden_dropout
    /// on the block's output, train mode only. Its SDPA/eager rotary attention drops no probabilities.
    var attentionDropout, hiddenDropout: Float
    var bias, newArchitecture, parallel, tied: Bool
    var separateNorms: Bool
    var padTokenID: Int?
    var headDim: Int { sizes.headDim }

    init(_ c: ModelConfig) throws {
        typealias L = ModelConfig.Limits
        sizes = try TransformerSizes(c)
        let (hidden, heads) = (sizes.hidden, sizes.heads)
        ffn = try c.size("ffn_hidden_size", default: 4 * hidden, limit: 4 * L.width)
        eps = Float(try c.positive("layer_norm_epsilon", default: 1e-5))
        bias = try c.bool("bias", default: false)
        newArchitecture = try c.bool("new_decoder_architecture", default: false)
        parallel = try c.bool("parallel_attn", default: true)
        tied = try c.bool("tie_word_embeddings", default: true)
        padTokenID = c.values["pad_token_id"] as? Int
        // The KV head count: grouped in the 40B layout, one shared head with multi_query, else one per query head
        // (transformers' FalconAttention.num_kv_heads; its non-multi-query split assumes num_kv_heads = heads).
        if newArchitecture { kvHeads = try c.size("num_kv_heads", default: heads, limit: L.heads) }
        else { kvHeads = try c.bool("multi_query", default: true) ? 1 : heads }
        try c.requireDivides(("num_kv_heads", kvHeads), ("num_attention_heads", heads))
        let parallelNorms = try c.int("num_ln_in_parallel_attn", default: 2)
        separateNorms = newArchitecture && parallelNorms == 2
        // transformers builds input/post_attention_layernorm for it but its forward reads ln_attn: no checkpoint runs.
        if newArchitecture && !parallel {
            throw ArchitectureError.unsupported("\(c.source): new_decoder_architecture with parallel_attn false is not supported (transformers cannot run it either)")
        }
        if try c.bool("alibi", default: false) { throw ArchitectureError.unsupported("\(c.source): ALiBi Falcon models are not supported") }
        rotary = try c.rotary(headDim: hidden / heads)
        (attentionDropout, hiddenDropout) = (try c.dropout("attention_dropout"), try c.dropout("hidden_dropout"))
        let activation = try c.string("activation", default: "gelu")
        guard activation == "gelu" else { throw ArchitectureError.unsupported("\(c.source): activation \"\(activation)\" is not supported") }
    }
}

/// `transformer.h.N`: fused query_key_value, rotary attention and the MLP, in parallel or in sequence.
final class FalconBlock: Module, TransformerBlock {
    let c: FalconConfiguration
    init(_ c: FalconConfiguration) {
        self.c = c
        super.init()
        let attention = Module()
        attention.register("query_key_value", Linear(inFeatures: c.hidden, outFeatures: (c.heads + 2 * c.kvHeads) * c.headDim, bias: c.bias))
        attention.register("dense", Linear(inFeatures: c.hidden, outFeatures: c.hidden, bias: c.bias))
        register("self_attention", attention)
        let mlp = Module()
        mlp.register("dense_h_to_4h", Linear(inFeatures: c.hidden, outFeatures: c.ffn, bias: c.bias))
        mlp.register("dense_4h_to_h", Linear(inFeatures: c.ffn, outFeatures: c.hidden, bias: c.bias))
        register("mlp", mlp)
        if c.separateNorms {
            register("ln_attn", LayerNorm(dimension: c.hidden, eps: c.eps))
            register("ln_mlp", LayerNorm(dimension: c.hidden, eps: c.eps))
        } else {
            register("input_layernorm", LayerNorm(dimension: c.hidden, eps: c.eps))
            if !c.parallel { register("post_attention_layernorm", LayerNorm(dimension: c.hidden, eps: c.eps)) }
        }
    }

    /// The fused projection's layout, per transformers' `_split_heads`: per KV group, the group's query heads then
    /// its key and its value. The three layouts are this one with different group counts: 40B (grouped KV), 7B
    /// multi-query (one group: all queries, k, v) and the original per-head [q, k, v] interleave (one group per head).
    /// fused: (B, T, (H + 2·Hkv)·D) → q (B, T, H, D), k and v (B, T, Hkv, D).
    func splitQKV(_ fused: Tensor, b: Int, t: Int) -> (Tensor, Tensor, Tensor) {
        let (hd, perGroup) = (c.headDim, c.heads / c.kvHeads)
        let groups = fused.reshaped([b, t, c.kvHeads, (perGroup + 2) * hd])
        let parts = groups.split(lastAxis: [perGroup * hd, hd, hd])
        return (parts[0].reshaped([b, t, c.heads, hd]), parts[1].reshaped([b, t, c.kvHeads, hd]), parts[2].reshaped([b, t, c.kvHeads, hd]))
    }

    func forward(_ h: Tensor, _ step: BlockStep) -> Tensor {
        let (b, t) = (h.shape[0], h.shape[1])
        let attention: Module = child("self_attention"), mlp: Module = child("mlp")
        let attnIn = child(c.separateNorms ? "ln_attn" : "input_layernorm", as: LayerNorm.self)(h)
        let (q, k, v) = splitQKV(attention.linear("query_key_value")(attnIn), b: b, t: t)
        let attn = attention.linear("dense")(step.attention(query: q.rotary(step.rope!), key: k.rotary(step.rope!), value: v))
        var residual = h
        let mlpIn: Tensor
        if c.separateNorms { mlpIn = child("ln_mlp", as: LayerNorm.self)(h) }
        else if c.parallel { mlpIn = attnIn }
        else { residual = h + step.dropout(attn, c.attentionDropout); mlpIn = child("post_attention_layernorm", as: LayerNorm.self)(residual) }
        var out = mlp.linear("dense_4h_to_h")(mlp.linear("dense_h_to_4h")(mlpIn).gelu())
        if c.newArchitecture || c.parallel { out = out + attn }
        return step.dropout(out, c.hiddenDropout) + residual
    }
}
