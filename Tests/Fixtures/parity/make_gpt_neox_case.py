"""A parity case for GPT-NeoX (the dynamic-library plugin example in Plugins/GPTNeoX), in the
layout of shared/reference/make_fixtures.py: model/, adapter/, expected.safetensors, case.json.
Needs torch, transformers 5.x and peft (scripts/interop-check.sh's venv has them).
Usage: python make_gpt_neox_case.py OUT_DIR [SEED]"""
import json, os, sys, torch
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
from peft import LoraConfig, get_peft_model
from peft.utils import get_peft_model_state_dict

out = sys.argv[1]; torch.manual_seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1234)
V, B, T = 256, 2, 12
model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, max_position_embeddings=64, rotary_pct=0.5, rotary_emb_base=10000, layer_norm_eps=1e-5,
    use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False, attention_dropout=0.0, hidden_dropout=0.0,
    pad_token_id=0)).eval()
ids = torch.randint(3, V, (B, T)); mask = torch.ones(B, T, dtype=torch.long)
mask[1, 9:] = 0; ids[1, 9:] = 0
labels = ids.clone(); labels[mask == 0] = -100; labels[0, :3] = -100
os.makedirs(out, exist_ok=True)
model.save_pretrained(os.path.join(out, "model"), safe_serialization=True)
with torch.no_grad(): base = model(input_ids=ids, attention_mask=mask).logits.clone()
lcfg = dict(r=4, lora_alpha=8, target_modules=["query_key_value", "dense", "dense_h_to_4h"], task_type="CAUSAL_LM", lora_dropout=0.0)
pm = get_peft_model(model, LoraConfig(init_lora_weights=False, **lcfg)).eval()
with torch.no_grad(): adapted = pm(input_ids=ids, attention_mask=mask).logits.clone()
pm.train(); loss = pm(input_ids=ids, attention_mask=mask, labels=labels).loss; loss.backward()
pm.save_pretrained(os.path.join(out, "adapter"))
params = {n.replace(".default", ""): p for n, p in pm.named_parameters() if p.requires_grad}
exp = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits_base": base, "logits_adapter": adapted,
       "loss_adapter": loss.detach().reshape(1)}
for k in get_peft_model_state_dict(pm): exp["grad." + k] = params[k].grad.detach().clone()
pm.eval(); before = {n: p.detach().clone() for n, p in pm.get_base_model().named_parameters()}
for n, p in pm.merge_and_unload().named_parameters():
    if n not in before or not torch.equal(before[n], p): exp["merged." + n] = p.detach().clone()
save_file({k: v.contiguous() for k, v in exp.items()}, os.path.join(out, "expected.safetensors"))
json.dump({"architecture": "gpt-neox", "task": "causal-lm", "model_class": "GPTNeoXForCausalLM", "lora": lcfg,
           "loss": "mean cross-entropy over labels != -100 (causal-lm: logits[:, :-1] vs labels[:, 1:])",
           "tolerance_hint": "fp32: logits abs 1e-4, grads rel 1e-3"}, open(os.path.join(out, "case.json"), "w"), indent=1)
print("gpt-neox case ok")
