#!/usr/bin/env bash
# The attention-pruning language-model tables (docs/lm-pruning-results.md):
# a byte-level transformer on three Debian text packages (the King James
# Bible, GCIDE, the Jargon File: scripts/lm/corpus.py) trained dense per
# seed, calibrated, pruned at each p with four masks, fine-tuned and trained
# from scratch under them, plus learned thresholds and head budgets
# (scripts/lm/train_lm.py says how). The GPU has no network, so the corpus
# is extracted here and carried; a run does the next unfinished stages
# within its budget, so a 10-minute device call can end cleanly and the
# next call goes on from the exported state.
#
# usage:
#   scripts/lm-table.sh --prepare CARRY_DIR   (here) CARRY_DIR/corpus: the corpus, xz;
#                                             CARRY_DIR/work: the (empty) work folder
#   scripts/lm-table.sh WORK_DIR --plan [--budget-seconds 540] [flags...]
#                                             the stages, their estimated seconds and
#                                             the calls they pack into; runs none
#   scripts/lm-table.sh WORK_DIR [--budget-seconds 540] [--corpus DIR] [--export DIR]
#                       [train_lm.py flags...]   (on the GPU) the next stages;
#                                             --corpus defaults to WORK_DIR/../corpus,
#                                             --export to $OUT/lm-work when $OUT is set
#   scripts/lm-table.sh --report WORK_DIR     docs/lm-pruning-results.md and .png
#
# Environment: SIEVE_PYTHONPATH, the folder holding the sieve package (with
# its _sieve extension), put first on PYTHONPATH; SIEVE_CLI, the `sieve`
# binary, to prune with `sieve prune` (else train_lm.py applies the same
# rule in Python); PYTHON, the interpreter (default python3).
# Exit status: 0 when every stage is done, 3 when stages are left (call
# again), anything else on failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lm="$root/scripts/lm"
python="${PYTHON:-python3}"

usage() { sed -n '/^# usage:/,/^# Environment/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

case "${1:-}" in
  --prepare)
    [ $# -eq 2 ] || { usage >&2; exit 2; }
    "$python" "$lm/corpus.py" "$2/corpus" --xz
    mkdir -p "$2/work"
    du -sh "$2/corpus"
    exit 0 ;;
  --report)
    [ $# -eq 2 ] || { usage >&2; exit 2; }
    exec "$python" "$lm/report.py" "$2/results.json" ;;
  "" | -h | --help)
    usage
    exit 0 ;;
esac

work="$1"
shift
budget=540
corpus="$(dirname "$work")/corpus"
export_dir="${OUT:+$OUT/lm-work}"
passed=()
while [ $# -gt 0 ]; do
  case "$1" in
    --budget-seconds) budget="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --export) export_dir="$2"; shift 2 ;;
    *) passed+=("$1"); shift ;;
  esac
done
[ -n "${SIEVE_CLI:-}" ] && passed+=(--sieve-cli "$SIEVE_CLI")
[ -n "$export_dir" ] && passed+=(--export "$export_dir")
if [ -n "${SIEVE_PYTHONPATH:-}" ]; then
  export PYTHONPATH="$SIEVE_PYTHONPATH${PYTHONPATH:+:$PYTHONPATH}"
fi

if [[ " ${passed[*]} " == *" --plan "* ]]; then  # the stages and estimates only
  exec "$python" "$lm/train_lm.py" --work "$work" --corpus "$corpus" --budget-seconds "$budget" \
    "${passed[@]}"
fi
status=0
PYTHONUNBUFFERED=1 "$python" "$lm/train_lm.py" --work "$work" --corpus "$corpus" \
  --budget-seconds "$budget" "${passed[@]}" || status=$?
case "$status" in
  0)
    "$python" "$lm/report.py" "$work/results.json"
    echo "lm-table: all stages done; docs/lm-pruning-results.md written here" \
      "(elsewhere: scripts/lm-table.sh --report WORK_DIR)" ;;
  3)
    echo "lm-table: stages left; run the same command again (with the exported state" \
      "copied back into $work when it ran on the device)" ;;
  *)
    echo "lm-table: train_lm.py failed (exit $status)" >&2 ;;
esac
exit "$status"
