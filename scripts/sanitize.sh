#!/usr/bin/env bash
# The test suite under the sanitizers (CI runs it after scripts/test.sh):
#   address + undefined: every ctest of the project (GoogleTest units, lit,
#     the model tests), built with clang-22 in build-asan/;
#   thread: the cache, runtime and concurrency tests, in build-tsan/.
# Any report fails the run: UBSan does not recover, ASan's leak checker is
# on, and TSan exits non-zero on a race. The Debian LLVM/MLIR libraries are
# not instrumented (their code is not ours); sieve's code, the generated CPU
# kernels' host wrappers and the tests are.
#
# usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="/usr/local/cuda/bin:$PATH"
cc=clang-22
cxx=clang++-22
if ! command -v "$cxx" >/dev/null; then
  echo "sanitize: $cxx not found (scripts/install-deps.sh installs clang-22)" >&2
  exit 1
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

# The sanitizer runtime as a shared library, found through an rpath: the
# project's shared libraries (the C API) link with --no-undefined, and a
# static runtime exists only in executables.
runtime_dir="$("$cxx" -print-runtime-dir)"
configure() { # build dir, sanitizer flags, more cmake arguments
  local link="$2 -shared-libsan -Wl,-rpath,$runtime_dir"
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_FLAGS="$2" -DCMAKE_CXX_FLAGS="$2" \
    -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" \
    -DSIEVE_BUILD_BENCH=OFF "${@:3}" >/dev/null
}

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
  local build="${SIEVE_ASAN_BUILD_DIR:-$root/build-asan}"
  # vptr needs RTTI, which LLVM (and so our MLIR-facing code) is built without.
  configure "$build" "-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer" \
    -DSIEVE_BUILD_PYTHON=ON
  ninja -C "$build"
  # The install test builds a consumer with the system compiler, which the
  # sanitized libraries cannot link into; it runs in scripts/test.sh.
  ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -E '^(install-consumer|python-.*)$' --timeout 1800
  # The Python tests: the interpreter is not instrumented, so the runtime
  # goes first (LD_PRELOAD), and leak checking is off because CPython
  # never frees some of its own memory at exit (that is not sieve's).
  LD_PRELOAD="$runtime_dir/libclang_rt.asan-x86_64.so" ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
    ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -R '^python-' --timeout 1800
}

# The tests whose code runs on several threads: the caches (memory, disk,
# kernels), the runtime's executors, the C API, and the concurrency tests.
tsan_targets=(sieve-runtime-tests sieve-compiler-tests sieve-capi-tests)
run_tsan() {
  local build="${SIEVE_TSAN_BUILD_DIR:-$root/build-tsan}"
  configure "$build" "-fsanitize=thread -fno-omit-frame-pointer" -DSIEVE_BUILD_PYTHON=OFF
  ninja -C "$build" "${tsan_targets[@]}"
  ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 1800 \
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
