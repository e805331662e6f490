"""Writes two tiny random Hugging Face model directories for the llama.cpp check of `lorakit export` from a directory
base (issue 14): transformers' save_pretrained output (config.json + model.safetensors) plus a tokenizer.json and
tokenizer_config.json, as a model downloaded from the Hub has them.

  tiny-llama/  LlamaForCausalLM, vocab 600 with the tiny Llama 3 BPE tokenizer of Tests/Fixtures/tokenizers
               (Split regex + ByteLevel, merges, <|begin_of_text|>/<|eot_id|> special): llama.cpp pre "llama-bpe".
  tiny-gpt2/   GPT2LMHeadModel, vocab 600 with the tiny GPT-2 BPE tokenizer (ByteLevel; its add_prefix_space is
               turned off, as in GPT-2's own tokenizer.json, since llama.cpp never adds a prefix space): pre "gpt-2".
  tiny-falcon/ FalconForCausalLM in the 40B layout (grouped KV, ln_attn + ln_mlp), the same tokenizer as tiny-gpt2.

Weights are seeded and drawn with std 0.3 instead of transformers' 0.02, so the logits spread and greedy decoding has
no near-ties to flip (the comparison wants equal tokens, not luck). Usage: make_tiny_models.py OUT_DIR
"""
import json
import os
import shutil
import sys

import torch
from transformers import FalconConfig, FalconForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOKENIZERS = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")
TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}


def save(model, out, tokenizer_file, edit=None):
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or (".ln_" in name and name.endswith("weight")):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)
    tokenizer = json.load(open(os.path.join(TOKENIZERS, tokenizer_file)))
    if edit:
        edit(tokenizer)
    json.dump(tokenizer, open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump(TOKENS, open(os.path.join(out, "tokenizer_config.json"), "w"))


def main():
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=600, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=0, eos_token_id=1))
    save(llama, os.path.join(out, "tiny-llama"), "tiny_llama3_bpe.tokenizer.json")

    def no_prefix_space(t):
        t["pre_tokenizer"]["add_prefix_space"] = False
        t["decoder"]["add_prefix_space"] = False

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=600, n_embd=64, n_layer=2, n_head=4, n_positions=128,
                                      bos_token_id=0, eos_token_id=1))
    save(gpt2, os.path.join(out, "tiny-gpt2"), "tiny_gpt2_bpe.tokenizer.json", no_prefix_space)
    falcon = FalconForCausalLM(FalconConfig(vocab_size=600, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                            num_kv_heads=2, new_decoder_architecture=True, parallel_attn=True, bias=False,
                                            max_position_embeddings=128, bos_token_id=0, eos_token_id=1))
    save(falcon, os.path.join(out, "tiny-falcon"), "tiny_gpt2_bpe.tokenizer.json", no_prefix_space)
    print(f"make_tiny_models: wrote {out}/tiny-llama, tiny-gpt2 and tiny-falcon")


if __name__ == "__main__":
    main()
