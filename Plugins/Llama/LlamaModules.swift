import ArchitectureKit
import NN
import TensorCore

/// One pre-norm decoder layer (`model.layers.N`): `self_attn` (q/k/v/o, rotary, grouped-query attention) and a
/// SwiGLU `mlp`, each behind an RMSNorm.
final class LlamaDecoderLayer: Module, TransformerBlock {
    let c: LlamaConfiguration

    init(_ c: LlamaConfiguration) {
        self.c = c
        super.init()
        let attention = Module(), mlp = Module()
        for (name, out) in [("q_proj", c.heads), ("k_proj", c.kvHeads), ("v_proj", c.kvHeads)] {
            attention.register(name, Linear(inFeatures: c.hiddenSize, outFeatures: out * c.headDim, bias: c.attentionBias))
        }
        attention.register("o_proj", Linear(inFeatures: c.heads * c.headDim, outFeatures: c.hiddenSize, bias: c.attentionBias))
        for name in ["gate_proj", "up_proj"] { mlp.register(name, Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias)) }
        mlp.register("down_proj", Linear(inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, bias: c.mlpBias))
        register("self_attn", attention)
        register("mlp", mlp)
        register("input_layernorm", RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps))
        register("post_attention_layernorm", RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps))
    }

    /// h: (B, T, hidden) → (B, T, hidden). attention_dropout drops attention probabilities (train mode only).
    func forward(_ h: Tensor, _ step: BlockStep) -> Tensor {
        let (b, t) = (h.shape[0], h.shape[1])
        let attention: Module = child("self_attn"), mlp: Module = child("mlp")
        let x = child("input_layernorm", as: RMSNorm.self)(h)
        let q = attention.linear("q_proj")(x).reshaped([b, t, c.heads, c.headDim]).rotary(step.rope!)
        let k = attention.linear("k_proj")(x).reshaped([b, t, c.kvHeads, c.headDim]).rotary(step.rope!)
        let v = attention.linear("v_proj")(x).reshaped([b, t, c.kvHeads, c.headDim])
        let h = h + attention.linear("o_proj")(step.attention(query: q, key: k, value: v, dropout: c.attentionDropout))
        let y = child("post_attention_layernorm", as: RMSNorm.self)(h)
        return h + mlp.linear("down_proj")(swiglu(gate: mlp.linear("gate_proj")(y), up: mlp.linear("up_proj")(y)))
    }
}
