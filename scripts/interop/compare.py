"""The Python side of scripts/interop-check.sh: PEFT and transformers load what LoRAKit wrote (and the other way
round) and the logits are compared. Tolerances: 1e-3 abs for the 135M model through PEFT (fp32, different
summation order over 30 layers), 1e-4 abs for merged vs unmerged (the project's parity bar)."""
import argparse, os, sys
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from peft import PeftModel

p = argparse.ArgumentParser()
p.add_argument("--work"); p.add_argument("--ids"); p.add_argument("--gguf")
a = p.parse_args()
ids = torch.tensor([[int(x) for x in a.ids.split(",")]])
gguf_dir, gguf_file = os.path.split(a.gguf)
failures = []

def check(name, ours, theirs, tol):
    err = (ours - theirs).abs().max().item()
    print(f"{name}: max |Δlogit| = {err:.3e} (tolerance {tol})")
    if not err <= tol: failures.append(name)

def base():
    return AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32).eval()

with torch.no_grad():
    peft_a = PeftModel.from_pretrained(base(), os.path.join(a.work, "trained")).eval()
    ref_a = peft_a(input_ids=ids).logits[0]
    check("(a) LoRAKit adapter in PEFT", load_file(os.path.join(a.work, "lorakit_a.safetensors"))["logits"], ref_a, 1e-3)
    peft_b = PeftModel.from_pretrained(base(), "Tests/Fixtures/real/smollm2_adapter").eval()
    check("(b) PEFT adapter in LoRAKit", load_file(os.path.join(a.work, "lorakit_b.safetensors"))["logits"],
          peft_b(input_ids=ids).logits[0], 1e-3)
    merged = AutoModelForCausalLM.from_pretrained(os.path.join(a.work, "merged"), dtype=torch.float32).eval()
    check("(c) LoRAKit merge in transformers vs unmerged PEFT", merged(input_ids=ids).logits[0], ref_a, 1e-4)

print("interop: " + ("all checks pass" if not failures else "FAILED: " + ", ".join(failures)))
sys.exit(1 if failures else 0)
