#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, builds tests/install/consumer
# against it with find_package(sieve), and runs the three consumers.
# Usage: run-install-test.sh <build dir> <scratch dir>
set -euo pipefail
build="$1"
scratch="$2"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$scratch"
mkdir -p "$scratch"
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
# Test code stays out of the package: the float64 references and the
# run-and-check harness (tests/support, namespace sieve::testing) are not installed.
if find "$scratch/prefix/include" \( -path '*/sieve/testing' -o -name 'Reference*.h' \
  -o -name 'Harness.h' \) | grep .; then
  echo "test support headers were installed" >&2
  exit 1
fi
if find "$scratch/prefix" -name '*.a' -exec nm -C {} + 2>/dev/null |
  grep -E 'sieve::testing::|referenceAttention|referenceTileMass|runAndCheck'; then
  echo "an installed library contains test support (sieve::testing)" >&2
  exit 1
fi
# What the README says of libsieve_c.so: it links the LLVM/MLIR shared
# libraries, unless the tree linked them statically (SIEVE_STATIC_LLVM).
needed="$(readelf -d "$scratch/prefix/lib/libsieve_c.so" | grep NEEDED || true)"
if grep -q '^SIEVE_STATIC_LLVM:BOOL=ON' "$build/CMakeCache.txt"; then
  if grep -E 'libLLVM|libMLIR' <<<"$needed"; then
    echo "libsieve_c.so of a SIEVE_STATIC_LLVM build needs a shared LLVM/MLIR" >&2
    exit 1
  fi
elif ! grep -q 'libLLVM' <<<"$needed"; then
  echo "libsieve_c.so no longer links libLLVM: update the README's sieve::c" >&2
  exit 1
fi
# The bash completion is installed where bash-completion looks.
test -f "$scratch/prefix/share/bash-completion/completions/sieve"
cmake -S "$here/consumer" -B "$scratch/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
ninja -C "$scratch/consumer" >/dev/null
"$scratch/prefix/bin/sieve" mask --heads 2 --seq-q 256 --seq-k 256 --block-q 64 --block-k 64 \
  --density 0.5 -o "$scratch/m.npy" >/dev/null
"$scratch/prefix/bin/sieve" compile --mask "$scratch/m.npy" --head-dim 64 --dtype bf16 \
  --target sm_90a -o "$scratch/kernel" >/dev/null
# The runtime-only consumer must not depend on LLVM or MLIR at all.
if ldd "$scratch/consumer/runtime_only" | grep -E "libMLIR|libLLVM"; then
  echo "runtime_only links LLVM/MLIR: sieve::runtime must be free of them" >&2
  exit 1
fi
"$scratch/consumer/runtime_only" "$scratch/kernel.json" wgmma "$scratch/m.npy"
"$scratch/consumer/c_api"
"$scratch/consumer/compile_and_run"
