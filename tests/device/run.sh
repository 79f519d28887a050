#!/usr/bin/env bash
# Runs on the lent GPU, from the repository root, with .carry carried:
# unpacks the static binaries, runs the GPU suite and sieve's main job, and
# leaves what the session reads under $OUT (when set).
#
# The device returns at most 8 files from $OUT (docs of the device tool), and
# the suite alone writes some 40 logs and partial records; a run that left
# them in $OUT came back with none of its results. So every step writes into
# a work folder, and at the end $OUT receives a few files: attested.json,
# device.txt, summary.txt (the lines of every log that say what passed,
# failed or was attested), bench-kernels.txt and .json when benchmarks ran,
# and logs.tgz with everything else (peers' tables included).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${TMPDIR:-/tmp}/sieve-device-bin"
out="$bin/run-out"
rm -rf "$out"
mkdir -p "$bin" "$out"
collect() {
  [ -n "${OUT:-}" ] || return 0
  mkdir -p "$OUT"
  for f in attested.json device.txt bench-kernels.txt bench-kernels.json; do
    [ -f "$out/$f" ] && cp "$out/$f" "$OUT/"
  done
  grep -hE "row err|rel err|PASSED|FAILED|SKIPPED|tests ran|attested|recorded|passed|failed|sieve-device-tests:" \
    "$out"/*.log > "$OUT/summary.txt" 2>/dev/null
  tar czf "$OUT/logs.tgz" -C "$out" . 2>/dev/null
}
trap collect EXIT
for f in "$here"/*.xz; do
  xz -dc "$f" > "$bin/$(basename "$f" .xz)"
  chmod +x "$bin/$(basename "$f" .xz)"
done
export LD_LIBRARY_PATH="$bin:$here${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Programs linked against the C API find it by its soname.
[ -f "$bin/libsieve_c.so" ] && ln -sf libsieve_c.so "$bin/libsieve_c.so.1"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"

status=0
root="$(pwd)"
[ "${SIEVE_DEVICE_SUITE:-1}" = 1 ] && {
echo "== GPU suite"
# Fresh inputs every run (the masks, and so the kernels, stay those the
# attestation names); the seed is printed with any failure.
export SIEVE_TEST_SEED="${SIEVE_TEST_SEED:-$(date +%s)}"
echo "SIEVE_TEST_SEED=$SIEVE_TEST_SEED"
# After a green, unfiltered run the suite writes the attested record
# (tests/device/attested.json, to commit): GPU, driver, commit, and the
# digest of every configuration's kernels.
export SIEVE_ATTEST_DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
export SIEVE_ATTEST_COMMIT="$(cat "$here/commit.txt" 2>/dev/null || echo unknown)"
# Every case's kernels first, on all cores, into the suite's kernel cache:
# the suite itself compiles one case at a time.
export SIEVE_CACHE_DIR="$bin/kernel-cache"
chip="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)"
[ "$chip" = 90 ] && chip=90a
"$bin/sieve-device-tests" --prewarm-chip="sm_$chip" > "$out/gpu-prewarm.log" 2>&1 || status=1
tail -1 "$out/gpu-prewarm.log"
# The cases run in SIEVE_DEVICE_SHARDS processes side by side (gtest
# shards: the float64 references run on the host, one core each), except
# the case that fills the card, which runs alone afterwards; their partial
# records are merged into one. SIEVE_GPU_FILTER runs one process.
shards="${SIEVE_DEVICE_SHARDS:-8}"
alone="GpuFault.OutOfDeviceMemory*"
suite_logs=()
if [ -n "${SIEVE_GPU_FILTER:-}" ] || [ "$shards" -le 1 ]; then
  "$bin/sieve-device-tests" ${SIEVE_GPU_FILTER:+--gtest_filter=$SIEVE_GPU_FILTER} \
    --gtest_output="xml:$out/gpu-suite.xml" --attest-record="$out/attested.json" \
    > "$out/gpu-suite.log" 2>&1 || status=1
  suite_logs=("$out/gpu-suite.log")
else
  pids=()
  parts=()
  for ((i = 0; i < shards; i++)); do
    GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i "$bin/sieve-device-tests" \
      --gtest_filter="-$alone" --gtest_output="xml:$out/gpu-suite-$i.xml" \
      --attest-record="$out/attested-part-$i.json" > "$out/gpu-suite-$i.log" 2>&1 &
    pids+=($!)
    parts+=("$out/attested-part-$i.json")
    suite_logs+=("$out/gpu-suite-$i.log")
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  "$bin/sieve-device-tests" --gtest_filter="$alone" --gtest_output="xml:$out/gpu-suite-alone.xml" \
    --attest-record="$out/attested-part-alone.json" > "$out/gpu-suite-alone.log" 2>&1 || status=1
  parts+=("$out/attested-part-alone.json")
  suite_logs+=("$out/gpu-suite-alone.log")
  # A part with failures records only its configurations whose every case
  # passed; the merge joins what the parts recorded, and CI's check names
  # any configuration the union lacks.
  present=()
  for part in "${parts[@]}"; do [ -f "$part" ] && present+=("$part"); done
  if [ "${#present[@]}" -gt 0 ]; then
    (IFS=,; "$bin/sieve-device-tests" --attest-merge="$out/attested.json" --attest-parts="${present[*]}") \
      || status=1
  fi
fi
grep -hE "row err|rel err|PASSED|FAILED|SKIPPED|tests ran|attested|recorded|sieve-device-tests:" \
  "${suite_logs[@]}"
}

[ "${SIEVE_DEVICE_SANITIZE:-0}" = 1 ] && {
echo "== compute-sanitizer: memcheck, racecheck, synccheck (tests/device/sanitize.sh)"
uname -r
bash "$root/tests/device/sanitize.sh" "$bin" "$out" || status=1
}

[ "${SIEVE_DEVICE_CAPI:-1}" = 1 ] && [ -f "$bin/libsieve_c.so" ] && {
echo "== C API on the GPU (ctypes + PyTorch)"
SIEVE_LIB="$bin/libsieve_c.so" python3 "$root/tests/device/capi_gpu_test.py" 2>&1 | tee "$out/capi-gpu.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
}

[ "${SIEVE_DEVICE_PYTHON:-1}" = 1 ] && [ -d "$here/python/sieve" ] && {
echo "== Python module on the GPU (sieve.attention, torch.ops.sieve.attention vs SDPA)"
# The carried package (SIEVE_CARRY entry python) with its extension beside it.
pkg="$bin/python"
rm -rf "$pkg" && mkdir -p "$pkg" && cp -r "$here/python/sieve" "$pkg/" && cp "$bin"/_sieve*.so "$pkg/sieve/"
# On a GPU a skipped case is a failure (SIEVE_REQUIRE_GPU turns the tests'
# no-GPU skip into an error).
SIEVE_REQUIRE_GPU=1 PYTHONPATH="$pkg" python3 -m pytest -q -s -p no:cacheprovider "$root/tests/device/python" 2>&1 | tee "$out/python-gpu.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
PYTHONPATH="$pkg" python3 "$root/python/examples/swap_attention.py" --compile 2>&1 | tee -a "$out/python-gpu.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
}

[ "${SIEVE_DEVICE_MAIN:-1}" = 1 ] && {
echo "== main job: sieve mask + sieve run on the GPU"
cd "$bin"
"$bin/sieve" mask --heads 8 --seq-q 2048 --seq-k 2048 --block-q 64 --block-k 64 --density 0.2 -o mask.npy
"$bin/sieve" run --mask mask.npy --batch 2 --head-dim 64 --backend cuda 2>&1 | tee "$out/main-job.log" || status=1
"$bin/sieve" run --mask mask.npy --batch 2 --head-dim 128 --dtype f16 --causal --backend cuda 2>&1 | tee -a "$out/main-job.log" || status=1
}

if [ -x "$bin/sieve-bench-capi-launch" ] && [ "${SIEVE_DEVICE_BENCH:-1}" = 1 ]; then
  echo "== host time of one launch through the C API (median of repetitions)"
  "$bin/sieve-bench-capi-launch" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/bench-capi-launch.json" --benchmark_out_format=json 2>&1 \
    | grep -E "median|Benchmark|---" | tee "$out/bench-capi-launch.txt"
fi
if [ -x "$bin/sieve-bench-kernels" ] && [ "${SIEVE_DEVICE_BENCH:-1}" = 1 ]; then
  echo "== kernel benchmarks (medians of repetitions, CUDA-event time per launch)"
  "$bin/sieve-bench-kernels" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    ${SIEVE_BENCH_FILTER:+--benchmark_filter=$SIEVE_BENCH_FILTER} --benchmark_out="$out/bench-kernels.json" --benchmark_out_format=json 2>&1 \
    | grep -E "median|Benchmark|---" | tee "$out/bench-kernels.txt"
fi
if [ "${SIEVE_DEVICE_PEERS:-0}" = 1 ]; then
  echo "== peers: sieve specialized and generic, SDPA, FlexAttention (bench/peers)"
  # shellcheck disable=SC2086 # SIEVE_PEERS_ARGS is a list of arguments
  SIEVE_LIB_DIR="$bin" bash "$root/bench/peers/run.sh" --out "$out/peers" ${SIEVE_PEERS_ARGS:-} \
    2>&1 | tee "$out/peers.log" || status=1
fi
exit $status
