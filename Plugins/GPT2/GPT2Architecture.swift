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
        GPT2Model(try GPT2Configuration(config), head: head)
    }
}

public struct GPT2Configuration {
    var vocabularySize, hidden, heads, layers, positions, inner: Int
    var eps: Float
    var activation: String
    var tied: Bool
    /// scale_attn_weights: scores divided by √head_dim (true for every released GPT-2).
    var attentionScale: Float?
    var padTokenID: Int?

    init(_ c: ModelConfig) throws {
        typealias L = ModelConfig.Limits
        vocabularySize = try c.size("vocab_size", limit: L.vocabulary)
        hidden = try c.size("n_embd", limit: L.width)
        heads = try c.size("n_head", limit: L.heads)
        try c.requireDivides(("n_head", heads), ("n_embd", hidden))
        layers = try c.size("n_layer", limit: L.layers)
        positions = try c.size("n_positions", default: 1024, limit: L.positions)
        inner = try c.size("n_inner", default: 4 * hidden, limit: 4 * L.width)
        eps = Float(try c.positive("layer_norm_epsilon", default: 1e-5))
        activation = try c.string("activation_function", default: "gelu_new")
        guard ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"].contains(activation) else {
            throw ArchitectureError.unsupported("\(c.source): activation_function \"\(activation)\" is not supported")
        }
        tied = try c.bool("tie_word_embeddings", default: true)
        attentionScale = try c.bool("scale_attn_weights", default: true) ? nil : 1
        padTokenID = c.values["pad_token_id"] as? Int
        if try c.bool("scale_attn_by_inverse_layer_idx", default: false) || c.bool("reorder_and_upcast_attn", default: false) {
            throw ArchitectureError.unsupported("\(c.source): scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported")
        }
    }

    func activate(_ x: Tensor) -> Tensor {
        switch activation {
        case "gelu": return x.gelu()
        case "relu": return x.relu()
        default: return x.geluTanh()
        }
    }
}

final class GPT2Block: Module {
    let c: GPT2Configuration
    init(_ c: GPT2Configuration) {
        self.c = c
        super.init()
        register("ln_1", LayerNorm(dimension: c.hidden, eps: c.eps))
        let attn = Module()
        attn.register("c_attn", Conv1D(inFeatures: c.hidden, outFeatures: 3 * c.hidden))
        attn.register("c_proj", Conv1D(inFeatures: c.hidden, outFeatures: c.hidden))
        register("attn", attn)
        register("ln_2", LayerNorm(dimension: c.hidden, eps: c.eps))
        let mlp = Module()
        mlp.register("c_fc", Conv1D(inFeatures: c.hidden, outFeatures: c.inner))
        mlp.register("c_proj", Conv1D(inFeatures: c.inner, outFeatures: c.hidden))
        register("mlp", mlp)
    }

    func callAsFunction(_ h: Tensor, mask: AttentionMask, cache: KVCache?, layer: Int) -> Tensor {
        let (b, t, hd) = (h.shape[0], h.shape[1], c.hidden / c.heads)
        let attn: Module = child("attn"), mlp: Module = child("mlp")
        let qkv = attn.linear("c_attn")(child("ln_1", as: LayerNorm.self)(h)).split(lastAxis: [c.hidden, c.hidden, c.hidden])
        let q = qkv[0].reshaped([b, t, c.heads, hd])
        var k = qkv[1].reshaped([b, t, c.heads, hd]), v = qkv[2].reshaped([b, t, c.heads, hd])
        if let cache { (k, v) = cache.append(layer: layer, keys: k, values: v) }
        let o = scaledDotProductAttention(query: q, key: k, value: v, mask: mask, scale: c.attentionScale).reshaped([b, t, c.hidden])
        let h = h + attn.linear("c_proj")(o)
        return h + mlp.linear("c_proj")(c.activate(mlp.linear("c_fc")(child("ln_2", as: LayerNorm.self)(h))))
    }
}

/// GPT2LMHeadModel / GPT2ForSequenceClassification / GPT2Model.
public final class GPT2Model: Module, ArchitectureModel, GradientCheckpointable, ChunkedLossModel {
    public let head: TaskHead
    let c: GPT2Configuration
    /// Recompute each block during backward instead of keeping its activations.
    public var gradientCheckpointing = false

    init(_ c: GPT2Configuration, head: TaskHead) {
        self.c = c
        self.head = head
        super.init()
        let t = head == .base ? self : Module()
        t.register("wte", Embedding(count: c.vocabularySize, dimension: c.hidden))
        t.register("wpe", Embedding(count: c.positions, dimension: c.hidden))
        t.register("h", ModuleList((0..<c.layers).map { _ in GPT2Block(c) }))
        t.register("ln_f", LayerNorm(dimension: c.hidden, eps: c.eps))
        // `.base` is GPT2Model (AutoModel), whose modules sit at the root as transformers names them; the heads nest it
        // under `transformer`. The loader maps checkpoints of either form.
        if head != .base { register("transformer", t) }
        switch head {
        case .causalLM:
            register("lm_head", Linear(inFeatures: c.hidden, outFeatures: c.vocabularySize, bias: false))
            if c.tied { try! tie("lm_head.weight", to: "transformer.wte.weight") }
        case .sequenceClassification(let n):
            register("score", Linear(inFeatures: c.hidden, outFeatures: n, bias: false))
        case .base: break
        }
    }

    public var tiedParameters: [String: String] { c.tied && head == .causalLM ? ["lm_head.weight": "transformer.wte.weight"] : [:] }

    var body: Module { head == .base ? self : child("transformer", as: Module.self) }

    public var outputHead: Module? { head == .causalLM ? child("lm_head") : nil }

    /// ln_f's output (B, T, hidden).
    public func hiddenStates(_ input: ModelInput) -> Tensor {
        let t = body
        let past = input.cache?.length ?? 0
        let positions = input.positionIDs ?? ModelInput.defaultPositions(batch: input.batchSize, length: input.length, offset: past)
        var h = t.child("wte", as: Embedding.self)(input.inputIDs) + t.child("wpe", as: Embedding.self)(positions)
        let mask = AttentionMask(causal: true, keyPadding: input.keyPaddingMask(pastLength: past), segments: input.segmentIDs)
        let blocks: ModuleList<GPT2Block> = t.child("h")
        for i in 0..<blocks.count {
            let block = blocks[i]
            if gradientCheckpointing && input.cache == nil {
                h = checkpointed([h]) { block($0[0], mask: mask, cache: nil, layer: i) }
            } else {
                h = block(h, mask: mask, cache: input.cache, layer: i)
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
