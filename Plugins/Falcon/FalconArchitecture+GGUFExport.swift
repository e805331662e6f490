import ArchitectureKit
import Foundation

/// GGUF for Falcon, as llama.cpp's LLM_ARCH_FALCON reads it (src/models/falcon.cpp; names from gguf-py's
/// tensor_mapping) and its converter writes it (conversion/falcon.py): the fused query_key_value with its rows
/// regrouped from per-KV-group [q…, k, v] to [all q, all k, all v] ("jploski" layout), no biases, parallel attention,
/// `attn_norm` = input_layernorm (7B) or ln_mlp (40B) and `attn_norm_2` = ln_attn (40B). llama.cpp rotates q/k in
/// NeoX style (halves), as transformers does, so no rotary permutation.
///
/// Two layouts are exported — the 7B one (multi-query, one norm) and the 40B one (grouped KV, ln_attn + ln_mlp) —
/// because they are the ones a GGUF's metadata tells apart (head_count_kv 1 or more), so LoRAKit reads its export
/// back as the same model. llama.cpp computes GELU with the tanh approximation where Falcon uses the exact erf: a
/// small numerical difference (README "Export").
extension FalconArchitecture {
    public static var ggufArchitectures: [String] { ["falcon"] }

    public static func ggufTensorNames(config: ModelConfig) -> [String] {
        guard let c = try? FalconConfiguration(config) else { return [] }
        var names = ["token_embd.weight"]
        for layer in 0..<c.layers {
            let p = "blk.\(layer)."
            names += [p + "attn_norm.weight", p + "attn_norm.bias"]
            if c.separateNorms { names += [p + "attn_norm_2.weight", p + "attn_norm_2.bias"] }
            names += ["attn_qkv", "attn_output", "ffn_up", "ffn_down"].map { p + $0 + ".weight" }
        }
        names += ["output_norm.weight", "output_norm.bias"]
        if !c.tied { names.append("output.weight") }
        return names
    }

    public static func hfTensor(forGGUF name: String, config: ModelConfig) -> GGUFTensorMapping? {
        switch name {
        case "token_embd.weight": return GGUFTensorMapping(path: "transformer.word_embeddings.weight")
        case "output_norm.weight": return GGUFTensorMapping(path: "transformer.ln_f.weight")
        case "output_norm.bias": return GGUFTensorMapping(path: "transformer.ln_f.bias")
        case "output.weight": return GGUFTensorMapping(path: "lm_head.weight")
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), let c = try? FalconConfiguration(config) else { return nil }
        let p = "transformer.h.\(layer).", suffix = "." + parts[3]
        switch (parts[2], parts[3]) {
        case ("attn_norm", _): return GGUFTensorMapping(path: p + (c.separateNorms ? "ln_mlp" : "input_layernorm") + suffix)
        case ("attn_norm_2", _) where c.separateNorms: return GGUFTensorMapping(path: p + "ln_attn" + suffix)
        case ("attn_qkv", "weight"):
            return GGUFTensorMapping(path: p + "self_attention.query_key_value.weight", groupedQKV: (c.heads, c.kvHeads))
        case ("attn_output", "weight"): return GGUFTensorMapping(path: p + "self_attention.dense.weight")
        case ("ffn_up", "weight"): return GGUFTensorMapping(path: p + "mlp.dense_h_to_4h.weight")
        case ("ffn_down", "weight"): return GGUFTensorMapping(path: p + "mlp.dense_4h_to_h.weight")
        default: return nil
        }
    }

    /// The 7B layout when the file has one KV head, else the 40B one (the two layouts `ggufHyperparameters` exports).
    public static func config(fromGGUF m: GGUFMetadata) throws -> ModelConfig {
        func int(_ key: String) throws -> Int {
            guard let v = m[key]?.int else { throw ArchitectureError.badConfig("GGUF metadata: missing integer \(key)") }
            return v
        }
        guard let vocab = m["tokenizer.ggml.tokens"]?.array?.count ?? m["falcon.vocab_size"]?.int else {
            throw ArchitectureError.badConfig("GGUF metadata: neither tokenizer.ggml.tokens nor falcon.vocab_size")
        }
        let heads = try int("falcon.attention.head_count"), kvHeads = m["falcon.attention.head_count_kv"]?.int ?? 1
        var values: [String: Any] = [
            "model_type": "falcon", "architectures": ["FalconForCausalLM"], "vocab_size": vocab,
            "hidden_size": try int("falcon.embedding_length"), "num_attention_heads": heads,
            "num_hidden_layers": try int("falcon.block_count"), "ffn_hidden_size": try int("falcon.feed_forward_length"),
            "layer_norm_epsilon": m["falcon.attention.layer_norm_epsilon"]?.double ?? 1e-5,
            "rope_theta": m["falcon.rope.freq_base"]?.double ?? 10_000,
            "max_position_embeddings": m["falcon.context_length"]?.int ?? 2048,
            "bias": false, "parallel_attn": true, "alibi": false, "activation": "gelu",
            "tie_word_embeddings": true,
        ]
        if kvHeads == 1 {
            values["new_decoder_architecture"] = false
            values["multi_query"] = true
        } else {
            values["new_decoder_architecture"] = true
            values["num_kv_heads"] = kvHeads
            values["num_ln_in_parallel_attn"] = 2
        }
        for (key, gguf) in [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id"),
                            ("pad_token_id", "tokenizer.ggml.padding_token_id")] {
            if let v = m[gguf]?.int { values[key] = v }
        }
        return ModelConfig(values, source: "GGUF metadata")
    }

    public static func ggufHyperparameters(config: ModelConfig) throws -> [(key: String, value: GGUFValue)] {
        let c = try FalconConfiguration(config)
        guard !c.bias else { throw ArchitectureError.unsupported("\(config.source): bias is true; llama.cpp's Falcon has no linear biases") }
        guard c.parallel else { throw ArchitectureError.unsupported("\(config.source): parallel_attn is false; llama.cpp's Falcon runs parallel attention only") }
        let sevenB = c.kvHeads == 1 && !c.separateNorms, fortyB = c.kvHeads > 1 && c.separateNorms
        guard sevenB || fortyB else {
            throw ArchitectureError.unsupported("\(config.source): \(c.kvHeads) KV head(s) with \(c.separateNorms ? "two norms" : "one norm"); "
                + "LoRAKit exports Falcon's 7B layout (multi-query, one norm) and 40B layout (grouped KV, ln_attn + ln_mlp), which a GGUF reads back unambiguously")
        }
        return [
            ("falcon.context_length", .uint32(UInt32(try config.int("max_position_embeddings", default: 2048)))),
            ("falcon.tensor_data_layout", .string("jploski")),
            ("falcon.embedding_length", .uint32(UInt32(c.hidden))),
            ("falcon.feed_forward_length", .uint32(UInt32(c.ffn))),
            ("falcon.block_count", .uint32(UInt32(c.layers))),
            ("falcon.attention.head_count", .uint32(UInt32(c.heads))),
            ("falcon.attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
            ("falcon.attention.layer_norm_epsilon", .float32(c.eps)),
            ("falcon.rope.freq_base", .float32(Float(c.ropeTheta))),
        ]
    }
}
