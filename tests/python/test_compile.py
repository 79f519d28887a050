"""sieve.compile: one kernel, many calls; what a kernel says about itself;
the kernel cache behind compile() and attention()."""

import numpy as np
import pytest

import reference
import sieve
from sieve import _attention

SHAPE = dict(batch=2, heads_q=4, heads_kv=2, seq_q=96, seq_k=64, head_dim=16)


@pytest.fixture(scope="module")
def mask():
    return sieve.BlockMask.random(4, 3, 2, 32, 32, 0.6, seed=11)


def inputs(rng):
    s = SHAPE
    q = rng.standard_normal((s["batch"], s["heads_q"], s["seq_q"], s["head_dim"]))
    k = rng.standard_normal((s["batch"], s["heads_kv"], s["seq_k"], s["head_dim"]))
    v = rng.standard_normal(k.shape)
    return q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)


def test_kernel_reused_on_fresh_inputs(mask):
    kernel = sieve.compile(mask, **SHAPE, dtype="float32", causal=True, device="cpu")
    rng = np.random.default_rng(12)
    out = np.empty((2, 4, 96, 16), dtype=np.float32)
    for _ in range(3):
        q, k, v = inputs(rng)
        out.fill(np.nan)
        assert kernel(q, k, v, out=out) is out
        want = reference.attention(q, k, v, mask, causal=True)
        assert reference.relative_error(out, want) < 1e-5
    # Without out=, a new array each call.
    first, second = kernel(q, k, v), kernel(q, k, v)
    assert first is not second and np.array_equal(first, second)


def test_kernel_describes_itself(mask):
    kernel = sieve.compile(mask, **SHAPE, dtype=np.float32, scale=0.125, device="cpu")
    assert kernel.backend == "cpu" and kernel.device == "cpu"
    assert kernel.variant == "vector"
    assert kernel.warnings == []
    assert kernel.scale == pytest.approx(0.125)
    assert kernel.shape == SHAPE and kernel.dtype == "f32" and not kernel.causal
    assert kernel.mask is mask
    assert len(kernel.cache_key) >= 16
    assert "cpu" in repr(kernel)


def test_second_compile_is_a_memory_hit(mask):
    first = sieve.compile(mask, **SHAPE, dtype="f32", causal=False, device="cpu")
    again = sieve.compile(mask, **SHAPE, dtype="f32", causal=False, device="cpu")
    assert again.source == "memory"
    assert again.cache_key == first.cache_key
    other = sieve.compile(mask, **SHAPE, dtype="f32", causal=True, device="cpu")
    assert other.cache_key != first.cache_key


def test_equal_masks_share_kernels(mask):
    copy = sieve.BlockMask.from_bits(mask.heads, mask.query_blocks, mask.key_blocks,
                                     mask.block_q, mask.block_k, mask.bits)
    a = sieve.compile(mask, **SHAPE, dtype="f32", device="cpu")
    b = sieve.compile(copy, **SHAPE, dtype="f32", device="cpu")
    assert a.cache_key == b.cache_key


def test_attention_memoizes_kernels(mask):
    rng = np.random.default_rng(13)
    q, k, v = inputs(rng)
    sieve.attention(q, k, v, mask)
    size = len(_attention._memo)
    for _ in range(3):
        sieve.attention(q, k, v, mask)
        sieve.attention(q.transpose(0, 1, 2, 3).copy(), k, v, mask)
    assert len(_attention._memo) == size
    sieve.attention(q, k, v, mask, causal=True)
    assert len(_attention._memo) == size + 1


def test_auto_device_without_gpu_is_cpu(mask):
    """On a machine without a GPU (CI), "auto" resolves to the CPU."""
    session = sieve.session("auto")
    if session.backend == "cuda":
        pytest.skip("a GPU is present")
    assert session.device == "cpu" and session.device_name == "host CPU"
    kernel = sieve.compile(mask, **SHAPE, dtype="f32")
    assert kernel.backend == "cpu"


def test_cuda_without_gpu_is_no_gpu_error(mask):
    if sieve.session("auto").backend == "cuda":
        pytest.skip("a GPU is present")
    with pytest.raises(sieve.NoGpuError, match="CUDA backend was requested"):
        sieve.compile(mask, **SHAPE, dtype="bf16", device="cuda")


@pytest.mark.parametrize("seq_q", [1, 5])
def test_decode_packs_gqa_unless_told_off(seq_q):
    # 8 query heads over 2 key heads, a few queries against a longer cache:
    # auto packs each key head's query heads into one tile's rows; both
    # kernels agree with the float64 reference, empty head included.
    heads_q, heads_kv, seq_k, d = 8, 2, 300, 32
    tiles = sieve.BlockMask.random(heads_q, 1, 5, 64, 64, 0.5, seed=31).to_numpy()
    tiles[heads_q - 1] = False
    mask = sieve.BlockMask(tiles, 64, 64)
    shape = dict(batch=2, heads_q=heads_q, heads_kv=heads_kv, seq_q=seq_q, seq_k=seq_k,
                 head_dim=d)
    rng = np.random.default_rng(32)
    q = rng.standard_normal((2, heads_q, seq_q, d)).astype(np.float32)
    k = rng.standard_normal((2, heads_kv, seq_k, d)).astype(np.float32)
    v = rng.standard_normal(k.shape).astype(np.float32)
    want = reference.attention(q, k, v, mask, causal="bottom_right")
    for pack in ("auto", "off"):
        kernel = sieve.compile(mask, **shape, dtype="float32", causal="bottom_right",
                               device="cpu", pack_gqa=pack)
        assert ("pack-gqa" in kernel.config) == (pack == "auto"), kernel.config
        out = np.full(q.shape, np.nan, dtype=np.float32)
        kernel(q, k, v, out=out)
        assert reference.relative_error(out, want) < 1e-5
        assert np.all(out[:, heads_q - 1] == 0)


def test_pack_gqa_takes_auto_or_off(mask):
    with pytest.raises(sieve.InvalidArgumentError, match="pack-gqa must be auto, on or off, got 'yes'"):
        sieve.compile(mask, **SHAPE, dtype="float32", device="cpu", pack_gqa="yes")
