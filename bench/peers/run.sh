#!/usr/bin/env bash
# Device entry for the peer benchmark. Finds libsieve_c.so in --lib-dir DIR
# (first argument) or $SIEVE_LIB_DIR, puts that folder on LD_LIBRARY_PATH,
# and runs compare.py with the remaining arguments. For --backward it puts
# the sieve Python module on PYTHONPATH (from DIR's _sieve*.so) instead.
#   SIEVE_LIB_DIR=/path/to/lib bash bench/peers/run.sh --shapes 4x16x8192x64
#   bash bench/peers/run.sh --lib-dir /path/to/lib --budget-s 300
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
libdir="${SIEVE_LIB_DIR:-}"
if [ "${1:-}" = "--lib-dir" ]; then
  libdir="$2"
  shift 2
fi
# --backward reaches sieve through its Python module, not libsieve_c.so.
backward=0
for arg in "$@"; do [ "$arg" = --backward ] && backward=1; done
if [ -n "$libdir" ]; then
  if [ -f "$libdir/libsieve_c.so" ]; then
    export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export SIEVE_LIB="$libdir/libsieve_c.so"
  elif [ "$backward" = 0 ]; then
    echo "run.sh: no libsieve_c.so in $libdir" >&2
    exit 2
  fi
fi
# The sieve Python module, for --backward (torch.ops.sieve), unless it is
# importable already: $libdir/python (tests/device/run.sh's Python step
# makes it), else $libdir's _sieve extension with the Python files carried
# beside it by tests/device/build.sh (.carry/device/python/sieve), or
# failing those the working tree's python/sieve.
if [ -n "$libdir" ] && ! python3 -c "import sieve._sieve" 2>/dev/null; then
  if [ -d "$libdir/python/sieve" ]; then
    export PYTHONPATH="$libdir/python${PYTHONPATH:+:$PYTHONPATH}"
  elif compgen -G "$libdir/_sieve*.so" >/dev/null; then
    src="$here/../../.carry/device/python/sieve"
    [ -d "$src" ] || src="$here/../../python/sieve"
    pkg="$(mktemp -d "${TMPDIR:-/tmp}/sieve-peers-python.XXXXXX")"
    mkdir -p "$pkg/sieve"
    cp "$src"/*.py "$libdir"/_sieve*.so "$pkg/sieve/"
    export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
# A fresh kernel cache, unless the caller chose one: compile times in the
# table are then cold compiles, not disk-cache hits from an earlier run.
if [ -z "${SIEVE_CACHE_DIR:-}" ]; then
  SIEVE_CACHE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sieve-peers-cache.XXXXXX")"
  export SIEVE_CACHE_DIR
fi
exec python3 "$here/compare.py" "$@"
