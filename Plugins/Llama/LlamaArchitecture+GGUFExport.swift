import ArchitectureKit
import Foundation

/// GGUF export for Llama: the names and hyperparameters llama.cpp's LLM_ARCH_LLAMA loader reads
/// (llama-arch.cpp, llama-model.cpp), the inverse of `config(fromGGUF:)` and `hfTensor(forGGUF:config:)`.
extension LlamaArchitecture {
    public static func ggufTensorNames(config: ModelConfig) -> [String] {
        guard let c = try? LlamaConfiguration(config) else { return [] }
        var names = ["token_embd.weight"]
        for layer in 0..<c.layers {
            let p = "blk.\(layer)."
            names += ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]
                .map { p + $0 + ".weight" }
            // llama.cpp's Llama graph adds these biases when the tensors exist (attention_bias / mlp_bias configs).
            if c.attentionBias { names += ["attn_q", "attn_k", "attn_v", "attn_output"].map { p + $0 + ".bias" } }
            if c.mlpBias { names += ["ffn_gate", "ffn_up", "ffn_down"].map { p + $0 + ".bias" } }
        }
        names.append("output_norm.weight")
        // A tied lm_head is the embedding matrix: llama.cpp uses token_embd when output.weight is absent.
        if !c.tieWordEmbeddings { names.append("output.weight") }
        return names
    }

    public static func ggufHyperparameters(config: ModelConfig) throws -> [(key: String, value: GGUFValue)] {
        let c = try LlamaConfiguration(config)
        if c.attentionBias || c.mlpBias {
            throw ArchitectureError.unsupported("\(config.source): attention_bias/mlp_bias Llama variants are not exported to GGUF")
        }
        if let scaling = config.values["rope_scaling"], !(scaling is NSNull) {
            throw ArchitectureError.unsupported("\(config.source): rope_scaling is set; LoRAKit does not run or export scaled rotary embeddings")
        }
        var out: [(key: String, value: GGUFValue)] = [
            ("llama.block_count", .uint32(UInt32(c.layers))),
            ("llama.context_length", .uint32(UInt32(try config.int("max_position_embeddings", default: 2048)))),
            ("llama.embedding_length", .uint32(UInt32(c.hiddenSize))),
            ("llama.feed_forward_length", .uint32(UInt32(c.intermediateSize))),
            ("llama.attention.head_count", .uint32(UInt32(c.heads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
            ("llama.rope.freq_base", .float32(Float(c.ropeTheta))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps)),
            ("llama.vocab_size", .uint32(UInt32(c.vocabularySize))),
            // The rotary dimension is the whole head (Llama rotates every channel of q and k).
            ("llama.rope.dimension_count", .uint32(UInt32(c.headDim))),
        ]
        if c.headDim != c.hiddenSize / c.heads {
            out += [("llama.attention.key_length", .uint32(UInt32(c.headDim))), ("llama.attention.value_length", .uint32(UInt32(c.headDim)))]
        }
        return out
    }
}
