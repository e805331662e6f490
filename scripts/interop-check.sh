#!/usr/bin/env bash
# Interoperability with Python PEFT, both ways, on the real SmolLM2-135M-Instruct:
#  (a) an adapter trained and written by LoRAKit loads with PeftModel.from_pretrained and gives LoRAKit's logits;
#  (b) the adapter PEFT wrote (Tests/Fixtures/real/smollm2_adapter) loads in LoRAKit and gives PEFT's logits;
#  (c) `lorakit merge` output loads in transformers and gives the unmerged adapter's logits.
# Installs torch/transformers/peft into .venv-interop (torch from PyPI brings ~4 GB of CUDA libraries; the venv
# and pip's cache are reused on later runs). Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${INTEROP_VENV:-.venv-interop}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, transformers, peft, gguf, safetensors" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch transformers peft gguf safetensors numpy
fi
lorakit=${LORAKIT:-.build/release/lorakit}
[ -x "$lorakit" ] || swift build -c release --product lorakit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# (a) a real LoRAKit adapter: a few training steps of the main recipe.
"$lorakit" train recipes/smollm2-alpaca-sft.yaml --set training.max_steps=3 --set eval.every=0 \
    --set save.output_dir="$work/trained" --set save.save_every=0 > "$work/train.log" 2>&1 || { cat "$work/train.log"; exit 1; }
ids="504,3575,282,4649,314,2365,6354,16438,27003,690"
"$lorakit" forward --model smollm2-135m-instruct --adapter "$work/trained" --ids "$ids" --out "$work/lorakit_a.safetensors"
# (b) PEFT's adapter through LoRAKit.
"$lorakit" forward --model smollm2-135m-instruct --adapter Tests/Fixtures/real/smollm2_adapter --ids "$ids" --out "$work/lorakit_b.safetensors"
# (c) merged model written by LoRAKit.
"$lorakit" merge --model smollm2-135m-instruct --adapter "$work/trained" --out "$work/merged"

"$venv/bin/python" scripts/interop/compare.py --work "$work" --ids "$ids" \
    --gguf "$("$lorakit" models list | sed -n 's/^smollm2-135m-instruct: cached at //p')"
