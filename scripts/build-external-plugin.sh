#!/usr/bin/env bash
# Builds an architecture plugin that lives outside the package's targets (e.g. Plugins/GPTNeoX) into a shared
# library lorakit loads at run time. It compiles against this checkout's release build (same toolchain, same
# modules) and leaves the contract's symbols to be resolved from the lorakit executable when it is loaded.
# Usage: scripts/build-external-plugin.sh PLUGIN_DIR [OUT_DIR]   → OUT_DIR/lib<Name>Plugin.so
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: build-external-plugin.sh PLUGIN_DIR [OUT_DIR]}
out=${2:-.build/plugins}
name="$(basename "$dir")Plugin"
build=${LORAKIT_BUILD_DIR:-.build/release}
[ -x "$build/lorakit" ] || swift build -c release --product lorakit
modules=$build/Modules
mkdir -p "$out"
# The contract's C dependencies (OpenBLAS and oneDNN via TensorCore, the quantized-block decoders via TensorCore and
# ModelFormats, the elementwise kernels via TensorCore) need their module maps to import the Swift modules
# (oneDNN's header is on the default include path).
blas=$(pkg-config --cflags-only-I openblas | sed 's/^-I//;s/ *$//')
swiftc -emit-library -O -parse-as-library -module-name "$name" -swift-version 5 \
    -I "$modules" -Xcc -fmodule-map-file=Sources/COpenBLAS/module.modulemap -Xcc -I"$blas" \
    -Xcc -fmodule-map-file=Sources/CDNNL/module.modulemap \
    -Xcc -fmodule-map-file=Sources/CQuantKernels/include/module.modulemap \
    -Xcc -fmodule-map-file=Sources/CVectorKernels/include/module.modulemap \
    "$dir"/*.swift -o "$out/lib$name.so.tmp"
mv "$out/lib$name.so.tmp" "$out/lib$name.so"
echo "$out/lib$name.so"
