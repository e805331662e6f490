import ArchitectureKit
import NN
import TensorCore

/// `self_attn`: q/k/v/o projections, rotary positions, grouped-query attention, optional KV cache.
final class LlamaAttention: Module {
    let heads: Int, kvHeads: Int, headDim: Int

    init(_ c: LlamaConfiguration) {
        (heads, kvHeads, headDim) = (c.heads, c.kvHeads, c.headDim)
        super.init()
        register("q_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.heads * c.headDim, bias: c.attentionBias))
        register("k_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.kvHeads * c.headDim, bias: c.attentionBias))
        register("v_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.kvHeads * c.headDim, bias: c.attentionBias))
        register("o_proj", Linear(inFeatures: c.heads * c.headDim, outFeatures: c.hiddenSize, bias: c.attentionBias))
    }

    /// x: (B, T, hidden) → (B, T, hidden).
    func callAsFunction(_ x: Tensor, rope: RotaryTable, mask: AttentionMask, cache: KVCache?, layer: Int) -> Tensor {
        let (b, t) = (x.shape[0], x.shape[1])
        let q = linear("q_proj")(x).reshaped([b, t, heads, headDim]).rotary(rope)
        var k = linear("k_proj")(x).reshaped([b, t, kvHeads, headDim]).rotary(rope)
        var v = linear("v_proj")(x).reshaped([b, t, kvHeads, headDim])
        if let cache { (k, v) = cache.append(layer: layer, keys: k, values: v) }
        let o = scaledDotProductAttention(query: q, key: k, value: v, mask: mask)
        return linear("o_proj")(o.reshaped([b, t, heads * headDim]))
    }
}

/// `mlp`: down(silu(gate(x)) ⊙ up(x)).
final class LlamaMLP: Module {
    init(_ c: LlamaConfiguration) {
        super.init()
        register("gate_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias))
        register("up_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias))
        register("down_proj", Linear(inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, bias: c.mlpBias))
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        linear("down_proj")(swiglu(gate: linear("gate_proj")(x), up: linear("up_proj")(x)))
    }
}

/// One pre-norm decoder layer (`model.layers.N`).
final class LlamaDecoderLayer: Module {
    init(_ c: LlamaConfiguration) {
        super.init()
        register("self_attn", LlamaAttention(c))
        register("mlp", LlamaMLP(c))
        register("input_layernorm", RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps))
        register("post_attention_layernorm", RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps))
    }

    func callAsFunction(_ h: Tensor, rope: RotaryTable, mask: AttentionMask, cache: KVCache?, layer: Int) -> Tensor {
        let attn: LlamaAttention = child("self_attn")
        let normed = child("input_layernorm", as: RMSNorm.self)(h)
        let h = h + attn(normed, rope: rope, mask: mask, cache: cache, layer: layer)
        return h + child("mlp", as: LlamaMLP.self)(child("post_attention_layernorm", as: RMSNorm.self)(h))
    }
}

/// `model`: embeddings, decoder stack and final norm (LlamaModel).
final class LlamaBackbone: Module {
    let config: LlamaConfiguration
    /// Recompute each decoder layer during backward instead of keeping its activations.
    var gradientCheckpointing = false

    init(_ c: LlamaConfiguration) {
        config = c
        super.init()
        register("embed_tokens", Embedding(count: c.vocabularySize, dimension: c.hiddenSize))
        register("layers", ModuleList((0..<c.layers).map { _ in LlamaDecoderLayer(c) }))
        register("norm", RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps))
    }

    /// Last hidden states (B, T, hidden).
    func callAsFunction(_ input: ModelInput) -> Tensor {
        let past = input.cache?.length ?? 0
        let positions = input.positionIDs ?? ModelInput.defaultPositions(batch: input.batchSize, length: input.length, offset: past)
        let rope = RotaryTable(rotaryDim: config.headDim, theta: config.ropeTheta, positions: positions)
        let mask = AttentionMask(causal: true, keyPadding: input.keyPaddingMask(pastLength: past), segments: input.segmentIDs)
        var h = child("embed_tokens", as: Embedding.self)(input.inputIDs)
        let layers: ModuleList<LlamaDecoderLayer> = child("layers")
        for i in 0..<layers.count {
            let layer = layers[i]
            if gradientCheckpointing && input.cache == nil {
                h = checkpointed([h]) { layer($0[0], rope: rope, mask: mask, cache: nil, layer: i) }
            } else {
                h = layer(h, rope: rope, mask: mask, cache: input.cache, layer: i)
            }
        }
        return child("norm", as: RMSNorm.self)(h)
    }
}
