#!/usr/bin/env bash
# The test suite under the sanitizers (CI runs it after scripts/test.sh):
#   address + undefined: every ctest of the project (GoogleTest units, lit,
#     the model tests, the fuzz corpora and regression inputs replayed), built
#     with clang-22 in build-asan/, the tree scripts/fuzz.sh fuzzes from;
#   thread: the cache, runtime and concurrency tests, in build-tsan/.
# Any report fails the run: UBSan does not recover, ASan's leak checker is
# on, and TSan exits non-zero on a race. The Debian LLVM/MLIR libraries are
# not instrumented (their code is not ours); sieve's code, the generated CPU
# kernels' host wrappers and the tests are. The GPU suite is not built here:
# without a GPU it runs nothing, and its kernels are checked by the
# attestation test of the plain build.
#
# usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="/usr/local/cuda/bin:$PATH"
source "$root/scripts/lib/asan-tree.sh"

# Suppressions name only code that is not sieve's (see the files).
# allow_user_poisoning=0: LLVM's allocators poison and unpoison their slabs
# by hand in code built with ASan (llvm/Support/Allocator.h); the Debian
# MLIR libraries are built without it and allocate from the same slabs, so
# the two halves disagree and every MLIR context reports a false
# use-after-poison. sieve's code poisons nothing by hand.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allow_user_poisoning=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/scripts/sanitizers/tsan.supp"

run_asan() {
  configure_asan_tree
  ninja -C "$asan_build"
  # The install test builds a consumer with the system compiler, which the
  # sanitized libraries cannot link into; it runs in scripts/test.sh.
  ctest --test-dir "$asan_build" --output-on-failure -j "$(nproc)" --no-tests=error \
    -E '^(install-consumer|python-.*)$' --timeout 1800
  # The Python tests: the interpreter is not instrumented, so the runtime
  # goes first (LD_PRELOAD), and leak checking is off because CPython
  # never frees some of its own memory at exit (that is not sieve's).
  LD_PRELOAD="$asan_runtime_dir/libclang_rt.asan-x86_64.so" ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
    ctest --test-dir "$asan_build" --output-on-failure -j "$(nproc)" --no-tests=error \
    -R '^python-' --timeout 1800
}

# The tests whose code runs on several threads: the caches (memory, disk,
# kernels), the runtime's executors, the C API, and the concurrency tests.
tsan_targets=(sieve-runtime-tests sieve-compiler-tests sieve-capi-tests)
run_tsan() {
  local build="${SIEVE_TSAN_BUILD_DIR:-$root/build-tsan}"
  configure_sanitizer_tree "$build" "-fsanitize=thread -fno-omit-frame-pointer" -DSIEVE_BUILD_PYTHON=OFF
  ninja -C "$build" "${tsan_targets[@]}"
  ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --no-tests=error --timeout 1800 \
    -R '^(Lru|ArtifactCache|CacheRace|CacheEntry|CacheFault|KernelCache|ConcurrentLaunch|CApi|ApiErrors|RunErrors)|CpuBackend'
}

modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(asan tsan)
for mode in "${modes[@]}"; do
  case "$mode" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  *) echo "sanitize: unknown mode '$mode' (asan or tsan)" >&2; exit 2 ;;
  esac
done
