"""Generation (docs/generation.md): one kernel compiled for a mask over
positions serves every decode step, the step given at the call (q_pos);
each step matches the float64 reference of the whole sequence, and the
cache past the live keys (NaN here) is never read. The per-step time of a
call from Python is printed (pytest -s) for docs/generation.md."""

import time

import numpy as np
import pytest

import reference
import sieve

POSITIONS, BLOCK = 80, 16
SHAPE = dict(batch=2, heads_q=4, heads_kv=2, seq_q=1, seq_k=POSITIONS, head_dim=16)


@pytest.fixture(scope="module")
def mask():
    blocks = POSITIONS // BLOCK
    return sieve.BlockMask.random(4, blocks, blocks, BLOCK, BLOCK, 0.5, seed=5,
                                  keep_diagonal=True)


def test_one_kernel_every_step(mask):
    kernel = sieve.compile(mask, **SHAPE, dtype="float32", causal=True, device="cpu",
                           generation=True)
    assert kernel.kind == "generation"
    rng = np.random.default_rng()
    b, hq, hkv, d = SHAPE["batch"], SHAPE["heads_q"], SHAPE["heads_kv"], SHAPE["head_dim"]
    q_all = rng.standard_normal((b, hq, POSITIONS, d)).astype(np.float32)
    k_all = rng.standard_normal((b, hkv, POSITIONS, d)).astype(np.float32)
    v_all = rng.standard_normal((b, hkv, POSITIONS, d)).astype(np.float32)
    # Over positions, causal is top-left: position x sees keys up to x.
    want = reference.attention(q_all, k_all, v_all, mask, causal=True)
    k_cache = np.full_like(k_all, np.nan)
    v_cache = np.full_like(v_all, np.nan)
    out = np.empty((b, hq, 1, d), dtype=np.float32)
    prompt = 37
    k_cache[:, :, :prompt] = k_all[:, :, :prompt]
    v_cache[:, :, :prompt] = v_all[:, :, :prompt]
    for pos in range(prompt, POSITIONS):
        k_cache[:, :, pos] = k_all[:, :, pos]  # the step's own key, appended
        v_cache[:, :, pos] = v_all[:, :, pos]
        out.fill(np.nan)
        assert kernel(np.ascontiguousarray(q_all[:, :, pos:pos + 1]), k_cache, v_cache,
                      out=out, q_pos=pos) is out
        assert reference.relative_error(out, want[:, :, pos:pos + 1]) < 1e-5, pos


def test_step_time_from_python(mask):
    kernel = sieve.compile(mask, **SHAPE, dtype="float32", causal=True, device="cpu",
                           generation=True)
    rng = np.random.default_rng()
    q = rng.standard_normal((2, 4, 1, 16)).astype(np.float32)
    k = rng.standard_normal((2, 2, POSITIONS, 16)).astype(np.float32)
    v = rng.standard_normal(k.shape).astype(np.float32)
    out = np.empty_like(q)
    times = []
    for step in range(2000):
        pos = 40 + step % 40
        start = time.perf_counter_ns()
        kernel(q, k, v, out=out, q_pos=pos)
        times.append(time.perf_counter_ns() - start)
    print(f"generation step from Python (CPU backend, kernel included): median "
          f"{np.median(times) / 1000:.1f} us")
    assert np.isfinite(out).all()


def test_step_outside_the_contract_is_refused(mask):
    kernel = sieve.compile(mask, **SHAPE, dtype="float32", causal=True, device="cpu",
                           generation=True)
    q = np.zeros((2, 4, 1, 16), dtype=np.float32) + 1
    k = np.ones((2, 2, POSITIONS, 16), dtype=np.float32)
    with pytest.raises(sieve.InvalidArgumentError, match="q_pos"):
        kernel(q, k, k)
    with pytest.raises(sieve.InvalidArgumentError, match="exceeds the kernel's 80 positions"):
        kernel(q, k, k, q_pos=POSITIONS)
