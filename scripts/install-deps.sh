#!/usr/bin/env bash
# Installs every Debian package sieve builds and tests with, on a fresh
# Debian 12 machine (run as root, or with sudo). The CUDA toolkit (cuda.h,
# ptxas) is part of the machine image, not of this list; see README.md.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  # compilers and build
  g++ cmake ninja-build ccache make xz-utils
  # LLVM/MLIR 22: libraries, CMake configs, mlir-tblgen, FileCheck and lit
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  # what static LLVM links need (tests/device/build.sh)
  libzstd-dev zlib1g-dev
  # libraries named by shared/DESIGN.md
  libeigen3-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
