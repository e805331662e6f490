#!/usr/bin/env bash
# llama.cpp runs LoRAKit's GGUF exports as LoRAKit runs the adapter (issue 14). Exits non-zero on any mismatch.
#
#  1. llama-cpp-python (which builds llama.cpp) in the interop venv: from a wheel cached in
#     ~/.cache/lorakit/wheels/llama-cpp-<cpu> when this machine's CPU built one, else built from its PyPI source
#     (CPU only, -march=native, no examples/tools/tests/server/multimodal) and cached there;
#  2. an adapter on SmolLM2: LLAMACPP_CHECK_ADAPTER=DIR, or a short run of the README's main job (max_steps below);
#  3. `lorakit export`: merged f32, merged q8_0, and the GGUF LoRA (f32) for the base GGUF;
#  4. scripts/llamacpp/compare.py: on three prompts, llama.cpp's first 32 greedy tokens and prompt logits against
#     `lorakit generate --adapter` / `lorakit forward --adapter`, llama.cpp's tokenization of the prompt rendered with
#     the exported template, and no warnings from llama.cpp's loader.
# LORAKIT=path overrides the lorakit binary; LLAMACPP_CHECK_STEPS the training steps (default 6).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
venv=${INTEROP_VENV:-.venv-interop}
llama_version=0.3.36
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -c "import numpy, jinja2" 2>/dev/null || "$venv/bin/pip" install -q numpy jinja2

if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
    # -march=native code runs only on a CPU with the same features: the cache is keyed by them.
    cpu=$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)
    cache="$HOME/.cache/lorakit/wheels/llama-cpp-$cpu"
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

lorakit=${LORAKIT:-}
if [ -z "$lorakit" ]; then
    swift build -c release --product lorakit >&2
    lorakit="$(swift build -c release --show-bin-path)/lorakit"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base=$(ls ~/.cache/lorakit/models/smollm2-135m-instruct/*.gguf | head -1)
ln -s "$base" "$work/base.gguf"

adapter=${LLAMACPP_CHECK_ADAPTER:-}
if [ -z "$adapter" ]; then
    "$lorakit" train recipes/smollm2-alpaca-sft.yaml --set training.max_steps="${LLAMACPP_CHECK_STEPS:-6}" \
        --set training.warmup_steps=1 --set training.max_seq_length=128 --set eval.max_batches=1 \
        --set save.output_dir="$work/train" --set sample.max_new_tokens=8 > "$work/train.log" 2>&1 \
        || { cat "$work/train.log"; exit 1; }
    adapter=$(ls -d "$work"/train/checkpoint-* | sort -t- -k2 -n | tail -1)
fi
echo "llamacpp-check: adapter $adapter"

"$lorakit" export --model smollm2-135m-instruct --adapter "$adapter" --type f32 --out "$work/merged-f32.gguf"
"$lorakit" export --model smollm2-135m-instruct --adapter "$adapter" --type q8_0 --out "$work/merged-q8_0.gguf"
"$lorakit" export --adapter "$adapter" --type f32 --out "$work/adapter-f32.gguf"
# Every export reads back through LoRAKit's own loader.
for f in merged-f32 merged-q8_0; do "$lorakit" inspect "$work/$f.gguf" > /dev/null; done

cat > "$work/prompts.json" <<'EOF'
["Give three tips for staying healthy.", "What is the capital of France?", "Write a haiku about the sea."]
EOF
"$venv/bin/python" -c "import json,sys; [print(p) for p in json.load(open(sys.argv[1]))]" "$work/prompts.json" > "$work/prompts.txt"
i=0
while IFS= read -r prompt; do
    "$lorakit" generate --model smollm2-135m-instruct --adapter "$adapter" --chat --prompt "$prompt" --max-tokens 32 \
        --print-ids > /dev/null 2> "$work/lorakit-$i.txt"
    ids=$("$venv/bin/python" -c "import json,sys; print(','.join(map(str, next(json.loads(l) for l in open(sys.argv[1]) if l.startswith('{\"prompt_ids\"'))['prompt_ids'])))" "$work/lorakit-$i.txt")
    "$lorakit" forward --model smollm2-135m-instruct --adapter "$adapter" --ids "$ids" --out "$work/logits-$i.safetensors"
    i=$((i + 1))
done < "$work/prompts.txt"

"$venv/bin/python" scripts/llamacpp/compare.py "$work" "$adapter"
echo "llamacpp-check: done in $(( $(date +%s) - start )) s"
