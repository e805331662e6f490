import ArchitectureKit
import Foundation

/// GGUF for GPT-2, as llama.cpp's LLM_ARCH_GPT2 reads it (src/models/gpt2.cpp; names from gguf-py's MODEL_TENSORS)
/// and its converter writes it (conversion/gpt2.py): the Conv1D weights (in, out) stored transposed as Linear
/// (out, in); token_embd + position_embd; pre-LN blocks with biases; output.weight only when not tied. llama.cpp
/// runs GELU with the tanh approximation (gelu_new) and scales attention by 1/√head_dim, so other settings are
/// refused. Reading is the inverse, so LoRAKit loads what it exports.
extension GPT2Architecture {
    public static var ggufArchitectures: [String] { ["gpt2"] }

    /// Per block: HF name under `transformer.h.N.` → llama.cpp name, and whether the weight is a Conv1D.
    static let blockTensors: [(hf: String, gguf: String, conv1D: Bool)] = [
        ("ln_1", "attn_norm", false), ("attn.c_attn", "attn_qkv", true), ("attn.c_proj", "attn_output", true),
        ("ln_2", "ffn_norm", false), ("mlp.c_fc", "ffn_up", true), ("mlp.c_proj", "ffn_down", true),
    ]

    public static func ggufTensorNames(config: ModelConfig) -> [String] {
        guard let c = try? GPT2Configuration(config) else { return [] }
        var names = ["token_embd.weight", "position_embd.weight"]
        for layer in 0..<c.layers {
            for t in blockTensors { names += ["blk.\(layer).\(t.gguf).weight", "blk.\(layer).\(t.gguf).bias"] }
        }
        names += ["output_norm.weight", "output_norm.bias"]
        // A tied lm_head is wte: llama.cpp uses token_embd when output.weight is absent.
        if !c.tied { names.append("output.weight") }
        return names
    }

    public static func hfTensor(forGGUF name: String, config: ModelConfig) -> GGUFTensorMapping? {
        switch name {
        case "token_embd.weight": return GGUFTensorMapping(path: "transformer.wte.weight")
        case "position_embd.weight": return GGUFTensorMapping(path: "transformer.wpe.weight")
        case "output_norm.weight": return GGUFTensorMapping(path: "transformer.ln_f.weight")
        case "output_norm.bias": return GGUFTensorMapping(path: "transformer.ln_f.bias")
        case "output.weight": return GGUFTensorMapping(path: "lm_head.weight")
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), parts[3] == "weight" || parts[3] == "bias",
              let t = blockTensors.first(where: { $0.gguf == parts[2] }) else { return nil }
        return GGUFTensorMapping(path: "transformer.h.\(layer).\(t.hf).\(parts[3])", transposed: t.conv1D && parts[3] == "weight")
    }

    public static func config(fromGGUF m: GGUFMetadata) throws -> ModelConfig {
        func int(_ key: String) throws -> Int {
            guard let v = m[key]?.int else { throw ArchitectureError.badConfig("GGUF metadata: missing integer \(key)") }
            return v
        }
        guard let vocab = m["tokenizer.ggml.tokens"]?.array?.count ?? m["gpt2.vocab_size"]?.int else {
            throw ArchitectureError.badConfig("GGUF metadata: neither tokenizer.ggml.tokens nor gpt2.vocab_size")
        }
        var values: [String: Any] = [
            "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": vocab,
            "n_embd": try int("gpt2.embedding_length"), "n_head": try int("gpt2.attention.head_count"),
            "n_layer": try int("gpt2.block_count"), "n_positions": try int("gpt2.context_length"),
            "n_inner": try int("gpt2.feed_forward_length"),
            "layer_norm_epsilon": m["gpt2.attention.layer_norm_epsilon"]?.double ?? 1e-5,
            "activation_function": "gelu_new",
            // Tied unless the file carries output.weight; the loader corrects this from the tensor list.
            "tie_word_embeddings": true,
        ]
        for (key, gguf) in [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id"),
                            ("pad_token_id", "tokenizer.ggml.padding_token_id")] {
            if let v = m[gguf]?.int { values[key] = v }
        }
        return ModelConfig(values, source: "GGUF metadata")
    }

    public static func ggufHyperparameters(config: ModelConfig) throws -> [(key: String, value: GGUFValue)] {
        let c = try GPT2Configuration(config)
        guard c.activation == "gelu_new" || c.activation == "gelu_pytorch_tanh" else {
            throw ArchitectureError.unsupported("\(config.source): activation_function \"\(c.activation)\"; llama.cpp's GPT-2 runs GELU with the tanh approximation (gelu_new) only")
        }
        guard c.attentionScale == nil else {
            throw ArchitectureError.unsupported("\(config.source): scale_attn_weights is false; llama.cpp's GPT-2 always scales attention by 1/√head_dim")
        }
        return [
            ("gpt2.block_count", .uint32(UInt32(c.layers))),
            // llama.cpp sizes position_embd by the training context: it must be n_positions.
            ("gpt2.context_length", .uint32(UInt32(c.positions))),
            ("gpt2.embedding_length", .uint32(UInt32(c.hidden))),
            ("gpt2.feed_forward_length", .uint32(UInt32(c.inner))),
            ("gpt2.attention.head_count", .uint32(UInt32(c.heads))),
            ("gpt2.attention.layer_norm_epsilon", .float32(c.eps)),
        ]
    }
}
