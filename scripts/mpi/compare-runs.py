#!/usr/bin/env python3
"""Compares two training runs' outputs (standard library only, so CI needs no venv).

compare-runs.py RUN_A RUN_B CHECKPOINT [--tol 1e-6] [--from-step K]

- metrics.jsonl: loss, grad_norm, eval_loss and learning_rate at every step >= K present in both runs, each within
  `tol` relative (|a-b| <= tol*max(|a|,|b|) + 1e-12);
- CHECKPOINT/adapter_model.safetensors: the same tensor names and shapes, and for each tensor
  ||a-b|| <= tol*||a|| (relative Frobenius distance; an elementwise bound would be dominated by entries that are
  near zero, e.g. lora_B after a few updates).
Prints one line per check; exits 1 on any mismatch.
"""
import json, struct, sys, math

def metrics(path, first):
    rows = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["step"] >= first:
                rows.setdefault(r["step"], {}).update(r)
    return rows

def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}"
        a, b = t["data_offsets"]
        out[name] = (t["shape"], struct.unpack(f"<{(b - a) // 4}f", body[a:b]))
    return out

def main():
    args = sys.argv[1:]
    tol, first = 1e-6, 0
    if "--tol" in args:
        i = args.index("--tol"); tol = float(args[i + 1]); del args[i:i + 2]
    if "--from-step" in args:
        i = args.index("--from-step"); first = int(args[i + 1]); del args[i:i + 2]
    run_a, run_b, checkpoint = args
    bad = 0
    ma, mb = metrics(f"{run_a}/metrics.jsonl", first), metrics(f"{run_b}/metrics.jsonl", first)
    steps = sorted(set(ma) & set(mb))
    if not steps or set(ma) != set(mb):
        print(f"FAIL metrics: steps {sorted(ma)} vs {sorted(mb)}"); bad += 1
    worst = 0.0
    for s in steps:
        for key in ("loss", "grad_norm", "eval_loss", "learning_rate"):
            if (key in ma[s]) != (key in mb[s]):
                print(f"FAIL step {s}: {key} in one run only"); bad += 1; continue
            if key not in ma[s]:
                continue
            a, b = ma[s][key], mb[s][key]
            rel = abs(a - b) / max(abs(a), abs(b), 1e-12)
            worst = max(worst, rel)
            if abs(a - b) > tol * max(abs(a), abs(b)) + 1e-12:
                print(f"FAIL step {s} {key}: {a!r} vs {b!r} (relative {rel:.2e})"); bad += 1
    print(f"metrics: {len(steps)} steps compared, largest relative difference {worst:.2e} (tolerance {tol:g})")
    ta = tensors(f"{run_a}/{checkpoint}/adapter_model.safetensors")
    tb = tensors(f"{run_b}/{checkpoint}/adapter_model.safetensors")
    if set(ta) != set(tb):
        print(f"FAIL adapter tensors differ: {sorted(set(ta) ^ set(tb))}"); bad += 1
    worst = 0.0
    for name in sorted(set(ta) & set(tb)):
        (sa, a), (sb, b) = ta[name], tb[name]
        if sa != sb:
            print(f"FAIL {name}: shape {sa} vs {sb}"); bad += 1; continue
        norm = math.sqrt(sum(x * x for x in a))
        diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
        rel = diff / norm if norm > 0 else diff
        worst = max(worst, rel)
        if rel > tol:
            print(f"FAIL {name}: relative distance {rel:.2e}"); bad += 1
    trained = [n for n in ta if "lora_B" in n and any(x != 0 for x in ta[n][1])]
    if not trained:
        print("FAIL every lora_B is zero: the runs did not train, so agreeing proves nothing"); bad += 1
    print(f"adapter {checkpoint}: {len(ta)} tensors compared, largest relative distance {worst:.2e} (tolerance {tol:g})")
    sys.exit(1 if bad else 0)

main()
