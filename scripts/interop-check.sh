#!/usr/bin/env bash
# Interoperability with Python transformers + PEFT, both ways. Exits non-zero on any mismatch.
#
#  (a) adapters written by LoRAKit load with PeftModel.from_pretrained and give LoRAKit's logits (1e-4): for every
#      parity case (Tests/Fixtures/parity/*: LoRA, rsLoRA with rank/alpha patterns, DoRA, GPT-2 fan_in_fan_out with
#      lora_only biases, classification heads in modules_to_save, Falcon), `lorakit parity --save-adapter` re-writes
#      the adapter from LoRAKit's own tensors and key mapping, and `--out` records LoRAKit's logits;
#  (b) the other way: the PEFT adapter on SmolLM2 (Tests/Fixtures/real/smollm2_adapter) through `lorakit forward`
#      against the logits PEFT stored for it (2e-4, as SmolLM2AdapterTests), when the model is in the cache;
#  (c) `lorakit merge` output loads with transformers' from_pretrained and gives the unmerged PEFT model's logits
#      (1e-4), for every parity case and for SmolLM2;
#  (d) an adapter trained by `lorakit train` (tiny fixture recipe, 4 updates) loads in PEFT with `lorakit forward`'s
#      logits (1e-4); (e) so does one trained with PiSSA, DoRA, rank/alpha patterns, exclude_modules and
#      layers_to_transform from a recipe; (f) scripts/fixtures/make_parity_cases.py --check remakes every parity case;
#  (g) `lorakit merge --quantization nf4` from SmolLM2, written in f32, bf16 and f16, loads with transformers and gives
#      LoRAKit's logits on the NF4 base + adapter (`lorakit forward --quantization nf4`) within the rounding of the
#      written dtype (bounds below), when the model is in the cache.
#
# Python side: a venv in .venv-interop (reused when it already imports everything). PyPI has no CPU-only torch
# (those wheels live on PyTorch's own index), so plain `pip install torch` brings ~4 GB of CUDA libraries. A CPU
# wheel in pip's find-links folder (PIP_FIND_LINKS, e.g. /opt/wheels on the project's machines) is preferred, or
# INTEROP_TORCH_INDEX names a CPU wheel index. LORAKIT=path overrides the lorakit binary.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${INTEROP_VENV:-.venv-interop}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, transformers, peft, safetensors, numpy, gguf" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    pytag=$("$venv/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    cpu_wheel=""
    for dir in ${PIP_FIND_LINKS:-} /opt/wheels; do
        [ -d "$dir" ] || continue
        cpu_wheel=$(ls "$dir"/torch-*+cpu-"$pytag"-*linux*_"$(uname -m)".whl 2>/dev/null | sort -V | tail -1) || true
        [ -n "$cpu_wheel" ] && break
    done
    if [ -n "${INTEROP_TORCH_INDEX:-}" ]; then
        "$venv/bin/pip" install -q torch --index-url "$INTEROP_TORCH_INDEX"
    elif [ -n "$cpu_wheel" ]; then
        echo "interop: torch from $cpu_wheel (CPU build)"
        "$venv/bin/pip" install -q "$cpu_wheel"
    else
        "$venv/bin/pip" install -q torch
    fi
    "$venv/bin/pip" install -q transformers peft safetensors numpy gguf
fi

source scripts/lib/lorakit-binary.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The declarative Qwen2 plugin is cheap to load; a compiled plugin (GPT-NeoX) is used when LORAKIT_PLUGINS names its
# library (scripts/build-external-plugin.sh), otherwise its case is skipped and said so.
if [ -f Plugins/Qwen2/qwen2.json ]; then
    export LORAKIT_PLUGINS="${LORAKIT_PLUGINS:+$LORAKIT_PLUGINS:}Plugins/Qwen2/qwen2.json"
fi
for case_dir in Tests/Fixtures/parity/*/; do
    name=$(basename "$case_dir")
    # parity/peft holds the feature cases of scripts/fixtures/make_parity_cases.py (swift test checks them).
    [ -d "$case_dir/model" ] || continue
    mkdir -p "$work/$name"
    # parity exits non-zero when a key is out of tolerance; compare.py still reports what PEFT says about the case.
    if ! "$lorakit" parity "$case_dir" --out "$work/$name/lorakit.safetensors" --save-adapter "$work/$name/adapter" \
        > "$work/$name/parity.txt" 2>&1; then
        if grep -q "no plugin serves model_type" "$work/$name/parity.txt"; then
            echo "skipped $name: $(grep -o 'no plugin serves model_type "[^"]*"' "$work/$name/parity.txt")"
            rm -rf "${work:?}/$name"
            continue
        fi
        cat "$work/$name/parity.txt"
        echo "lorakit parity is out of tolerance or failed on $name"
    fi
    if [ -d "$work/$name/adapter" ]; then
        "$lorakit" merge --model "$case_dir/model" --adapter "$work/$name/adapter" --out "$work/$name/merged" \
            || echo "lorakit merge failed on $name"
    fi
done

smollm2=""
if smollm2_line=$("$lorakit" models list 2>/dev/null | grep '^smollm2-135m-instruct: cached at '); then
    smollm2=${smollm2_line#smollm2-135m-instruct: cached at }
    mkdir -p "$work/smollm2"
    for i in 0 1 2; do
        ids=$("$venv/bin/python" -c "
from safetensors.numpy import load_file
print(','.join(str(int(x)) for x in load_file('Tests/Fixtures/real/smollm2_logits.safetensors')['ids.$i']))")
        echo "$ids" > "$work/smollm2/ids.$i"
        "$lorakit" forward --model smollm2-135m-instruct --adapter Tests/Fixtures/real/smollm2_adapter --ids "$ids" \
            --out "$work/smollm2/lorakit.$i.safetensors"
    done
    "$lorakit" merge --model smollm2-135m-instruct --adapter Tests/Fixtures/real/smollm2_adapter --out "$work/smollm2/merged"
else
    echo "note: SmolLM2 is not in the model cache (scripts/fetch-models.sh); (b) and SmolLM2's (c) are skipped"
fi

# (d) an adapter LoRAKit trained itself: `lorakit train` on the tiny resume-test recipe (4 updates), then PEFT loads
#     the checkpoint and must give `lorakit forward`'s logits (1e-4).
trained_status=0
"$lorakit" train Tests/Fixtures/training/tiny-llama/recipe.yaml --set training.max_steps=4 --set save.save_every=4 \
    --set "save.output_dir=$work/trained" > "$work/train.log" 2>&1 || { cat "$work/train.log"; trained_status=1; }
checkpoint="$work/trained/checkpoint-4"
trained_ids=5,17,200,33,91,64,128,7
if [ $trained_status = 0 ] && "$lorakit" forward --model Tests/Fixtures/parity/llama/model --adapter "$checkpoint" \
        --ids "$trained_ids" --out "$work/trained.safetensors"; then
    "$venv/bin/python" scripts/interop/trained_adapter.py Tests/Fixtures/parity/llama/model "$checkpoint" "$trained_ids" \
        "$work/trained.safetensors" || trained_status=1
else
    echo "FAIL lorakit train/forward on the tiny recipe"; trained_status=1
fi

# (e) PEFT's finer options from a recipe (tiny-llama/peft-options.yaml: PiSSA, DoRA, rank/alpha patterns,
#     exclude_modules, layers_to_transform): `lorakit train`, then PEFT loads the adapter with `lorakit forward`'s
#     logits (1e-4). PEFT re-runs PiSSA's SVD on the original base when it loads the adapter, as LoRAKit does.
options_status=0
"$lorakit" train Tests/Fixtures/training/tiny-llama/peft-options.yaml --set "save.output_dir=$work/options" \
    > "$work/options.log" 2>&1 || { cat "$work/options.log"; options_status=1; }
if [ $options_status = 0 ] && "$lorakit" forward --model Tests/Fixtures/parity/llama/model \
        --adapter "$work/options/checkpoint-4" --ids "$trained_ids" --out "$work/options.safetensors"; then
    "$venv/bin/python" scripts/interop/trained_adapter.py Tests/Fixtures/parity/llama/model "$work/options/checkpoint-4" \
        "$trained_ids" "$work/options.safetensors" || options_status=1
else
    echo "FAIL lorakit train/forward on the peft-options recipe"; options_status=1
fi

# (f) every parity case is reproducible from the repo: the generator remakes them and they match the committed files.
fixtures_status=0
"$venv/bin/python" scripts/fixtures/make_parity_cases.py --check > "$work/fixtures.log" 2>&1 \
    || { cat "$work/fixtures.log"; fixtures_status=1; }
tail -1 "$work/fixtures.log"

# (g) merge from a quantized base: the adapter is merged into SmolLM2's NF4 weights, dequantized, and written in each
#     dtype; transformers runs the merged model (its weights widened to fp32) against LoRAKit on the NF4 base + adapter.
#     Bounds: f32 only sums in another order (1e-3 on logits up to ~35); bf16/f16 round every weight once (bf16's
#     8-bit mantissa gives ~0.2 on SmolLM2, f16's 11 bits ~8× less).
qmerge_status=0
if [ -n "$smollm2" ]; then
    ids=$(cat "$work/smollm2/ids.0")
    "$lorakit" forward --model smollm2-135m-instruct --adapter Tests/Fixtures/real/smollm2_adapter --quantization nf4 \
        --ids "$ids" --out "$work/smollm2/nf4.safetensors" || qmerge_status=1
    for spec in f32:1e-3 bf16:0.5 f16:0.1; do
        dtype=${spec%%:*} bound=${spec#*:}
        "$lorakit" merge --model smollm2-135m-instruct --adapter Tests/Fixtures/real/smollm2_adapter --quantization nf4 \
            --dtype "$dtype" --out "$work/smollm2/merged-nf4-$dtype" 2> "$work/smollm2/merge-nf4-$dtype.err" || qmerge_status=1
        grep -q "rounds a second time" "$work/smollm2/merge-nf4-$dtype.err" || { echo "FAIL merge --quantization nf4: no re-quantization warning"; qmerge_status=1; }
        "$venv/bin/python" scripts/qlora/merged_logits.py "$work/smollm2/merged-nf4-$dtype" "$work/smollm2/nf4.safetensors" "$ids" "$bound" \
            || qmerge_status=1
    done
fi

compare_status=0
"$venv/bin/python" scripts/interop/compare.py --work "$work" --cases Tests/Fixtures/parity --smollm2-gguf "$smollm2" || compare_status=1
[ $compare_status = 0 ] && [ $qmerge_status = 0 ] && [ $trained_status = 0 ] && [ $options_status = 0 ] && [ $fixtures_status = 0 ]
