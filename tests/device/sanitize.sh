#!/usr/bin/env bash
# Runs on the lent GPU (from tests/device/run.sh, SIEVE_DEVICE_SANITIZE=1):
# compute-sanitizer's memcheck, racecheck and synccheck over every kernel
# variant of the GPU suite on the masks that reach the edge cases (an empty
# head, an empty row in a live head, single-tile rows, split rows whose
# last part merges them, and ragged edges: S not a multiple of the tile), plus the
# simt body's calibration and threshold modes. Each tool must report zero
# errors; the tests inside still check every result against float64.
#
# usage: sanitize.sh BIN_DIR OUT_DIR
set -uo pipefail
bin="$1"
out="$2"
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
if [ ! -x "$sanitizer" ]; then
  echo "sanitize: compute-sanitizer not found" >&2
  exit 1
fi
# Two (dtype, head dim) pairs keep the run short, bf16 at 64 and f16 at
# 128; the edge cases are in the masks, and every body and option set is
# covered: ragged_q64_k128 (empty head, empty row, ragged Sq and Sk, BSHD,
# GQA), skewed_ragged_gqa (single-tile rows, rows split with the combine
# kernel, ragged, BSHD, GQA) and sq_ne_sk_partial (32-key blocks, partial
# last tiles); then the simt body's calibration and threshold modes and
# NaN/Inf inputs on every body, the backward's kernels, ragged and paged
# batches, and split generation steps.
cases=""
for dd in bf16_d64 f16_d128; do
  for shape in ragged_q64_k128 skewed_ragged_gqa sq_ne_sk_partial; do
    cases="$cases:*_${dd}_*${shape}"
  done
done
# The backward's rows, dK/dV and dQ kernels, wgmma and mma (suffixes _auto
# and _mma): GQA with ragged BSHD tiles under causal masking (empty rows
# and heads), 32-key tiles at D = 128 (mma only), block_q 128 over block_k
# 64 (queries with no key inside active rows), and two consumer warp groups
# on both wgmma kernels (128 x 128 blocks, ragged, GQA).
backward="*GpuBackward*bf16_d64_causal_gqa_bshd_ragged_*:*GpuBackward*f16_d128_causal_tiles32_*"
backward="$backward:*GpuBackward*bf16_d128_causal_bq128_bk64_*:*GpuBackward*bf16_d64_b128_gqa_ragged_auto"
# Ragged batches and paged KV (the mma body: each block's sequence offsets,
# page-table reads, rows cut at a sequence's keys), and generation steps
# split into parts (empty parts past the live keys, the combine of the
# call's rows, a programmatic dependent launch on sm_90a), bf16 at 64.
batch="*GpuRaggedPaged*bf16_d64_ragged_paged_br:*GpuRaggedPaged*bf16_d64_ragged_causal_tl"
batch="$batch:*GpuRaggedPaged*bf16_d64_paged_only"
generation="*GpuGeneration*_bf16_d64_decode_split_*"
filter="${SIEVE_SANITIZE_FILTER:-${cases#:}:*GpuModes*:*GpuNonFinite*:$backward:$batch:$generation}"
status=0
for tool in ${SIEVE_SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
  extra=()
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  # shellcheck disable=SC2206 # a list of extra sanitizer flags
  extra+=(${SIEVE_SANITIZE_EXTRA:-})
  log="$out/sanitize-$tool.log"
  start=$(date +%s)
  # A time bound per tool, so that one slow tool cannot take the lease.
  timeout "${SIEVE_SANITIZE_TIMEOUT:-400}" "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 97 --print-limit 20 \
    "$bin/sieve-device-tests" --gtest_filter="$filter" > "$log" 2>&1
  rc=$?
  summary="$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY" "$log" | tail -2 | tr '\n' ' ')"
  tests="$(grep -E "^\[  PASSED  \]|^\[  FAILED  \]|^\[  SKIPPED \]" "$log" | tr '\n' ' ')"
  echo "sanitize $tool: exit $rc in $(($(date +%s) - start)) s; $summary; $tests"
  [ "$rc" = 0 ] || status=1
done
exit $status
