#!/usr/bin/env bash
# Fuzzes every reader of outside input (tests/fuzz): the libFuzzer targets
# of the ASan + UBSan tree (build-asan, shared with scripts/sanitize.sh,
# built here if it is not yet), each run for a bounded time on a scratch
# copy of its checked-in seed corpus (the corpus in the tree is never
# written), as many at once as there are cores. Exits non-zero when any
# target finds a crash, a sanitizer report, a leak or a timeout, naming the
# input.
#
#   SIEVE_FUZZ_SECONDS    seconds per target (default 60)
#   SIEVE_ASAN_BUILD_DIR  the tree (default build-asan)
#   SIEVE_FUZZ_TARGETS    targets to run (default: all of them)
#   SIEVE_FUZZ_JOBS       targets run at once (default: the cores)
#
# A finding is reproduced with `<target> <input>`; once fixed, its input goes
# to tests/fuzz/regressions/<target>/, which the tree's ctest replays with
# the seeds (fuzz-replay-<target>, part of scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${SIEVE_FUZZ_SECONDS:-60}
jobs=${SIEVE_FUZZ_JOBS:-$(nproc)}
all="sieve-fuzz-mask-file sieve-fuzz-stats-file sieve-fuzz-cache-entry sieve-fuzz-ir sieve-fuzz-capi"
read -r -a targets <<<"${SIEVE_FUZZ_TARGETS:-$all}"

# cuda.h is needed to build the runtime (libcuda itself is opened at run time).
export PATH="/usr/local/cuda/bin:$PATH"
source "$root/scripts/lib/asan-tree.sh"
build=$asan_build
[ -f "$build/build.ninja" ] || configure_asan_tree
start=$SECONDS
ninja -C "$build" "${targets[@]}"
echo "fuzz: build took $((SECONDS - start)) s"

# Each run's scratch corpora, logs and findings; the previous run's go.
runs="$build/fuzz-runs"
rm -rf "$runs"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=()
summary=()
# fuzz_one <target>: one bounded run; its exit status in $dir/status.
fuzz_one() {
  local t=$1 dir="$runs/$1" rc=0
  mkdir -p "$dir/corpus" "$dir/regressions" "$dir/findings"
  cp -R "tests/fuzz/corpus/$t/." "$dir/corpus/"
  if [ -d "tests/fuzz/regressions/$t" ]; then
    cp -R "tests/fuzz/regressions/$t/." "$dir/regressions/"
  fi
  local extra=()
  if [ "$t" = sieve-fuzz-capi ]; then
    # Every new kernel stays in the process-wide kernel cache, so libFuzzer's
    # per-input leak check (a full LeakSanitizer scan whenever an input
    # allocated more than it freed) would run on nearly every input and cut
    # the rate 35-fold. Leaks are still checked when the run exits, and per
    # input by the ctest replay.
    extra=(-detect_leaks=0)
  fi
  echo "fuzz: $t for ${seconds} s (log: $dir/log)"
  # New inputs go to the first folder (the scratch corpus); the regressions
  # are read as a second one.
  (cd "$dir" && "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/findings/" "${extra[@]}" \
    corpus regressions) >"$dir/log" 2>&1 || rc=$?
  echo "$rc" >"$dir/status"
}
running=0
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
for t in "${targets[@]}"; do
  dir="$runs/$t"
  rc=$(cat "$dir/status")
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -n 1 || true)
  [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+[[:space:]]' "$dir/log" | tail -n 1 || true)
  summary+=("$t: ${done_line:-no progress line}")
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$dir/findings")" ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); its log ends:" >&2
    tail -n 40 "$dir/log" >&2
    for f in "$dir"/findings/*; do
      [ -e "$f" ] && echo "fuzz: $t finding: $f (reproduce: $build/tests/fuzz/$t $f)" >&2
    done
  fi
done

echo "fuzz: summary (cov: edges covered, exec/s: executions per second)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings in ${#targets[@]} targets, ${seconds} s each"
