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

    public static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel {
        FalconModel(try FalconConfiguration(config), head: head)
    }
}

struct FalconConfiguration {
    var vocabularySize, hidden, heads, kvHeads, layers, ffn: Int
    var eps: Float
    var ropeTheta: Double
    var bias, newArchitecture, parallel, tied: Bool
    var separateNorms: Bool
    var padTokenID: Int?
    var headDim: Int { hidden / heads }

    init(_ c: ModelConfig) throws {
        typealias L = ModelConfig.Limits
        vocabularySize = try c.size("vocab_size", limit: L.vocabulary)
        hidden = try c.size("hidden_size", limit: L.width)
        heads = try c.size("num_attention_heads", limit: L.heads)
        try c.requireDivides(("num_attention_heads", heads), ("hidden_size", hidden))
        guard (hidden / heads) % 2 == 0 else {
            throw ArchitectureError.badConfig("\(c.source): head size hidden_size / num_attention_heads = \(hidden / heads) must be even for rotary embeddings")
        }
        layers = try c.size("num_hidden_layers", limit: L.layers)
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
        // transformers 5 nests rope settings under rope_parameters; older configs have rope_theta at the top level.
        if let rope = c.values["rope_parameters"] as? [String: Any] {
            let ropeType = rope["rope_type"] as? String ?? "default"
            guard ropeType == "default" else {
                throw ArchitectureError.unsupported("\(c.source): rope_type \"\(ropeType)\" is not supported (only \"default\")")
            }
            ropeTheta = try ModelConfig(rope, source: c.source + " rope_parameters").positive("rope_theta", default: 10_000)
        } else { ropeTheta = try c.positive("rope_theta", default: 10_000) }
        let activation = try c.string("activation", default: "gelu")
        guard activation == "gelu" else { throw ArchitectureError.unsupported("\(c.source): activation \"\(activation)\" is not supported") }
    }
}

final class FalconBlock: Module {
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

    func callAsFunction(_ h: Tensor, rope: RotaryTable, mask: AttentionMask, cache: KVCache?, layer: Int) -> Tensor {
        let (b, t) = (h.shape[0], h.shape[1])
        let attention: Module = child("self_attention"), mlp: Module = child("mlp")
        let attnIn = c.separateNorms ? child("ln_attn", as: LayerNorm.self)(h) : child("input_layernorm", as: LayerNorm.self)(h)
        var (q, k, v) = splitQKV(attention.linear("query_key_value")(attnIn), b: b, t: t)
        q = q.rotary(rope)
        k = k.rotary(rope)
        if let cache { (k, v) = cache.append(layer: layer, keys: k, values: v) }
        let attn = attention.linear("dense")(scaledDotProductAttention(query: q, key: k, value: v, mask: mask).reshaped([b, t, c.hidden]))
        var residual = h
        let mlpIn: Tensor
        if c.separateNorms { mlpIn = child("ln_mlp", as: LayerNorm.self)(h) }
        else if c.parallel { mlpIn = attnIn }
        else { residual = h + attn; mlpIn = child("post_attention_layernorm", as: LayerNorm.self)(residual) }
        var out = mlp.linear("dense_4h_to_h")(mlp.linear("dense_h_to_4h")(mlpIn).gelu())
        if c.newArchitecture || c.parallel { out = out + attn }
        return out + residual
    }
}

/// FalconForCausalLM / FalconForSequenceClassification / FalconModel.
public final class FalconModel: Module, ArchitectureModel, GradientCheckpointable, ChunkedLossModel {
    public let head: TaskHead
    let c: FalconConfiguration
    /// Recompute each block during backward instead of keeping its activations.
    public var gradientCheckpointing = false

    init(_ c: FalconConfiguration, head: TaskHead) {
        self.c = c
        self.head = head
        super.init()
        let t = head == .base ? self : Module()
        t.register("word_embeddings", Embedding(count: c.vocabularySize, dimension: c.hidden))
        t.register("h", ModuleList((0..<c.layers).map { _ in FalconBlock(c) }))
        t.register("ln_f", LayerNorm(dimension: c.hidden, eps: c.eps))
        // `.base` is FalconModel (AutoModel), whose modules sit at the root as transformers names them; the heads nest it
        // under `transformer`. The loader maps checkpoints of either form.
        if head != .base { register("transformer", t) }
        switch head {
        case .causalLM:
            register("lm_head", Linear(inFeatures: c.hidden, outFeatures: c.vocabularySize, bias: false))
            if c.tied { try! tie("lm_head.weight", to: "transformer.word_embeddings.weight") }
        case .sequenceClassification(let n):
            register("score", Linear(inFeatures: c.hidden, outFeatures: n, bias: false))
        case .base: break
        }
    }

    public var tiedParameters: [String: String] { c.tied && head == .causalLM ? ["lm_head.weight": "transformer.word_embeddings.weight"] : [:] }

    var body: Module { head == .base ? self : child("transformer", as: Module.self) }

    public var outputHead: Module? { head == .causalLM ? child("lm_head") : nil }

    /// ln_f's output (B, T, hidden).
    public func hiddenStates(_ input: ModelInput) -> Tensor {
        let t = body
        let past = input.cache?.length ?? 0
        let positions = input.positionIDs ?? ModelInput.defaultPositions(batch: input.batchSize, length: input.length, offset: past)
        let rope = RotaryTable(rotaryDim: c.headDim, theta: c.ropeTheta, positions: positions)
        let mask = AttentionMask(causal: true, keyPadding: input.keyPaddingMask(pastLength: past), segments: input.segmentIDs)
        var h = t.child("word_embeddings", as: Embedding.self)(input.inputIDs)
        let blocks: ModuleList<FalconBlock> = t.child("h")
        for i in 0..<blocks.count {
            let block = blocks[i]
            if gradientCheckpointing && input.cache == nil {
                h = checkpointed([h]) { block($0[0], rope: rope, mask: mask, cache: nil, layer: i) }
            } else {
                h = block(h, rope: rope, mask: mask, cache: input.cache, layer: i)
            }
        }
        return t.child("ln_f", as: LayerNorm.self)(h)
    }

    public func forward(_ input: ModelInput) -> Tensor {
        let h = hiddenStates(input)
        switch head {
        case .causalLM: return linear("lm_head")(h)
        case .sequenceClassification: return linear("score")(h.gatherRows(input.lastTokenIndices(padTokenID: c.padTokenID)))
        case .base: return h
        }
    }
}
