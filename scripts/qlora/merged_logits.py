"""transformers on a `lorakit merge --quantization Q --dtype D` output against LoRAKit on the quantized base + adapter.

    .venv-interop/bin/python scripts/qlora/merged_logits.py MERGED_DIR LORAKIT_LOGITS.safetensors IDS MAX_ABS

MERGED_DIR is loaded with from_pretrained in its own dtype (config.json's torch_dtype) and run in fp32 (weights
widened exactly); LORAKIT_LOGITS.safetensors is `lorakit forward --quantization Q --adapter … --ids IDS --out …`.
Prints max and mean |Δlogit| and argmax agreement; exits 1 when max |Δlogit| exceeds MAX_ABS.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

merged, lorakit, ids, bound = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3].split(",")], float(sys.argv[4])
config = json.load(open(os.path.join(merged, "config.json")))
dtype = config.get("dtype") or config["torch_dtype"]
model = AutoModelForCausalLM.from_pretrained(merged, dtype=getattr(torch, dtype))
loaded = {p.dtype for p in model.parameters()}
model = model.float().eval()
with torch.no_grad():
    ref = model(torch.tensor([ids])).logits[0]
ours = load_file(lorakit)["logits"].float()
d = (ours - ref).abs()
ok = d.max().item() <= bound
print(f"{'ok  ' if ok else 'FAIL'} merged {os.path.basename(merged)} ({dtype}, loaded as {sorted(str(t) for t in loaded)}): "
      f"max |Δlogit| {d.max().item():.3e} (bound {bound:g})  mean {d.mean().item():.3e}  max |logit| {ref.abs().max().item():.2f}  "
      f"argmax agree {(ours.argmax(-1) == ref.argmax(-1)).float().mean().item():.3f}")
sys.exit(0 if ok else 1)
