"""sieve.attention on the CPU backend against a float64 numpy reference:
BHSD arrays and BSHD views, GQA, Sq != Sk with partial tiles, causal, empty
heads. Outputs are poisoned with NaN first, so an unwritten element fails."""

import numpy as np
import pytest

import reference
import sieve

TOLERANCE = 1e-5  # f32 kernels against float64


def random_inputs(rng, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, bshd=False):
    """q, k, v in BHSD order; with `bshd` they are transposed views of
    [B, S, H, D] arrays (non-contiguous, as a framework hands them over)."""
    def make(heads, seq):
        if bshd:
            return rng.standard_normal((batch, seq, heads, head_dim)).astype(np.float32) \
                      .transpose(0, 2, 1, 3)
        return rng.standard_normal((batch, heads, seq, head_dim)).astype(np.float32)
    return make(heads_q, seq_q), make(heads_kv, seq_k), make(heads_kv, seq_k)


def poisoned_like(q):
    return np.full(q.shape, np.nan, dtype=np.float32)


CASES = [
    # name, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, block_q, block_k, density, causal
    ("dense", 1, 2, 2, 64, 64, 16, 16, 16, 1.0, False),
    ("sparse", 2, 4, 4, 128, 128, 32, 32, 32, 0.4, False),
    ("causal", 2, 2, 2, 128, 128, 32, 32, 32, 0.6, True),
    ("gqa", 1, 8, 2, 96, 96, 16, 32, 32, 0.5, False),
    ("mqa-causal", 2, 4, 1, 64, 64, 32, 16, 32, 0.7, True),
    ("sq-ne-sk", 1, 4, 2, 80, 200, 16, 32, 64, 0.5, False),  # partial last tiles
    ("sq-ne-sk-causal", 2, 2, 2, 100, 60, 16, 16, 16, 0.8, True),
    # Bottom-right: a KV cache's last queries (one query, a chunk), and more
    # queries than keys (the first Sq - Sk rows see no key: zeros).
    ("decode-bottom-right", 2, 4, 2, 1, 200, 16, 16, 32, 0.7, "bottom_right"),
    ("chunk-bottom-right", 1, 4, 1, 40, 150, 16, 16, 32, 0.7, "bottom_right"),
    ("more-queries-bottom-right", 2, 2, 2, 100, 60, 16, 16, 16, 0.8, "bottom_right"),
    ("top-left-spelled-out", 1, 2, 2, 40, 150, 16, 16, 32, 0.8, "top_left"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
def test_matches_reference(case, layout):
    _, batch, hq, hkv, sq, sk, d, bq, bk, density, causal = case
    rng = np.random.default_rng(hash(case[0]) % 2**32)
    mask = sieve.BlockMask.random(hq, -(-sq // bq), -(-sk // bk), bq, bk, density,
                                  seed=int(rng.integers(1 << 31)), keep_diagonal=True)
    q, k, v = random_inputs(rng, batch, hq, hkv, sq, sk, d, bshd=layout == "bshd")
    out = poisoned_like(q)
    got = sieve.attention(q, k, v, mask, causal=causal, out=out)
    assert got is out
    want = reference.attention(q, k, v, mask, causal=causal)
    assert not np.isnan(out).any()
    assert reference.relative_error(out, want) < TOLERANCE
    if causal == "bottom_right":  # the other alignment is another answer
        top_left = reference.attention(q, k, v, mask, causal=True)
        assert reference.relative_error(out, top_left) > 1e-2


def test_float16_on_the_cpu():
    """float16 arrays run on the CPU as well: widened to f32 on load,
    computed in f32, narrowed on store (within f16's rounding of the output)."""
    rng = np.random.default_rng(3)
    mask = sieve.BlockMask.random(4, 4, 4, 32, 32, 0.5, seed=5, keep_diagonal=True)
    q, k, v = (t.astype(np.float16) for t in random_inputs(rng, 1, 4, 2, 128, 128, 32))
    out = np.full(q.shape, np.nan, dtype=np.float16)
    sieve.attention(q, k, v, mask, causal=True, out=out)
    want = reference.attention(q, k, v, mask, causal=True)
    assert not np.isnan(out).any()
    assert reference.relative_error(out, want) < 4e-3


def test_empty_heads_and_rows_are_zero():
    rng = np.random.default_rng(1)
    tiles = rng.random((4, 4, 4)) < 0.5
    tiles[1] = False          # a pruned head
    tiles[2, 3] = False       # a query block with no kept key
    tiles[0] = True
    mask = sieve.BlockMask(tiles, block_q=16, block_k=16)
    q, k, v = random_inputs(rng, 2, 4, 4, 64, 64, 16)
    out = poisoned_like(q)
    sieve.attention(q, k, v, mask, out=out)
    assert np.all(out[:, 1] == 0)
    assert np.all(out[:, 2, 48:] == 0)
    assert reference.relative_error(out, reference.attention(q, k, v, mask)) < TOLERANCE


def test_all_empty_mask_gives_zeros():
    mask = sieve.BlockMask(np.zeros((2, 2, 2), dtype=bool), 32, 32)
    q, k, v = random_inputs(np.random.default_rng(2), 1, 2, 2, 64, 64, 16)
    out = poisoned_like(q)
    sieve.attention(q, k, v, mask, out=out)
    assert np.all(out == 0)


def test_scale():
    rng = np.random.default_rng(3)
    mask = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.7, seed=3)
    q, k, v = random_inputs(rng, 1, 2, 2, 64, 64, 16)
    out = sieve.attention(q, k, v, mask, scale=0.05)
    want = reference.attention(q, k, v, mask, scale=0.05)
    assert reference.relative_error(out, want) < TOLERANCE
    default = sieve.attention(q, k, v, mask)
    assert reference.relative_error(out, default) > 1e-3  # the scale did change something


def test_allocates_out_like_q():
    rng = np.random.default_rng(4)
    mask = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.5, seed=4)
    q, k, v = random_inputs(rng, 1, 2, 2, 64, 64, 16, bshd=True)
    out = sieve.attention(q, k, v, mask)
    assert isinstance(out, np.ndarray) and out.shape == q.shape and out.dtype == np.float32
    assert reference.relative_error(out, reference.attention(q, k, v, mask)) < TOLERANCE


def test_out_view_is_written_in_place():
    """out may be a strided view (BSHD storage): the kernel writes through
    it, no copy is made and returned instead."""
    rng = np.random.default_rng(5)
    mask = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.5, seed=5)
    q, k, v = random_inputs(rng, 2, 2, 2, 64, 64, 16)
    storage = np.full((2, 64, 2, 16), np.nan, dtype=np.float32)
    view = storage.transpose(0, 2, 1, 3)
    assert sieve.attention(q, k, v, mask, out=view) is view
    want = reference.attention(q, k, v, mask)
    assert reference.relative_error(storage.transpose(0, 2, 1, 3), want) < TOLERANCE


def test_head_dim_need_not_be_contiguous_on_cpu():
    """The CPU backend takes any non-negative strides, the head dimension's
    too (the GPU kernels need it contiguous)."""
    rng = np.random.default_rng(6)
    mask = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.5, seed=6)
    wide = rng.standard_normal((3, 1, 2, 64, 32)).astype(np.float32)
    q, k, v = (wide[i, ..., ::2] for i in range(3))  # head-dim stride 2
    assert q.strides[-1] == 8
    out = poisoned_like(q)
    sieve.attention(q, k, v, mask, out=out)
    assert reference.relative_error(out, reference.attention(q, k, v, mask)) < TOLERANCE


def test_read_only_and_broadcast_inputs():
    """Inputs are only read: read-only arrays, and k = v sharing memory
    with a zero batch stride, are accepted without copies."""
    rng = np.random.default_rng(7)
    mask = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.5, seed=7)
    q, k, _ = random_inputs(rng, 1, 2, 2, 64, 64, 16)
    q.setflags(write=False)
    kb = np.broadcast_to(k, (3, 2, 64, 16))  # stride 0 in the batch dimension
    qb = np.ascontiguousarray(np.broadcast_to(q, (3, 2, 64, 16)))
    out = sieve.attention(qb, kb, kb, mask)
    assert reference.relative_error(out, reference.attention(qb, kb, kb, mask)) < TOLERANCE
