"""PEFT on the fp32 (dequantized) base against LoRAKit on a quantized base (issue 11).

    .venv-interop/bin/python scripts/qlora/peft_logits.py MODEL.gguf ADAPTER_DIR LORAKIT_LOGITS.safetensors IDS

MODEL.gguf is loaded by transformers (gguf-py dequantizes every tensor to fp32), ADAPTER_DIR by PEFT on top;
LORAKIT_LOGITS.safetensors is `lorakit forward --model MODEL.gguf --adapter ADAPTER_DIR --quantization Q --ids IDS
--out …`. Prints the max and mean |Δlogit| and whether the argmax tokens agree.
"""
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

gguf, adapter, lorakit, ids = sys.argv[1:5]
ids = [int(t) for t in ids.split(",")]
base = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf),
                                            torch_dtype=torch.float32)
model = PeftModel.from_pretrained(base, adapter).eval()
with torch.no_grad():
    ref = model(torch.tensor([ids])).logits[0].float()
ours = load_file(lorakit)["logits"].float()
d = (ours - ref).abs()
print(f"max |Δlogit| {d.max().item():.3e}  mean {d.mean().item():.3e}  max |logit| {ref.abs().max().item():.2f}  "
      f"argmax agree {(ours.argmax(-1) == ref.argmax(-1)).float().mean().item():.3f}")
