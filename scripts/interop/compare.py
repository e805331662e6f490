"""The Python side of scripts/interop-check.sh: transformers + PEFT load what LoRAKit wrote, and LoRAKit's outputs
are compared with theirs.

  (a) PeftModel.from_pretrained(<LoRAKit-written adapter>) logits vs LoRAKit's logits_adapter: 1e-4 abs (the
      project's parity bar; the cases are tiny fp32 models);
  (b) LoRAKit's logits for the PEFT SmolLM2 adapter vs the logits PEFT stored for it: 2e-4 abs (135M parameters,
      30 layers of fp32 with a different summation order, as in SmolLM2AdapterTests);
  (c) transformers' from_pretrained(<lorakit merge output>) logits vs the unmerged PEFT model: 1e-4 abs, and vs
      PEFT's own merge_and_unload: 1e-4 abs. On SmolLM2 (logits up to ~35, 30 layers) merging itself moves fp32 logits
      by ~1e-4 — PEFT's own merged model differs from its unmerged one by 1.06e-4 on prompt 1 — so there the bar
      against the unmerged model is PEFT's own merge error + 1e-5: LoRAKit's merge may not be further off than PEFT's.
"""
import argparse, json, os, sys
import torch
import transformers
from safetensors.torch import load_file
from peft import PeftModel

p = argparse.ArgumentParser()
p.add_argument("--work", required=True)
p.add_argument("--cases", required=True)
p.add_argument("--smollm2-gguf", default="")
a = p.parse_args()
failures = []


def check(name, ours, theirs, tol):
    ours, theirs = ours.float(), theirs.float()
    if ours.shape != theirs.shape:
        print(f"FAIL {name}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}")
        failures.append(name)
        return
    err = (ours - theirs).abs().max().item()
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |Δ| = {err:.3e} (tolerance {tol:g})")
    if not ok:
        failures.append(name)


torch.set_grad_enabled(False)
for name in sorted(os.listdir(a.cases)):
    case, work = os.path.join(a.cases, name), os.path.join(a.work, name)
    if not os.path.isfile(os.path.join(case, "case.json")) or not os.path.isdir(work):
        continue  # not a case, or skipped by interop-check.sh (architecture not loaded)
    if not os.path.isfile(os.path.join(work, "lorakit.safetensors")) or not os.path.isdir(os.path.join(work, "merged")):
        print(f"FAIL {name}: lorakit wrote no outputs (see the parity output above)")
        failures.append(name)
        continue
    info = json.load(open(os.path.join(case, "case.json")))
    model_class = getattr(transformers, info["model_class"])
    expected = load_file(os.path.join(case, "expected.safetensors"))
    inputs = {"input_ids": expected["input_ids"], "attention_mask": expected["attention_mask"]}
    ours = load_file(os.path.join(work, "lorakit.safetensors"))

    peft_model = PeftModel.from_pretrained(model_class.from_pretrained(os.path.join(case, "model")).eval(),
                                           os.path.join(work, "adapter")).eval()
    unmerged = peft_model(**inputs).logits
    check(f"(a) {name}: LoRAKit-written adapter in PEFT vs LoRAKit", ours["logits_adapter"], unmerged, 1e-4)
    check(f"(a) {name}: LoRAKit-written adapter in PEFT vs the reference", unmerged, expected["logits_adapter"], 1e-4)

    merged = model_class.from_pretrained(os.path.join(work, "merged")).eval()
    ours_merged = merged(**inputs).logits
    check(f"(c) {name}: lorakit merge in transformers vs unmerged PEFT", ours_merged, unmerged, 1e-4)
    check(f"(c) {name}: lorakit merge vs PEFT merge_and_unload", ours_merged, peft_model.merge_and_unload()(**inputs).logits, 1e-4)

if a.smollm2_gguf:
    gguf_dir, gguf_file = os.path.split(a.smollm2_gguf)
    stored = load_file("Tests/Fixtures/real/smollm2_adapter_logits.safetensors")
    refs = load_file("Tests/Fixtures/real/smollm2_logits.safetensors")
    for i in range(3):
        ours = load_file(os.path.join(a.work, "smollm2", f"lorakit.{i}.safetensors"))["logits"]
        check(f"(b) SmolLM2 PEFT adapter in LoRAKit, prompt {i}", ours, stored[f"logits.{i}"], 2e-4)
    base = transformers.AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32).eval()
    peft_model = PeftModel.from_pretrained(base, "Tests/Fixtures/real/smollm2_adapter").eval()
    merged = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(a.work, "smollm2", "merged"),
                                                               dtype=torch.float32).eval()
    prompts = [refs[f"ids.{i}"].reshape(1, -1) for i in range(3)]
    unmerged = [peft_model(input_ids=ids).logits[0] for ids in prompts]
    peft_merged = peft_model.merge_and_unload()
    for i, ids in enumerate(prompts):
        ours, theirs = merged(input_ids=ids).logits[0], peft_merged(input_ids=ids).logits[0]
        check(f"(c) SmolLM2 lorakit merge vs PEFT merge_and_unload, prompt {i}", ours, theirs, 1e-4)
        peft_error = (theirs - unmerged[i]).abs().max().item()
        check(f"(c) SmolLM2 lorakit merge vs unmerged PEFT, prompt {i} (PEFT's own merge is {peft_error:.2e} off)",
              ours, unmerged[i], max(1e-4, peft_error + 1e-5))

print("interop: " + ("all checks pass" if not failures else f"{len(failures)} FAILED: " + "; ".join(failures)))
sys.exit(1 if failures else 0)
