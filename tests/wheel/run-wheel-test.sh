#!/usr/bin/env bash
# `pip install` of the sieve wheel into a fresh virtual environment, then the
# Python tests against the installed package: the wheel must work without
# Debian's LLVM, PYTHONPATH or the build tree.
#
# usage: run-wheel-test.sh <source dir> <build dir> <python3> <c++> <cc> <scratch dir>
#
# The wheel builds in <build dir>-wheel, beside the build tree and at its
# depth, with the build tree's compilers: ccache then finds what the build
# tree compiled (cmake/SievePch.cmake makes its paths relative), and only
# the extension's static link is new work. Prints how long each step took.
set -euo pipefail
src="$1" build="$2" python="$3" cxx="$4" cc="$5" scratch="$6"
unset PYTHONPATH
step_start=$SECONDS
step() { echo "wheel-venv: $1 ($((SECONDS - step_start)) s)"; step_start=$SECONDS; }

rm -rf "$scratch"
mkdir -p "$scratch"
"$python" -m venv "$scratch/venv"
venv="$scratch/venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install numpy pytest
step "fresh venv with numpy and pytest"

"${pip[@]}" wheel "$src" --no-deps --wheel-dir "$scratch/dist" \
  --config-settings=build-dir="$build-wheel" \
  --config-settings=cmake.define.CMAKE_CXX_COMPILER="$cxx" \
  --config-settings=cmake.define.CMAKE_C_COMPILER="$cc"
step "built $(basename "$scratch"/dist/*.whl)"
"${pip[@]}" install "$scratch"/dist/*.whl
step "installed it"

# The wheel's contents: the extension and the modules, no LLVM or MLIR
# needed at run time.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
extension="$(ls "$site"/sieve/_sieve*.so)"
if ldd "$extension" | grep -E 'libLLVM|libMLIR'; then
  echo "wheel-venv: the installed extension needs a shared LLVM/MLIR" >&2
  exit 1
fi
(cd "$scratch" && "$venv/bin/python" -c "
import sieve
assert sieve.__file__.startswith('$site'), sieve.__file__
print('wheel-venv: sieve', sieve.__version__, 'from', sieve.__file__)")

# PyTorch, for sieve.torch_op's tests, from where scripts/install-deps.sh
# put it (built for this Python version), as a path entry of the venv.
echo "$src/.deps/torch" >"$site/sieve-tests-torch.pth"
# transformers and its dependencies likewise (tests/python/test_transformers.py),
# which also runs the build tree's CLI on the MiniLM weights.
echo "$src/.deps/transformers" >"$site/sieve-tests-transformers.pth"
(cd "$scratch" && SIEVE_CACHE=0 SIEVE_CLI="$build/tools/sieve/sieve" \
  SIEVE_LIB="$build/runtime/capi/libsieve_c.so" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  "$src/tests/python")
step "Python tests against the installed wheel"
