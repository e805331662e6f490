"""Interop for an adapter LoRAKit trained itself (not a re-save of a PEFT-made one): PEFT's from_pretrained loads
the checkpoint `lorakit train` wrote and must give the logits `lorakit forward` gave with it.

  python trained_adapter.py MODEL_DIR ADAPTER_DIR IDS LORAKIT_LOGITS.safetensors
Element-wise |Δ| ≤ 1e-4 (the fp32 logit bar), and training must have moved the logits away from the base model's
(else the check would pass with an untrained, all-zero B). Exits 1 on a mismatch.
"""
import sys, torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from peft import PeftModel

model_dir, adapter_dir, ids, ours_path = sys.argv[1:5]
torch.set_grad_enabled(False)
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter_dir).eval()
ids = torch.tensor([[int(x) for x in ids.split(",")]])
theirs = model(input_ids=ids).logits[0]
with model.disable_adapter():
    base = model(input_ids=ids).logits[0]
ours = load_file(ours_path)["logits"]
err = (ours - theirs).abs().max().item() if ours.shape == theirs.shape else float("inf")
moved = (theirs - base).abs().max().item()
ok = err <= 1e-4 and moved > 1e-4
print(f"{'ok  ' if ok else 'FAIL'} lorakit-trained adapter in PEFT: max |Δ| = {err:.3e} (tolerance 1e-4); "
      f"the adapter moves the logits by up to {moved:.3e}")
sys.exit(0 if ok else 1)
