#!/usr/bin/env bash
# The README's test command: installs what is missing, configures, builds
# and runs every test (GoogleTest units, lit/FileCheck, ptxas assembly, and
# the GPU suite, which skips itself where there is no GPU).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SIEVE_BUILD_DIR:-$root/build}"
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
