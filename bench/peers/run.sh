#!/usr/bin/env bash
# Device entry for the peer benchmark. Finds libsieve_c.so in --lib-dir DIR
# (first argument) or $SIEVE_LIB_DIR, puts that folder on LD_LIBRARY_PATH,
# and runs compare.py with the remaining arguments.
#   SIEVE_LIB_DIR=/path/to/lib bash bench/peers/run.sh --shapes 4x16x8192x64
#   bash bench/peers/run.sh --lib-dir /path/to/lib --budget-s 300
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
libdir="${SIEVE_LIB_DIR:-}"
if [ "${1:-}" = "--lib-dir" ]; then
  libdir="$2"
  shift 2
fi
if [ -n "$libdir" ]; then
  [ -f "$libdir/libsieve_c.so" ] || { echo "run.sh: no libsieve_c.so in $libdir" >&2; exit 2; }
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export SIEVE_LIB="$libdir/libsieve_c.so"
fi
# A fresh kernel cache, unless the caller chose one: compile times in the
# table are then cold compiles, not disk-cache hits from an earlier run.
if [ -z "${SIEVE_CACHE_DIR:-}" ]; then
  SIEVE_CACHE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sieve-peers-cache.XXXXXX")"
  export SIEVE_CACHE_DIR
fi
exec python3 "$here/compare.py" "$@"
