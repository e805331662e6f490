import ArchitectureKit
import NN
import TensorCore

/// Llama (and Mistral configs whose sliding window covers the whole context): LlamaForCausalLM,
/// LlamaForSequenceClassification and LlamaModel with transformers' module names.
public enum LlamaArchitecture: ArchitecturePlugin {
    public static let name = "Llama"
    public static let modelTypes = ["llama", "mistral"]
    public static let ggufArchitectures = ["llama"]
    /// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["llama"].
    public static let defaultTargetModules = ["q_proj", "v_proj"]
    public static let outputHeadModules = ["lm_head", "score"]
    public static let classificationHeadModule: String? = "score"
    public static let baseModelPrefix: String? = "model"

    public static func supports(_ head: TaskHead) -> Bool { true }

    /// LlamaForCausalLM / LlamaForSequenceClassification / LlamaModel, depending on the head.
    public static func makeModel(config: ModelConfig, head: TaskHead) throws -> any ArchitectureModel {
        let c = try LlamaConfiguration(config)
        let settings = DecoderSettings(vocabularySize: c.vocabularySize, hiddenSize: c.hiddenSize, layers: c.layers,
                                       rotary: c.rotary, tieWordEmbeddings: c.tieWordEmbeddings, padTokenID: c.padTokenID)
        return DecoderModel(layout: DecoderLayout(body: "model", embedding: "embed_tokens", layers: "layers", finalNorm: "norm"),
                            settings: settings, head: head, block: { _ in LlamaDecoderLayer(c) },
                            norm: { RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps) })
    }

    public static func config(fromGGUF m: GGUFMetadata) throws -> ModelConfig {
        func int(_ key: String) throws -> Int {
            guard let v = m[key]?.int else { throw ArchitectureError.badConfig("GGUF metadata: missing integer \(key)") }
            return v
        }
        let heads = try int("llama.attention.head_count")
        let hidden = try int("llama.embedding_length")
        // config.json's checks (LlamaConfiguration) name the HF keys; this one guards the division just below.
        guard heads > 0 else { throw ArchitectureError.badConfig("GGUF metadata: llama.attention.head_count is \(heads); it must be positive") }
        guard let vocab = m["tokenizer.ggml.tokens"]?.array?.count ?? m["llama.vocab_size"]?.int else {
            throw ArchitectureError.badConfig("GGUF metadata: neither tokenizer.ggml.tokens nor llama.vocab_size")
        }
        var values: [String: Any] = [
            "model_type": "llama", "architectures": ["LlamaForCausalLM"],
            "vocab_size": vocab, "hidden_size": hidden,
            "intermediate_size": try int("llama.feed_forward_length"),
            "num_hidden_layers": try int("llama.block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": m["llama.attention.head_count_kv"]?.int ?? heads,
            "head_dim": m["llama.attention.key_length"]?.int ?? hidden / heads,
            "rms_norm_eps": m["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-6,
            "rope_theta": m["llama.rope.freq_base"]?.double ?? 10_000,
            "max_position_embeddings": m["llama.context_length"]?.int ?? 2048,
            // Tied unless the file carries a separate output matrix; the loader corrects this from the tensor list.
            "tie_word_embeddings": true,
        ]
        for (key, gguf) in [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id"),
                            ("pad_token_id", "tokenizer.ggml.padding_token_id")] {
            if let v = m[gguf]?.int { values[key] = v }
        }
        return ModelConfig(values, source: "GGUF metadata")
    }

    public static func hfTensor(forGGUF name: String, config: ModelConfig) -> GGUFTensorMapping? {
        switch name {
        case "token_embd.weight": return GGUFTensorMapping(path: "model.embed_tokens.weight")
        case "output_norm.weight": return GGUFTensorMapping(path: "model.norm.weight")
        case "output.weight": return GGUFTensorMapping(path: "lm_head.weight")
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let heads = try? config.int("num_attention_heads")
        let kvHeads = (try? config.int("num_key_value_heads")) ?? heads
        let prefix = "model.layers.\(layer)."
        let suffix = "." + parts[3]
        switch parts[2] {
        // llama.cpp's converter permutes q/k rows for its rotary layout; k with the KV head count.
        case "attn_q": return GGUFTensorMapping(path: prefix + "self_attn.q_proj" + suffix, undoRotaryPermutation: parts[3] == "weight" ? heads : nil)
        case "attn_k": return GGUFTensorMapping(path: prefix + "self_attn.k_proj" + suffix, undoRotaryPermutation: parts[3] == "weight" ? kvHeads : nil)
        case "attn_v": return GGUFTensorMapping(path: prefix + "self_attn.v_proj" + suffix)
        case "attn_output": return GGUFTensorMapping(path: prefix + "self_attn.o_proj" + suffix)
        case "ffn_gate": return GGUFTensorMapping(path: prefix + "mlp.gate_proj" + suffix)
        case "ffn_up": return GGUFTensorMapping(path: prefix + "mlp.up_proj" + suffix)
        case "ffn_down": return GGUFTensorMapping(path: prefix + "mlp.down_proj" + suffix)
        case "attn_norm": return GGUFTensorMapping(path: prefix + "input_layernorm" + suffix)
        case "ffn_norm": return GGUFTensorMapping(path: prefix + "post_attention_layernorm" + suffix)
        default: return nil
        }
    }
}
