#!/usr/bin/env bash
# The README's first commands in short form, so they cannot rot unseen: the main job (SmolLM2 SFT on Alpaca) for
# 4 updates and the SST-2 classification recipe for 6, each into a temporary output_dir. Checks that each wrote its
# checkpoint (adapter + optimizer + trainer state) and metrics.jsonl with training and eval lines.
# Usage: scripts/readme-jobs.sh [path/to/lorakit]   (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
lorakit=${1:-.build/release/lorakit}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {  # check OUTPUT_DIR STEP
    local dir=$1 step=$2 f
    for f in adapter_model.safetensors adapter_config.json optimizer.safetensors trainer_state.json; do
        [[ -s "$dir/checkpoint-$step/$f" ]] || { echo "readme-jobs: $dir/checkpoint-$step/$f is missing"; exit 1; }
    done
    grep -q "\"step\":$step" "$dir/metrics.jsonl" || { echo "readme-jobs: no step $step line in $dir/metrics.jsonl"; exit 1; }
    grep -q '"eval_loss"' "$dir/metrics.jsonl" || { echo "readme-jobs: no eval line in $dir/metrics.jsonl"; exit 1; }
    echo "readme-jobs: $dir has checkpoint-$step and $(wc -l < "$dir/metrics.jsonl") metrics lines"
}

start=$(date +%s)
"$lorakit" train recipes/smollm2-alpaca-sft.yaml --set training.max_steps=4 --set training.warmup_steps=1 --set training.max_seq_length=128 \
    --set eval.every=4 --set eval.max_batches=1 --set save.save_every=2 --set sample.max_new_tokens=8 \
    --set save.output_dir="$work/smollm2-alpaca-sft"
check "$work/smollm2-alpaca-sft" 4
[[ -d "$work/smollm2-alpaca-sft/checkpoint-2" ]] || { echo "readme-jobs: no intermediate checkpoint-2"; exit 1; }
echo "readme-jobs: smollm2-alpaca-sft in $(( $(date +%s) - start )) s"
# Kept for scripts/llamacpp-check.sh, which exports this adapter to llama.cpp (issue 14) instead of training again.
rm -rf .build/readme-jobs/smollm2-alpaca-sft && mkdir -p .build/readme-jobs
cp -r "$work/smollm2-alpaca-sft" .build/readme-jobs/smollm2-alpaca-sft

start=$(date +%s)
"$lorakit" train recipes/minilm-sst2.yaml --set training.max_steps=6 --set eval.every=3 --set eval.max_batches=2 \
    --set save.output_dir="$work/minilm-sst2"
check "$work/minilm-sst2" 6
echo "readme-jobs: minilm-sst2 in $(( $(date +%s) - start )) s"
