#!/usr/bin/env bash
# Installs what LoRAKit needs on Debian/Ubuntu (system libraries) and fetches the real models into the cache.
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev libicu-dev libjson-c-dev pkg-config libopenmpi-dev openmpi-bin iproute2 libdnnl-dev curl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}"
fi

bash scripts/fetch-models.sh
