#!/usr/bin/env bash
# Builds the binaries that travel to the lent GPU: LLVM/MLIR linked statically
# (the device has no MLIR), stripped, xz-compressed into .carry/device/
# together with run.sh. Pass .carry to the device tool's `carry` and run
#   bash .carry/device/run.sh
# there. Usage: tests/device/build.sh [extra ninja targets...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build-device"
carry="$root/.carry/device"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSIEVE_STATIC_LLVM=ON -DSIEVE_BUILD_TESTS=ON -DSIEVE_BUILD_BENCH=ON >/dev/null
targets=(sieve sieve-device-tests sieve-bench-kernels "$@")
ninja -C "$build" "${targets[@]}"

rm -rf "$carry"
mkdir -p "$carry"
for exe in "$build/tools/sieve/sieve" "$build/tests/device/sieve-device-tests" \
           "$build/bench/sieve-bench-kernels" "${@/#/$build/bench/}"; do
  [ -f "$exe" ] || continue
  name="$(basename "$exe")"
  strip -o "$carry/$name" "$exe"
  xz -9 -T2 -f "$carry/$name"
done
cp "$root/tests/device/run.sh" "$carry/run.sh"
# Debian ships Google Benchmark only as a shared library; it needs nothing
# but libstdc++, so it travels beside the binaries (run.sh sets the path).
cp -L /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian "$carry/"
# What the binaries need at run time: nothing from LLVM/MLIR or fmt.
for exe in "$build/tools/sieve/sieve" "$build/tests/device/sieve-device-tests" \
           "$build/bench/sieve-bench-kernels"; do
  ldd "$exe" | awk '{print $1}'
done | sort -u > "$carry/needed-libs.txt"
if grep -qE "libLLVM|libMLIR|libfmt|libgtest" "$carry/needed-libs.txt"; then
  echo "build.sh: the device binaries still need a shared LLVM/MLIR/fmt:" >&2
  cat "$carry/needed-libs.txt" >&2
  exit 1
fi
ls -l "$carry"
du -ch "$carry"/*.xz | tail -1
