# Sourced by scripts/sanitize.sh and scripts/fuzz.sh: the one tree built
# with clang under ASan and UBSan (build-asan/), which holds both the test
# suite and the libFuzzer targets, so the MLIR-heavy sources are compiled
# once for the two (their coverage instrumentation, -fsanitize=fuzzer-no-link
# on sieve's libraries, costs the tests little).
#
# Defines: asan_build, asan_flags, asan_runtime_dir, configure_asan_tree.

asan_cc=clang-22
asan_cxx=clang++-22
if ! command -v "$asan_cxx" >/dev/null; then
  echo "$(basename "$0"): $asan_cxx not found (scripts/install-deps.sh installs clang-22)" >&2
  exit 1
fi
asan_build="${SIEVE_ASAN_BUILD_DIR:-$root/build-asan}"
# vptr needs RTTI, which LLVM (and so our MLIR-facing code) is built without.
asan_flags="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer"
# The sanitizer runtime as a shared library, found through an rpath: the
# project's shared libraries (the C API) link with --no-undefined, and a
# static runtime exists only in executables.
asan_runtime_dir="$("$asan_cxx" -print-runtime-dir)"

# configure_sanitizer_tree <build dir> <sanitizer flags> [cmake arguments...]
configure_sanitizer_tree() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  local link="$2 -shared-libsan -Wl,-rpath,$asan_runtime_dir"
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$asan_cc" -DCMAKE_CXX_COMPILER="$asan_cxx" "${launcher[@]}" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_FLAGS="$2" -DCMAKE_CXX_FLAGS="$2" \
    -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" \
    -DSIEVE_BUILD_BENCH=OFF -DSIEVE_BUILD_DEVICE_TESTS=OFF -DSIEVE_TEST_WHEEL=OFF "${@:3}" >/dev/null
}

configure_asan_tree() {
  configure_sanitizer_tree "$asan_build" "$asan_flags" -DSIEVE_BUILD_PYTHON=ON -DSIEVE_BUILD_FUZZERS=ON
}
