#!/usr/bin/env bash
# The host time of one launch of a cached kernel, for two builds side by
# side on one GPU: through the C++ Session (sieve-bench-kernels,
# BM_LaunchHostSession) and through the C API (sieve-bench-capi-launch, with
# its libsieve_c.so). Each build's folder holds those files, xz-compressed
# or not. The builds run in turn, A B A B ..., `rounds` times, so a drift
# of the machine's speed reaches both; the table (also $OUT/launch-ab.txt)
# is the median of each build's per-round medians. Build A's unpacked
# folder is left at $TMPDIR/sieve-launch-ab/A (for the peer script).
#
# usage: bench/launch-ab.sh <build A folder> <build B folder> [rounds]
set -euo pipefail
a="$1"
b="$2"
rounds="${3:-3}"
work="${TMPDIR:-/tmp}/sieve-launch-ab"
out="${OUT:-$work/out}"
rm -rf "$work"
mkdir -p "$work" "$out"

# unpack <folder> <name>: the build's binaries in their own folder.
unpack() {
  local dir="$work/$2"
  mkdir -p "$dir"
  for f in "$1"/*; do
    case "$f" in
    *.xz) xz -dc "$f" >"$dir/$(basename "$f" .xz)" ;;
    *) cp "$f" "$dir/" ;;
    esac
  done
  chmod +x "$dir"/* 2>/dev/null || true
  [ -f "$dir/libsieve_c.so" ] && ln -sf libsieve_c.so "$dir/libsieve_c.so.1"
  echo "$dir"
}
dirs=("$(unpack "$a" A)" "$(unpack "$b" B)")

# median <file of numbers>
median() { sort -g "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

for r in $(seq "$rounds"); do
  for i in 0 1; do
    d="${dirs[$i]}"
    name=$([ "$i" = 0 ] && echo A || echo B)
    export SIEVE_CACHE_DIR="$work/cache-$name"
    if [ -x "$d/sieve-bench-kernels" ]; then
      LD_LIBRARY_PATH="$d" "$d/sieve-bench-kernels" --benchmark_filter=BM_LaunchHostSession \
        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
        --benchmark_format=json >"$work/session-$name-$r.json"
      python3 -c "import json,sys; print([b['real_time'] for b in json.load(open(sys.argv[1]))['benchmarks'] if b['aggregate_name']=='median'][0])" \
        "$work/session-$name-$r.json" >>"$work/session-$name.txt"
    fi
    if [ -x "$d/sieve-bench-capi-launch" ]; then
      LD_LIBRARY_PATH="$d" "$d/sieve-bench-capi-launch" --benchmark_repetitions=5 \
        --benchmark_report_aggregates_only=true --benchmark_format=json >"$work/capi-$name-$r.json"
      python3 -c "import json,sys; print([b['real_time'] for b in json.load(open(sys.argv[1]))['benchmarks'] if b['aggregate_name']=='median'][0])" \
        "$work/capi-$name-$r.json" >>"$work/capi-$name.txt"
    fi
  done
done

echo "host time of one launch (us), median of $rounds rounds of 5-repetition medians"
printf '%-10s %10s %10s %8s\n' path A B B/A
for path in session capi; do
  [ -f "$work/$path-A.txt" ] && [ -f "$work/$path-B.txt" ] || continue
  ma=$(median "$work/$path-A.txt")
  mb=$(median "$work/$path-B.txt")
  printf '%-10s %10.2f %10.2f %8.3f\n' "$path" "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { print b / a }')"
done | tee "$out/launch-ab.txt"
