#!/usr/bin/env bash
# Builds the binaries that travel to the lent GPU: LLVM/MLIR linked statically
# (the device has no MLIR), stripped, xz-compressed into .carry/device/
# together with run.sh. Pass .carry to the device tool's `carry` and run
#   bash .carry/device/run.sh
# there. Usage: tests/device/build.sh [extra ninja targets...]
# Each binary carries its own static LLVM/MLIR (~18 MB compressed), and a
# carry holds 64 MiB, so SIEVE_CARRY picks which travel (default: the CLI,
# the GPU suite and the C API library; add sieve-bench-kernels for
# benchmark rounds and drop what that round does not run). SIEVE_CARRY entry
# `python` carries the Python module (sieve._sieve, built for the device's
# Python 3.12: SIEVE_DEVICE_PYTHON_EXE, else pyenv's 3.12) and python/sieve.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build-device"
carry="$root/.carry/device"

carry_list="${SIEVE_CARRY:-sieve sieve-device-tests libsieve_c.so}"
targets=(sieve sieve-device-tests sieve-bench-kernels sieve-bench-capi-launch sieve_c "$@")
python_args=(-DSIEVE_BUILD_PYTHON=OFF)
if [[ " $carry_list " == *" python "* ]]; then
  # The module must match the device's Python minor version (3.12).
  device_python=""
  for candidate in "${SIEVE_DEVICE_PYTHON_EXE:-}" "$HOME"/.pyenv/versions/3.12*/bin/python3.12 \
    /usr/bin/python3.12; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then device_python="$candidate"; break; fi
  done
  [ -n "$device_python" ] || {
    echo "build.sh: SIEVE_CARRY has 'python' but no Python 3.12 was found; set SIEVE_DEVICE_PYTHON_EXE" >&2
    exit 1
  }
  python_args=(-DSIEVE_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$device_python")
  targets+=(sieve-python)
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSIEVE_STATIC_LLVM=ON -DSIEVE_BUILD_TESTS=ON -DSIEVE_BUILD_BENCH=ON "${python_args[@]}" >/dev/null
ninja -C "$build" "${targets[@]}"

declare -A outputs=(
  [sieve]="$build/tools/sieve/sieve"
  [sieve-device-tests]="$build/tests/device/sieve-device-tests"
  [sieve-bench-kernels]="$build/bench/sieve-bench-kernels"
  [sieve-bench-capi-launch]="$build/bench/sieve-bench-capi-launch"
  [libsieve_c.so]="$build/runtime/capi/libsieve_c.so"
)
if [ -n "${device_python:-}" ]; then
  suffix="$("$device_python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
  outputs[python]="$build/python/sieve/_sieve$suffix"
fi
selected=()
for name in $carry_list; do
  [ -n "${outputs[$name]:-}" ] || { echo "build.sh: unknown SIEVE_CARRY entry '$name'" >&2; exit 1; }
  selected+=("${outputs[$name]}")
done

rm -rf "$carry"
mkdir -p "$carry"
for exe in "${selected[@]}" "${@/#/$build/bench/}"; do
  [ -f "$exe" ] || continue
  name="$(basename "$exe")"
  # -L: libsieve_c.so is a symlink to the versioned file.
  strip -o "$carry/$name" "$(readlink -f "$exe")"
  xz -9 -T2 -f "$carry/$name"
done
cp "$root/tests/device/run.sh" "$carry/run.sh"
# The commit the binaries were built from, for the attested record; a tree
# with changes says so.
commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+modified"
fi
echo "$commit" > "$carry/commit.txt"
# The pure-Python half of the package; run.sh puts the module beside it.
if [ -n "${outputs[python]:-}" ]; then
  # Every module of the package, subpackages (sieve.integrations) included.
  mkdir -p "$carry/python"
  (cd "$root/python" && find sieve -name '*.py' -exec cp --parents {} "$carry/python/" \;)
fi
# Debian ships Google Benchmark only as a shared library; it needs nothing
# but libstdc++, so it travels beside the binaries (run.sh sets the path).
cp -L /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian "$carry/"
# What the binaries need at run time: nothing from LLVM/MLIR or fmt.
for exe in "${selected[@]}"; do
  ldd "$exe" | awk '{print $1}'
done | sort -u > "$carry/needed-libs.txt"
if grep -qE "libLLVM|libMLIR|libfmt|libgtest" "$carry/needed-libs.txt"; then
  echo "build.sh: the device binaries still need a shared LLVM/MLIR/fmt:" >&2
  cat "$carry/needed-libs.txt" >&2
  exit 1
fi
ls -l "$carry"
total=$(du -cb "$carry"/* | tail -1 | cut -f1)
echo "carry: $((total / 1048576)) MiB"
if [ "$total" -gt $((64 * 1048576)) ]; then
  echo "build.sh: the carry exceeds 64 MiB; set SIEVE_CARRY to fewer binaries" >&2
  exit 1
fi
