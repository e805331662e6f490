#!/usr/bin/env bash
# llama.cpp runs LoRAKit's GGUF exports as LoRAKit runs the adapter (issue 14). Exits non-zero on any mismatch.
#
#  1. llama-cpp-python (which builds llama.cpp) in the interop venv: from a wheel cached in
#     ~/.cache/lorakit/wheels/llama-cpp-<cpu> when this machine's CPU built one, else built from its PyPI source
#     (CPU only, -march=native, no examples/tools/tests/server/multimodal) and cached there;
#  2. the adapter: the README main job's (recipes/smollm2-alpaca-sft.yaml) as scripts/readme-jobs.sh leaves it in
#     .build/readme-jobs (CI runs that first), LLAMACPP_CHECK_ADAPTER=DIR, or else a short run of the main job here;
#  3. `lorakit export` on SmolLM2: merged f32, f16, bf16, q8_0, q4_0 and the GGUF LoRA; every one reads back through
#     LoRAKit's own loader (`lorakit forward` on the export, and the LoRA turned back into a PEFT adapter), within
#     the per-type tolerances below;
#  4. scripts/llamacpp/compare.py smollm2: merged f32, merged q8_0 and the Q4_1 base + GGUF LoRA in llama.cpp on three
#     chat prompts — no loader warnings, the same tokenization, the first 32 greedy tokens, prompt logits;
#  5. Hugging Face directory bases (tiny Llama, GPT-2 and Falcon made with transformers, with tokenizer.json):
#     `lorakit export --model DIR`, then compare.py tiny.
# LORAKIT=path overrides the lorakit binary; LLAMACPP_CHECK_STEPS the training steps of the fallback (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
venv=${INTEROP_VENV:-.venv-interop}
llama_version=0.3.36
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -c "import numpy, jinja2, safetensors" 2>/dev/null || "$venv/bin/pip" install -q numpy jinja2 safetensors

if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
    # -march=native code runs only on a CPU with the same features: the cache is keyed by them.
    cpu=$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)
    cache="${LLAMACPP_WHEEL_CACHE:-$HOME/.cache/lorakit/wheels}/llama-cpp-$cpu"
    wheel=$(ls "$cache"/llama_cpp_python-"$llama_version"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$wheel" ]; then
        echo "llamacpp-check: building llama-cpp-python $llama_version (llama.cpp) from its PyPI source"
        mkdir -p "$cache"
        CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
        CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
            "$venv/bin/pip" wheel -q --no-deps --no-binary llama-cpp-python -w "$cache" "llama-cpp-python==$llama_version"
        wheel=$(ls "$cache"/llama_cpp_python-"$llama_version"-*.whl | head -1)
        echo "llamacpp-check: built in $(( $(date +%s) - start )) s"
    fi
    "$venv/bin/pip" install -q "$wheel"
fi
if [ -n "${LLAMACPP_BUILD_ONLY:-}" ]; then exit 0; fi

source scripts/lib/lorakit-binary.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base=$(ls ~/.cache/lorakit/models/smollm2-135m-instruct/*.gguf | head -1)
ln -s "$base" "$work/base.gguf"
py() { "$venv/bin/python" "$@"; }

adapter=${LLAMACPP_CHECK_ADAPTER:-}
main_job=.build/readme-jobs/smollm2-alpaca-sft
if [ -z "$adapter" ] && [ -d "$main_job" ]; then
    adapter=$(ls -d "$main_job"/checkpoint-* | sort -t- -k2 -n | tail -1)
fi
if [ -z "$adapter" ]; then
    "$lorakit" train recipes/smollm2-alpaca-sft.yaml --set training.max_steps="${LLAMACPP_CHECK_STEPS:-4}" \
        --set training.warmup_steps=1 --set training.max_seq_length=128 --set eval.max_batches=1 \
        --set save.output_dir="$work/train" --set sample.max_new_tokens=8 > "$work/train.log" 2>&1 \
        || { cat "$work/train.log"; exit 1; }
    adapter=$(ls -d "$work"/train/checkpoint-* | sort -t- -k2 -n | tail -1)
fi
echo "llamacpp-check: adapter $adapter ($(date -r "$adapter" -u +%FT%TZ))"

# Exports. The LoRA at f32 is what llama.cpp runs; every type is read back by LoRAKit below.
for type in f32 f16 bf16 q8_0 q4_0; do
    "$lorakit" export --model smollm2-135m-instruct --adapter "$adapter" --type "$type" --out "$work/merged-$type.gguf" > /dev/null
done
"$lorakit" export --adapter "$adapter" --type f32 --out "$work/adapter-f32.gguf"
"$lorakit" export --adapter "$work/adapter-f32.gguf" --base smollm2-135m-instruct --format peft --out "$work/adapter-back"

cat > "$work/prompts.json" <<'EOF'
["Give three tips for staying healthy.", "What is the capital of France?", "Write a haiku about the sea."]
EOF
ids_of() {  # ids_of FILE KEY...: the comma-joined ids of `lorakit generate --print-ids`'s JSON line
    py -c "import json,sys; d=next(json.loads(l) for l in open(sys.argv[1]) if l.startswith('{\"prompt_ids\"')); print(','.join(str(i) for k in sys.argv[2:] for i in d[k]))" "$@"
}
i=0
while IFS= read -r prompt; do
    "$lorakit" generate --model smollm2-135m-instruct --adapter "$adapter" --chat --prompt "$prompt" --max-tokens 32 \
        --print-ids > /dev/null 2> "$work/lorakit-$i.txt"
    "$lorakit" forward --model smollm2-135m-instruct --adapter "$adapter" --ids "$(ids_of "$work/lorakit-$i.txt" prompt_ids generated_ids)" \
        --out "$work/logits-$i.safetensors"
    i=$((i + 1))
done < <(py -c "import json,sys; [print(p) for p in json.load(open(sys.argv[1]))]" "$work/prompts.json")

# Round trip through LoRAKit's loader, on the first prompt's positions: |Δlogit| against the adapter run, per type.
# f32 merges and reads back exactly (only the merge's rounding); f16/bf16/q8_0/q4_0 are the weights' own storage
# error in LoRAKit's f32 forward. Measured on SmolLM2 + the main job's adapter: f32 1.06e-4, f16 0.046, bf16 0.478,
# q8_0 1.23, q4_0 18.1 (4-bit everything, embedding included), GGUF LoRA back to PEFT 0; bounds ~1.5× those.
ids0=$(ids_of "$work/lorakit-0.txt" prompt_ids generated_ids)
declare -A bound=([f32]=1e-3 [f16]=0.07 [bf16]=0.72 [q8_0]=1.9 [q4_0]=27 [adapter]=1e-4)
failed=0
for type in f32 f16 bf16 q8_0 q4_0 adapter; do
    if [ "$type" = adapter ]; then
        "$lorakit" forward --model smollm2-135m-instruct --adapter "$work/adapter-back" --ids "$ids0" --out "$work/rt-$type.safetensors"
    else
        "$lorakit" forward --model "$work/merged-$type.gguf" --ids "$ids0" --out "$work/rt-$type.safetensors"
    fi
    py - "$work/rt-$type.safetensors" "$work/logits-0.safetensors" "$type" "${bound[$type]}" <<'EOF' || failed=1
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1])["logits"], load_file(sys.argv[2])["logits"]
d = float(abs(a - b).max())
ok = a.shape == b.shape and d <= float(sys.argv[4])
print(f"{'ok  ' if ok else 'FAIL'} round trip {sys.argv[3]}: LoRAKit reads the export back; max |Δlogit| {d:.3e} over {a.shape[0]} positions (bound {sys.argv[4]})")
sys.exit(0 if ok else 1)
EOF
done

py scripts/llamacpp/compare.py smollm2 "$work" "$adapter" || failed=1

# Hugging Face directory bases: tokenizer.json → GGUF tokenizer, Llama, GPT-2 and Falcon tensors, in llama.cpp.
py scripts/llamacpp/make_tiny_models.py "$work/hf" > "$work/tiny.log" 2>&1 || {
    cat "$work/tiny.log"
    echo "llamacpp-check: the tiny models need torch and transformers in $venv (scripts/interop-check.sh installs them)"
    exit 1
}
cat > "$work/tiny-prompts.json" <<'EOF'
["Hello world", "The quick brown fox jumps over 12345 lazy dogs.", "It's a test: what's next?"]
EOF
for kind in tiny-llama tiny-gpt2 tiny-falcon; do
    "$lorakit" export --model "$work/hf/$kind" --type f32 --out "$work/$kind.gguf"
    "$lorakit" inspect "$work/$kind.gguf" > /dev/null
    i=0
    while IFS= read -r prompt; do
        "$lorakit" generate --model "$work/hf/$kind" --prompt "$prompt" --max-tokens 32 --print-ids > /dev/null 2> "$work/$kind-lorakit-$i.txt"
        "$lorakit" forward --model "$work/hf/$kind" --ids "$(ids_of "$work/$kind-lorakit-$i.txt" prompt_ids generated_ids)" \
            --out "$work/$kind-logits-$i.safetensors"
        i=$((i + 1))
    done < <(py -c "import json,sys; [print(p) for p in json.load(open(sys.argv[1]))]" "$work/tiny-prompts.json")
done
py scripts/llamacpp/compare.py tiny "$work" || failed=1
echo "llamacpp-check: done in $(( $(date +%s) - start )) s"
exit $failed
