#!/usr/bin/env bash
# Fuzzes every reader of outside input (tests/fuzz): builds the libFuzzer
# targets with ASan and UBSan in their own build folder, then runs each for
# a bounded time on a scratch copy of its checked-in seed corpus (the corpus
# in the tree is never written). Exits non-zero when any target finds a
# crash, a sanitizer report, a leak or a timeout, naming the input.
#
#   SIEVE_FUZZ_SECONDS    seconds per target (default 60)
#   SIEVE_FUZZ_BUILD_DIR  build folder (default build-fuzz)
#   SIEVE_FUZZ_TARGETS    targets to run (default: all of them)
#
# A finding is reproduced with `<target> <input>`; once fixed, its input goes
# to tests/fuzz/regressions/<target>/, which `ctest --test-dir build-fuzz`
# replays with the seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${SIEVE_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${SIEVE_FUZZ_SECONDS:-60}
all="sieve-fuzz-mask-file sieve-fuzz-stats-file sieve-fuzz-cache-entry sieve-fuzz-ir sieve-fuzz-capi"
read -r -a targets <<<"${SIEVE_FUZZ_TARGETS:-$all}"

# cuda.h is needed to build the runtime (libcuda itself is opened at run time).
export PATH="/usr/local/cuda/bin:$PATH"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# Only the fuzz targets and what they link are built: no tests, benchmarks
# or Python module (the replay tests are the fuzz folder's own).
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 "${launcher[@]}" \
  -DSIEVE_BUILD_FUZZERS=ON -DSIEVE_BUILD_TESTS=OFF -DSIEVE_BUILD_BENCH=OFF \
  -DSIEVE_BUILD_PYTHON=OFF >/dev/null
start=$SECONDS
ninja -C "$build" "${targets[@]}"
echo "fuzz: build took $((SECONDS - start)) s"

# Each run's scratch corpora, logs and findings; the previous run's go.
runs="$build/fuzz-runs"
rm -rf "$runs"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=()
summary=()
for t in "${targets[@]}"; do
  dir="$runs/$t"
  mkdir -p "$dir/corpus" "$dir/regressions" "$dir/findings"
  cp -R "tests/fuzz/corpus/$t/." "$dir/corpus/"
  if [ -d "tests/fuzz/regressions/$t" ]; then
    cp -R "tests/fuzz/regressions/$t/." "$dir/regressions/"
  fi
  extra=()
  if [ "$t" = sieve-fuzz-capi ]; then
    # Every new kernel stays in the process-wide kernel cache, so libFuzzer's
    # per-input leak check (a full LeakSanitizer scan whenever an input
    # allocated more than it freed) would run on nearly every input and cut
    # the rate 35-fold. Leaks are still checked when the run exits, and per
    # input by the ctest replay.
    extra=(-detect_leaks=0)
  fi
  echo "fuzz: $t for ${seconds} s (log: $dir/log)"
  rc=0
  # New inputs go to the first folder (the scratch corpus); the regressions
  # are read as a second one.
  (cd "$dir" && "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/findings/" "${extra[@]}" \
    corpus regressions) >"$dir/log" 2>&1 || rc=$?
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
