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
        return GPTNeoXModel(try GPTNeoXConfiguration(config), head: head)
    }
}

struct GPTNeoXConfiguration {
    var vocabularySize, hidden, heads, layers, intermediate, rotaryDim: Int
    var eps: Float
    var theta: Double
    var parallelResidual, tied: Bool

    init(_ c: ModelConfig) throws {
        vocabularySize = try c.int("vocab_size")
        hidden = try c.int("hidden_size")
        heads = try c.int("num_attention_heads")
        layers = try c.int("num_hidden_layers")
        intermediate = try c.int("intermediate_size", default: 4 * hidden)
        eps = Float(try c.double("layer_norm_eps", default: 1e-5))
        parallelResidual = try c.bool("use_parallel_residual", default: true)
        tied = try c.bool("tie_word_embeddings", default: false)
        // transformers 5: rope_parameters {rope_theta, partial_rotary_factor}; older: rotary_emb_base, rotary_pct.
        let rope = (c.values["rope_parameters"] as? [String: Any]).map { ModelConfig($0, source: c.source + " rope_parameters") }
        theta = try rope?.double("rope_theta", default: 10_000) ?? c.double("rotary_emb_base", default: 10_000)
        let fraction = try rope?.double("partial_rotary_factor", default: 1) ?? c.double("rotary_pct", default: 0.25)
        rotaryDim = Int(Double(hidden / heads) * fraction)
        let act = try c.string("hidden_act", default: "gelu")
        guard act == "gelu" else { throw ArchitectureError.unsupported("\(c.source): hidden_act \"\(act)\" is not supported") }
    }
}

final class GPTNeoXLayer: Module {
    let c: GPTNeoXConfiguration
    init(_ c: GPTNeoXConfiguration) {
        self.c = c
        super.init()
        register("input_layernorm", LayerNorm(dimension: c.hidden, eps: c.eps))
        register("post_attention_layernorm", LayerNorm(dimension: c.hidden, eps: c.eps))
        let attention = Module()
        attention.register("query_key_value", Linear(inFeatures: c.hidden, outFeatures: 3 * c.hidden, bias: true))
        attention.register("dense", Linear(inFeatures: c.hidden, outFeatures: c.hidden, bias: true))
        register("attention", attention)
        let mlp = Module()
        mlp.register("dense_h_to_4h", Linear(inFeatures: c.hidden, outFeatures: c.intermediate, bias: true))
        mlp.register("dense_4h_to_h", Linear(inFeatures: c.intermediate, outFeatures: c.hidden, bias: true))
        register("mlp", mlp)
    }

    func callAsFunction(_ h: Tensor, rope: RotaryTable, mask: AttentionMask, cache: KVCache?, layer: Int) -> Tensor {
        let (b, t, hd) = (h.shape[0], h.shape[1], c.hidden / c.heads)
        let attention: Module = child("attention"), mlp: Module = child("mlp")
        // The fused projection is laid out per head as [q, k, v] (view (B, T, H, 3·D), then chunk).
        let qkv = attention.linear("query_key_value")(child("input_layernorm", as: LayerNorm.self)(h))
            .reshaped([b, t, c.heads, 3 * hd]).split(lastAxis: [hd, hd, hd])
        let q = qkv[0].rotary(rope)
        var k = qkv[1].rotary(rope), v = qkv[2]
        if let cache { (k, v) = cache.append(layer: layer, keys: k, values: v) }
        let attn = attention.linear("dense")(scaledDotProductAttention(query: q, key: k, value: v, mask: mask).reshaped([b, t, c.hidden]))
        let post = child("post_attention_layernorm", as: LayerNorm.self)
        func feedForward(_ x: Tensor) -> Tensor { mlp.linear("dense_4h_to_h")(mlp.linear("dense_h_to_4h")(post(x)).gelu()) }
        if c.parallelResidual { return feedForward(h) + attn + h }
        let a = attn + h
        return feedForward(a) + a
    }
}

/// GPTNeoXForCausalLM / GPTNeoXModel.
public final class GPTNeoXModel: Module, ArchitectureModel {
    public let head: TaskHead
    let c: GPTNeoXConfiguration

    init(_ c: GPTNeoXConfiguration, head: TaskHead) {
        self.c = c
        self.head = head
        super.init()
        let body = Module()
        body.register("embed_in", Embedding(count: c.vocabularySize, dimension: c.hidden))
        body.register("layers", ModuleList((0..<c.layers).map { _ in GPTNeoXLayer(c) }))
        body.register("final_layer_norm", LayerNorm(dimension: c.hidden, eps: c.eps))
        register("gpt_neox", body)
        if head == .causalLM {
            register("embed_out", Linear(inFeatures: c.hidden, outFeatures: c.vocabularySize, bias: false))
            if c.tied { try! tie("embed_out.weight", to: "gpt_neox.embed_in.weight") }
        }
    }

    public var tiedParameters: [String: String] { c.tied && head == .causalLM ? ["embed_out.weight": "gpt_neox.embed_in.weight"] : [:] }

    public func forward(_ input: ModelInput) -> Tensor {
        let body: Module = child("gpt_neox")
        let past = input.cache?.length ?? 0
        let positions = input.positionIDs ?? ModelInput.defaultPositions(batch: input.batchSize, length: input.length, offset: past)
        let rope = RotaryTable(rotaryDim: c.rotaryDim, theta: c.theta, positions: positions)
        let mask = AttentionMask(causal: true, keyPadding: input.keyPaddingMask(pastLength: past), segments: input.segmentIDs)
        var h = body.child("embed_in", as: Embedding.self)(input.inputIDs)
        let layers: ModuleList<GPTNeoXLayer> = body.child("layers")
        for i in 0..<layers.count { h = layers[i](h, rope: rope, mask: mask, cache: input.cache, layer: i) }
        h = body.child("final_layer_norm", as: LayerNorm.self)(h)
        return head == .causalLM ? linear("embed_out")(h) : h
    }
}

/// The entry point `lorakit` looks up after dlopen: its name carries the plugin ABI this library is written for, so
/// the host checks the version in the symbol table before calling it.
@_cdecl("lorakit_plugin_register_v2")
public func lorakitPluginRegister(_ origin: UnsafePointer<CChar>) {
    ArchitectureRegistry.shared.register(GPTNeoXArchitecture.self, origin: String(cString: origin))
}
