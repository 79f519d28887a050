"""Threshold mode through the Python binding on the CPU backend:
compile(thresholds=True) alone, with save_lse and with backward, and
sieve.attention(..., thresholds=theta), against the float64 numpy reference
with the same thresholds (tests/python/reference.py) on fresh random inputs
with outputs poisoned with NaN: causal and not, GQA, BSHD views, a head at
its median score, a head that drops every score (exact zeros, lse -inf), a
head that drops none and one that drops most. Then the errors, each naming
the argument."""

import numpy as np
import pytest

import sieve
from reference import attention, attention_backward, relative_error


def random_mask(rng, heads, seq_q, seq_k, block_q, block_k):
    tiles = rng.random((heads, -(-seq_q // block_q), -(-seq_k // block_k))) < 0.6
    for h in range(heads):
        np.fill_diagonal(tiles[h], True)
    return sieve.BlockMask(tiles, block_q, block_k)


def threshold_in_gap(q, k, head, quantile, scale):
    """A threshold near `quantile` of head `head`'s scores, halfway across
    the widest gap between neighbouring scores there: a score on the
    threshold could fall either side of it under f32 rounding."""
    group = q.shape[1] // k.shape[1]
    scores = np.einsum("bqd,bkd->bqk", q[:, head].astype(np.float64),
                       k[:, head // group].astype(np.float64)) * scale
    x = np.sort(scores.ravel())
    at = int(quantile * (x.size - 1))
    near = np.arange(max(at - 5, 0), min(at + 6, x.size - 1))
    best = near[np.argmax(x[near + 1] - x[near])]
    return 0.5 * (x[best] + x[best + 1])


def thresholds_for(q, k, scale):
    """[Hq] float32: head 0 at its median, head 1 +inf (drops every score),
    head 2 -inf (drops none), head 3 at its 0.9 quantile."""
    theta = np.array([threshold_in_gap(q, k, 0, 0.5, scale), np.inf, -np.inf,
                      threshold_in_gap(q, k, 3, 0.9, scale)], np.float32)
    return theta


def inputs(rng, b, hq, hkv, sq, sk, d, bshd):
    def tensor(heads, seq):
        if bshd:
            return rng.standard_normal((b, seq, heads, d), dtype=np.float32).transpose(0, 2, 1, 3)
        return rng.standard_normal((b, heads, seq, d), dtype=np.float32)

    return tensor(hq, sq), tensor(hkv, sk), tensor(hkv, sk), tensor(hq, sq)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("bshd", [False, True])
def test_forward_lse_and_gradients_match_float64(causal, bshd):
    rng = np.random.default_rng()
    b, hq, hkv, sq, sk, d, bq, bk = 2, 4, 2, 40, 56, 16, 8, 16
    mask = random_mask(rng, hq, sq, sk, bq, bk)
    q, k, v, dout = inputs(rng, b, hq, hkv, sq, sk, d, bshd)
    theta = thresholds_for(q, k, 1 / np.sqrt(d))
    shape = dict(batch=b, heads_q=hq, heads_kv=hkv, seq_q=sq, seq_k=sk, head_dim=d, dtype="f32",
                 causal=causal, device="cpu")
    plain = sieve.compile(mask, thresholds=True, **shape)
    forward = sieve.compile(mask, save_lse=True, thresholds=True, **shape)
    backward = sieve.compile(mask, backward=True, thresholds=True, **shape)
    assert plain.thresholds and forward.thresholds and backward.thresholds
    assert forward.kind == "forward_lse" and backward.kind == "backward"

    want_out = attention(q, k, v, mask, causal, thresholds=theta)
    out = np.full(q.shape, np.nan, np.float32)
    assert plain(q, k, v, out=out, thresholds=theta) is out
    assert relative_error(out, want_out) < 1e-5
    assert np.all(out[:, 1] == 0), "head 1 dropped every score"

    out = np.full(q.shape, np.nan, np.float32)
    lse = np.full((b, hq, sq), np.nan, np.float32)
    forward(q, k, v, out=out, lse=lse, thresholds=theta)
    dq, dk, dv = (np.full(t.shape, np.nan, np.float32) for t in (q, k, k))
    assert backward.backward(q, k, v, out, dout, lse, dq=dq, dk=dk, dv=dv,
                             thresholds=theta) == (dq, dk, dv)
    want_dq, want_dk, want_dv, want_lse = attention_backward(q, k, v, dout, mask, causal,
                                                             thresholds=theta)
    assert relative_error(out, want_out) < 1e-5
    assert np.array_equal(np.isinf(lse), np.isinf(want_lse))
    assert np.all(np.isneginf(lse[:, 1]))
    finite = np.isfinite(want_lse)
    assert np.allclose(lse[finite], want_lse[finite], rtol=1e-5, atol=1e-5)
    for got, want in ((dq, want_dq), (dk, want_dk), (dv, want_dv)):
        assert not np.isnan(got).any()
        assert relative_error(got, want) < 1e-5
    assert np.all(dq[:, 1] == 0), "no gradient reaches the all-dropped head"
    # The thresholds matter: the plain attention's gradients are far off.
    plain_dq = attention_backward(q, k, v, dout, mask, causal)[0]
    assert relative_error(dq, plain_dq) > 1e-2


def test_sieve_attention_takes_thresholds():
    rng = np.random.default_rng()
    b, hq, hkv, s, d, block = 1, 4, 4, 32, 8, 8
    mask = random_mask(rng, hq, s, s, block, block)
    q, k, v, _ = inputs(rng, b, hq, hkv, s, s, d, False)
    theta = thresholds_for(q, k, 1 / np.sqrt(d))
    out = np.full(q.shape, np.nan, np.float32)
    sieve.attention(q, k, v, mask, out=out, thresholds=theta)
    assert relative_error(out, attention(q, k, v, mask, thresholds=theta)) < 1e-5
    # The same problem without thresholds is the plain kernel, and differs.
    plain = sieve.attention(q, k, v, mask)
    assert relative_error(plain, attention(q, k, v, mask)) < 1e-5
    assert relative_error(plain, out) > 1e-2


def test_threshold_errors_name_the_argument():
    mask = sieve.BlockMask(np.ones((2, 2, 2), bool), 8, 8)
    shape = dict(batch=1, heads_q=2, heads_kv=2, seq_q=16, seq_k=16, head_dim=8, dtype="f32",
                 device="cpu")
    kernel = sieve.compile(mask, thresholds=True, **shape)
    plain = sieve.compile(mask, **shape)
    backward = sieve.compile(mask, backward=True, thresholds=True, **shape)
    q = np.ones((1, 2, 16, 8), np.float32)
    theta = np.zeros(2, np.float32)
    lse = np.zeros((1, 2, 16), np.float32)
    with pytest.raises(sieve.InvalidArgumentError, match="thresholds .* is missing"):
        kernel(q, q, q)
    with pytest.raises(sieve.InvalidArgumentError, match="thresholds .* is missing"):
        backward.backward(q, q, q, q, q, lse)
    with pytest.raises(sieve.InvalidArgumentError,
                       match="thresholds given to a kernel compiled without thresholds=True"):
        plain(q, q, q, thresholds=theta)
    with pytest.raises(sieve.ShapeMismatchError, match=r"thresholds has shape \[3\], expected \[2\]"):
        kernel(q, q, q, thresholds=np.zeros(3, np.float32))
    with pytest.raises(sieve.DTypeMismatchError, match="thresholds is float64, expected float32"):
        kernel(q, q, q, thresholds=np.zeros(2))
    with pytest.raises(sieve.InvalidArgumentError, match="thresholds must be contiguous"):
        kernel(q, q, q, thresholds=np.zeros(4, np.float32)[::2])
    with pytest.raises(TypeError, match="thresholds is a list"):
        kernel(q, q, q, thresholds=[0.0, 0.0])
    with pytest.raises(sieve.InvalidArgumentError, match="thresholds must be True or False"):
        sieve.compile(mask, thresholds="yes", **shape)
    with pytest.raises(sieve.InvalidArgumentError, match="exclude"):
        sieve.compile(mask, calibrate=True, thresholds=True, **shape)
