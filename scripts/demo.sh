#!/usr/bin/env bash
# The README's first command: sieve's main job on a sample mask. Builds what
# is missing, writes a random 80%-sparse block mask (8 heads, S = 2048,
# 64x64 tiles, two heads pruned), compiles it for the GPU when there is one
# (else for the CPU backend) and runs it on fresh random inputs, printing the
# error against the float64 reference and the median time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SIEVE_BUILD_DIR:-$root/build}"
if [ ! -x "$build/tools/sieve/sieve" ]; then
  "$root/scripts/install-deps.sh"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build" sieve
fi
sieve="$build/tools/sieve/sieve"
work="$build/demo"
mkdir -p "$work"
"$sieve" mask --heads 8 --seq-q 2048 --seq-k 2048 --block-q 64 --block-k 64 \
  --density 0.2 --empty-heads 2 -o "$work/mask.npy"
"$sieve" run --mask "$work/mask.npy" --head-dim 64 --batch 1 "$@"
