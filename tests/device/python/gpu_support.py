"""What the GPU Python tests share: the repository root, transformers on
sys.path when the git-ignored .deps/transformers holds it (or
SIEVE_TRANSFORMERS_DIR), and the skip that tests/device/run.sh turns into
a failure (SIEVE_REQUIRE_GPU=1: on the lent GPU a missing GPU or
dependency must not pass as a skip)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def add_transformers_path():
    deps = os.environ.get("SIEVE_TRANSFORMERS_DIR") or os.path.join(ROOT, ".deps", "transformers")
    if os.path.isdir(deps) and deps not in sys.path:
        sys.path.append(deps)


def skip(why):
    """Skips the test, or fails it under SIEVE_REQUIRE_GPU=1."""
    if os.environ.get("SIEVE_REQUIRE_GPU") == "1":
        raise AssertionError(f"SIEVE_REQUIRE_GPU=1 but {why}")
    import pytest
    pytest.skip(why)
