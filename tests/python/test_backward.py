"""The training kernels through the Python binding on the CPU backend:
compile(save_lse=True) and compile(backward=True) against a float64 numpy
backward (tests/python/reference.py), on fresh random inputs with outputs
poisoned with NaN: causal and not, GQA, BSHD views, an empty row and an
empty head; and the errors of the new entry points."""

import numpy as np
import pytest

import sieve
from reference import attention_backward, relative_error


def random_mask(rng, heads, seq_q, seq_k, block_q, block_k):
    tiles = rng.random((heads, -(-seq_q // block_q), -(-seq_k // block_k))) < 0.6
    for h in range(heads):
        np.fill_diagonal(tiles[h], True)
    tiles[0, 1] = False  # an empty row
    tiles[-1] = False  # an empty head
    return sieve.BlockMask(tiles, block_q, block_k)


@pytest.mark.parametrize("causal,sq,sk", [(False, 40, 40), (True, 40, 40),
                                          ("bottom_right", 24, 70), ("bottom_right", 56, 40)])
@pytest.mark.parametrize("bshd", [False, True])
def test_gradients_match_float64(causal, sq, sk, bshd):
    rng = np.random.default_rng()
    b, hq, hkv, d, bq, bk = 2, 4, 2, 16, 8, 16
    mask = random_mask(rng, hq, sq, sk, bq, bk)

    def tensor(heads, seq):
        if bshd:
            return rng.standard_normal((b, seq, heads, d), dtype=np.float32).transpose(0, 2, 1, 3)
        return rng.standard_normal((b, heads, seq, d), dtype=np.float32)

    q, k, v, dout = tensor(hq, sq), tensor(hkv, sk), tensor(hkv, sk), tensor(hq, sq)
    shape = dict(batch=b, heads_q=hq, heads_kv=hkv, seq_q=sq, seq_k=sk, head_dim=d, dtype="f32",
                 causal=causal, device="cpu")
    forward = sieve.compile(mask, save_lse=True, **shape)
    backward = sieve.compile(mask, backward=True, **shape)
    assert forward.kind == "forward_lse" and backward.kind == "backward"
    out = np.full(q.shape, np.nan, np.float32)
    lse = np.full((b, hq, sq), np.nan, np.float32)
    forward(q, k, v, out=out, lse=lse)
    dq, dk, dv = (np.full(t.shape, np.nan, np.float32) for t in (q, k, k))
    assert backward.backward(q, k, v, out, dout, lse, dq=dq, dk=dk, dv=dv) == (dq, dk, dv)
    want_dq, want_dk, want_dv, want_lse = attention_backward(q, k, v, dout, mask, causal)
    for got, want in ((dq, want_dq), (dk, want_dk), (dv, want_dv)):
        assert not np.isnan(got).any()
        assert relative_error(got, want) < 1e-5
    assert np.array_equal(np.isinf(lse), np.isinf(want_lse))
    finite = np.isfinite(want_lse)
    assert np.allclose(lse[finite], want_lse[finite], rtol=1e-5, atol=1e-5)


def test_entry_points_name_the_problem():
    mask = sieve.BlockMask(np.ones((1, 2, 2), bool), 8, 8)
    shape = dict(batch=1, heads_q=1, heads_kv=1, seq_q=16, seq_k=16, head_dim=8, dtype="f32",
                 device="cpu")
    with pytest.raises(sieve.InvalidArgumentError, match="at most one"):
        sieve.compile(mask, save_lse=True, backward=True, **shape)
    forward = sieve.compile(mask, save_lse=True, **shape)
    backward = sieve.compile(mask, backward=True, **shape)
    q = np.ones((1, 1, 16, 8), np.float32)
    with pytest.raises(sieve.InvalidArgumentError, match="save_lse"):
        forward(q, q, q)  # no lse
    with pytest.raises(sieve.ShapeMismatchError, match="lse has shape"):
        forward(q, q, q, lse=np.zeros((1, 1, 15), np.float32))
    with pytest.raises(sieve.DTypeMismatchError, match="lse is float64"):
        forward(q, q, q, lse=np.zeros((1, 1, 16)))
    with pytest.raises(sieve.InvalidArgumentError, match="backward"):
        backward(q, q, q)
    lse = np.zeros((1, 1, 16), np.float32)
    with pytest.raises(sieve.ShapeMismatchError, match="'dk'"):
        backward.backward(q, q, q, q, q, lse, dk=np.zeros((1, 1, 16, 4), np.float32))
    plain = sieve.compile(mask, **shape)
    with pytest.raises(sieve.InvalidArgumentError, match="backward=True"):
        plain.backward(q, q, q, q, q, lse)


def test_gradients_match_finite_differences_of_the_forward_kernel():
    """Central differences of the CPU forward kernel's loss sum(dout * out)
    against the backward kernel, on sampled elements of q, k and v (GQA,
    causal, an empty row): the backward is the derivative of what the
    forward computes, not only of the reference."""
    rng = np.random.default_rng()
    b, hq, hkv, s, d, block = 1, 2, 1, 24, 8, 8
    mask = random_mask(rng, hq + 1, s, s, block, block)  # the last (empty) head is dropped
    mask = sieve.BlockMask(mask.to_numpy()[:hq], block, block)
    shape = dict(batch=b, heads_q=hq, heads_kv=hkv, seq_q=s, seq_k=s, head_dim=d, dtype="f32",
                 causal=True, device="cpu")
    forward = sieve.compile(mask, save_lse=True, **shape)
    backward = sieve.compile(mask, backward=True, **shape)
    q = rng.standard_normal((b, hq, s, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, s, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, s, d)).astype(np.float32)
    dout = rng.standard_normal((b, hq, s, d)).astype(np.float32)
    lse = np.empty((b, hq, s), np.float32)
    out = forward(q, k, v, lse=lse)
    grads = dict(zip("qkv", backward.backward(q, k, v, out, dout, lse)))

    def loss(q, k, v):
        return float((dout.astype(np.float64) * forward(q, k, v, lse=lse)).sum())

    step = 1e-2
    for name, x in (("q", q), ("k", k), ("v", v)):
        for flat in rng.choice(x.size, 12, replace=False):
            index = np.unravel_index(flat, x.shape)
            plus, minus = x.copy(), x.copy()
            plus[index] += step
            minus[index] -= step
            args = {"q": q, "k": k, "v": v}
            numeric = (loss(**{**args, name: plus}) - loss(**{**args, name: minus})) / (2 * step)
            analytic = float(grads[name][index])
            # f32 forward values: the differences carry ~1e-5 / step of noise
            assert abs(numeric - analytic) <= 2e-3 + 1e-2 * abs(analytic), (name, index,
                                                                            numeric, analytic)
