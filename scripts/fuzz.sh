#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Tests/Fuzz and runs each for a while.
#   bash scripts/fuzz.sh [seconds per harness, default 60] [harness names…, default all]
# The harnesses are compiled with swiftc directly (-sanitize=fuzzer,address) over only the module sources each
# one needs, into .build-fuzz/, so the ordinary `swift build`/`swift test` never build or wait for them.
# A finding stops that harness, leaves crash-*/oom-*/timeout-* in .build-fuzz/<name>/, and makes this script fail.
# FUZZ_OUT=dir builds and runs elsewhere than .build-fuzz; FUZZ_OPT=-O optimises (slower build, faster runs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
all=(safetensors gguf tokenizer jinja recipe-yaml jsonl configs)
names=("${@:-${all[@]}}")
[ $# -gt 0 ] || names=("${all[@]}")
out=${FUZZ_OUT:-$PWD/.build-fuzz}
mods=$out/modules
mkdir -p "$mods"
# -Onone keeps the CI build short; FUZZ_OPT=-O for long local runs.
opt=${FUZZ_OPT:--Onone}
san=(-sanitize=fuzzer,address)

# module NAME SOURCES… : one WMO object + swiftmodule, rebuilt only when a source is newer.
module() {
    local name=$1; shift
    local obj=$mods/$name.o newest
    newest=$(ls -t "$@" | head -1)
    if [ -f "$obj" ] && [ "$obj" -nt "$newest" ] && [ "$obj" -nt scripts/fuzz.sh ]; then return; fi
    echo "fuzz: compiling module $name"
    swiftc "${san[@]}" $opt -gline-tables-only -wmo -parse-as-library -module-name "$name" -I "$mods" "${cflags[@]}" ${quiet:-} \
        -emit-module -emit-module-path "$mods/$name.swiftmodule" -c "$@" -o "$obj"
    touch "$obj" # swiftc leaves an unchanged object's time alone
}

icu=$(pkg-config --cflags icu-uc) jsonc=$(pkg-config --cflags json-c)
cflags=(-I Sources/CICU -I Sources/CJSONC -I Sources/CQuantKernels/include)
for f in $icu $jsonc; do cflags+=(-Xcc "$f"); done

# The quantized-block decoders ModelFormats imports (C, compiled as SwiftPM does: -O3 -ffp-contract=off).
quant_kernels() {
    local obj=$mods/CQuantKernels.o src=Sources/CQuantKernels/quant_kernels.c
    if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt Sources/CQuantKernels/include/quant_kernels.h ]; then return; fi
    echo "fuzz: compiling CQuantKernels"
    clang -fsanitize=fuzzer-no-link,address -O3 -ffp-contract=off -g -I Sources/CQuantKernels/include -c "$src" -o "$obj"
}

yams_dir() {
    [ -d .build/checkouts/Yams ] || swift package resolve >/dev/null
    echo .build/checkouts/Yams/Sources
}

# harness NAME LIBS… : links Tests/Fuzz/NAME/main.swift against the module objects.
harness() {
    local name=$1; shift
    local bin=$out/$name/fuzz-$name
    mkdir -p "$out/$name"
    echo "fuzz: linking $name"
    swiftc "${san[@]}" $opt -gline-tables-only -parse-as-library -I "$mods" "${cflags[@]}" "Tests/Fuzz/$name/main.swift" "$@" -o "$bin" \
        2> >(grep -v "Cannot export local symbol" >&2)
}

build() {
    case $1 in
    safetensors|gguf)
        quant_kernels; module ModelFormats Sources/ModelFormats/*.swift
        harness "$1" "$mods/ModelFormats.o" "$mods/CQuantKernels.o" ;;
    tokenizer)
        module Tokenizers $(find Sources/Tokenizers -name '*.swift')
        harness tokenizer "$mods/Tokenizers.o" $(pkg-config --libs icu-uc) ;;
    jinja)
        module ChatTemplates Sources/ChatTemplates/*.swift
        harness jinja "$mods/ChatTemplates.o" ;;
    recipe-yaml)
        local y; y=$(yams_dir)
        if [ ! -f "$mods/CYaml.a" ]; then
            echo "fuzz: compiling CYaml"
            for c in "$y"/CYaml/src/*.c; do
                clang -fsanitize=fuzzer-no-link,address -O1 -g -I "$y/CYaml/include" -DYAML_DECLARE_STATIC \
                    -c "$c" -o "$mods/cyaml-$(basename "$c" .c).o"
            done
            ar rcs "$mods/CYaml.a" "$mods"/cyaml-*.o
        fi
        cflags+=(-I "$y/CYaml/include")
        # Yams imports CYaml only under SWIFT_PACKAGE (otherwise it expects a bridging header).
        cflags+=(-DSWIFT_PACKAGE)
        quiet=-suppress-warnings module Yams "$y"/Yams/*.swift
        # The YAML layer of Recipes only: the rest needs the training stack.
        module Recipes Sources/Recipes/RecipeNode.swift Sources/Recipes/RecipeError.swift Sources/Recipes/YAMLLimits.swift
        harness recipe-yaml "$mods/Recipes.o" "$mods/Yams.o" "$mods/CYaml.a" ;;
    jsonl)
        quant_kernels; module ModelFormats Sources/ModelFormats/*.swift
        module Training Sources/Training/Data/JSONLReader.swift
        harness jsonl "$mods/Training.o" "$mods/ModelFormats.o" "$mods/CQuantKernels.o" $(pkg-config --libs json-c) ;;
    configs)
        quant_kernels; module ModelFormats Sources/ModelFormats/*.swift
        # Reading and writing only (LoRAConfig+Validation needs LoRAModel's error type, i.e. the whole LoRA layer).
        module LoRA Sources/LoRA/LoRAConfig.swift Sources/LoRA/LoRAConfig+JSON.swift Sources/LoRA/LoRAConfig+Codable.swift
        harness configs "$mods/LoRA.o" "$mods/ModelFormats.o" "$mods/CQuantKernels.o" ;;
    *) echo "fuzz: unknown harness '$1' (one of: ${all[*]})" >&2; exit 1 ;;
    esac
}

# Two build lanes (the machine has two cores): harnesses sharing a module stay in one lane.
lane1=() lane2=()
for name in "${names[@]}"; do
    case $name in safetensors|gguf|configs|jsonl) lane1+=("$name") ;; *) lane2+=("$name") ;; esac
done
( for name in ${lane1[@]+"${lane1[@]}"}; do build "$name"; done ) & pid1=$!
( for name in ${lane2[@]+"${lane2[@]}"}; do build "$name"; done ) & pid2=$!
wait $pid1 && wait $pid2 || { echo "fuzz: build failed" >&2; exit 1; }

# run NAME: one harness for $seconds; writes $out/NAME/status (0 = nothing found).
run() {
    local name=$1 dir=$out/$1
    # Seeds stay read-only in the repo; new inputs go to a scratch corpus.
    mkdir -p "$dir/corpus"
    # -rss_limit_mb/-malloc_limit_mb: a parser that allocates by what a header claims rather than what the file
    # holds shows up as an oom-* finding. -timeout: a hang is a finding too (30 s: on a loaded machine a 200 ms input
    # was once starved past 10 s). -detect_leaks=0: the toolchain's
    # Foundation leaks 4 KB on every Data(contentsOf:) of an empty file, which is not ours to fix and not a crash.
    if (cd "$dir" && ASAN_OPTIONS=detect_leaks=0 ./fuzz-$name -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=30 \
            -detect_leaks=0 -max_len=16384 -print_final_stats=1 corpus "$root/Tests/Fuzz/$name/corpus" > fuzz.log 2>&1); then
        echo 0 > "$dir/status"
    else
        echo 1 > "$dir/status"
    fi
}

root=$PWD
jobs=${FUZZ_JOBS:-2}
echo "fuzz: running ${names[*]} for $seconds s each, $jobs at a time"
running=0
for name in "${names[@]}"; do
    rm -f "$out/$name/status"
    run "$name" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

status=0
for name in "${names[@]}"; do
    dir=$out/$name
    summary=$(grep -E "^#[0-9]+.*DONE" "$dir/fuzz.log" | tail -1 | grep -oE "cov: [0-9]+ ft: [0-9]+" || true)
    executions=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$dir/fuzz.log" | grep -oE "[0-9]+$" || echo "?")
    if [ "$(cat "$dir/status" 2>/dev/null)" = 0 ]; then
        echo "fuzz: $name: nothing found in $seconds s, $executions executions, $summary"
    else
        echo "fuzz: $name FOUND A PROBLEM; see $dir/fuzz.log and $dir/crash-* / oom-* / timeout-*" >&2
        grep -A25 -E "ERROR|==[0-9]+==|Fatal error|deadly signal" "$dir/fuzz.log" | head -40 >&2 || tail -40 "$dir/fuzz.log" >&2
        status=1
    fi
done
exit $status
