"""Ragged batches and paged KV (docs/ragged-paged.md): one kernel serves
sequences of different lengths packed as varlen kernels take them
([total, heads, head_dim] with cu_seqlens), each matching the float64
reference of the sequence alone under the mask cropped to its lengths; a
paged kernel reading the same keys from shuffled pages gives the same bits.
Bad layouts are refused by name."""

import numpy as np
import pytest

import reference
import sieve

HQ, HKV, D, BQ, BK = 4, 2, 16, 8, 8
SEQ_Q, SEQ_K = 32, 48
# (queries, keys) per sequence: off the blocks, empty, one, full, no keys.
LENGTHS = [(13, 37), (0, 9), (1, 1), (32, 48), (7, 0), (20, 11)]


@pytest.fixture(scope="module")
def mask():
    return sieve.BlockMask.random(HQ, SEQ_Q // BQ, SEQ_K // BK, BQ, BK, 0.6, seed=11)


def _offsets(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)


def _compile(mask, causal, page_size=0):
    return sieve.compile(mask, batch=len(LENGTHS), heads_q=HQ, heads_kv=HKV, seq_q=SEQ_Q,
                         seq_k=SEQ_K, head_dim=D, dtype="float32", causal=causal, device="cpu",
                         ragged=True, page_size=page_size)


def _inputs(rng):
    cu_q, cu_k = _offsets([q for q, _ in LENGTHS]), _offsets([k for _, k in LENGTHS])
    q = rng.standard_normal((cu_q[-1], HQ, D)).astype(np.float32)
    k = rng.standard_normal((cu_k[-1], HKV, D)).astype(np.float32)
    v = rng.standard_normal((cu_k[-1], HKV, D)).astype(np.float32)
    return q, k, v, cu_q, cu_k


def _want(q, k, v, cu_q, cu_k, mask, causal):
    """Each sequence alone: BHSD of batch 1 through the dense reference,
    whose mask expansion crops the mask to the sequence's lengths."""
    want = np.zeros(q.shape)
    for b in range(len(LENGTHS)):
        qs, ks = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
        if cu_q[b] == cu_q[b + 1] or cu_k[b] == cu_k[b + 1]:
            continue  # no rows, or rows without keys: zeros
        bhsd = [np.ascontiguousarray(t[s].transpose(1, 0, 2))[None]
                for t, s in ((q, qs), (k, ks), (v, ks))]
        want[qs] = reference.attention(*bhsd, mask, causal=causal)[0].transpose(1, 0, 2)
    return want


@pytest.mark.parametrize("causal", [False, True, "bottom_right"])
def test_ragged_matches_each_sequence(mask, causal):
    kernel = _compile(mask, causal)
    assert kernel.ragged and kernel.page_size == 0
    q, k, v, cu_q, cu_k = _inputs(np.random.default_rng())
    out = np.full_like(q, np.nan)
    assert kernel(q, k, v, out=out, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k) is out
    want = _want(q, k, v, cu_q, cu_k, mask, causal)
    assert np.isfinite(out).all()
    assert reference.relative_error(out, want) < 1e-5


def test_paged_equals_contiguous(mask):
    rng = np.random.default_rng()
    q, k, v, cu_q, cu_k = _inputs(rng)
    contiguous = _compile(mask, "bottom_right")(q, k, v, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
    page = 16
    kernel = _compile(mask, "bottom_right", page_size=page)
    assert kernel.page_size == page
    columns = -(-SEQ_K // page)
    needed = [-(-length // page) for _, length in LENGTHS]
    order = rng.permutation(sum(needed) + 3).astype(np.int32)
    k_pool = np.full((len(order), page, HKV, D), np.nan, dtype=np.float32)
    v_pool = np.full_like(k_pool, np.nan)
    table = np.full((len(LENGTHS), columns), 1 << 30, dtype=np.int32)  # unread past the keys
    at = 0
    for b, pages in enumerate(needed):
        for p in range(pages):
            table[b, p] = order[at]
            at += 1
            rows = slice(cu_k[b] + p * page, min(cu_k[b] + (p + 1) * page, cu_k[b + 1]))
            count = rows.stop - rows.start
            k_pool[table[b, p], :count] = k[rows]
            v_pool[table[b, p], :count] = v[rows]
    out = kernel(q, k_pool, v_pool, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, page_table=table)
    np.testing.assert_array_equal(out, contiguous)
    assert reference.relative_error(out, _want(q, k, v, cu_q, cu_k, mask, "bottom_right")) < 1e-5


def test_bad_layouts_are_refused(mask):
    kernel = _compile(mask, False)
    q, k, v, cu_q, cu_k = _inputs(np.random.default_rng())
    with pytest.raises(sieve.InvalidArgumentError, match="cu_seqlens_q is not monotone"):
        bad = cu_q.copy()
        bad[2] = bad[1] - 1
        kernel(q, k, v, cu_seqlens_q=bad, cu_seqlens_k=cu_k)
    with pytest.raises(sieve.ShapeMismatchError, match="more than the kernel's seq_k"):
        longer = cu_k.copy()
        longer[1:] += SEQ_K
        kernel(q, np.concatenate([k, k]), np.concatenate([v, v]), cu_seqlens_q=cu_q,
               cu_seqlens_k=longer)
    with pytest.raises(sieve.InvalidArgumentError, match="cu_seqlens_k is missing"):
        kernel(q, k, v, cu_seqlens_q=cu_q)
    with pytest.raises(sieve.DTypeMismatchError, match="cu_seqlens_q is int64, expected int32"):
        kernel(q, k, v, cu_seqlens_q=cu_q.astype(np.int64), cu_seqlens_k=cu_k)
    with pytest.raises(sieve.ShapeMismatchError, match=r"expected 3 \(\[total_tokens, heads"):
        kernel(q[None], k, v, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
    paged = _compile(mask, False, page_size=16)
    pool = np.ones((2, 16, HKV, D), dtype=np.float32)
    table = np.zeros((len(LENGTHS), 3), dtype=np.int32)
    table[0, 2] = 2  # sequence 0's keys 32..36
    with pytest.raises(sieve.InvalidArgumentError,
                       match=r"page_table\[0\]\[2\] = 2 is outside the pool of 2 pages"):
        paged(q, pool, pool, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, page_table=table)
    with pytest.raises(sieve.InvalidArgumentError, match="not a multiple of the mask's block_k"):
        _compile(mask, False, page_size=12)
    plain = sieve.compile(mask, batch=1, heads_q=HQ, heads_kv=HKV, seq_q=SEQ_Q, seq_k=SEQ_K,
                          head_dim=D, dtype="float32", device="cpu")
    with pytest.raises(sieve.InvalidArgumentError, match="ragged=True or a page_size"):
        plain(np.ones((1, HQ, SEQ_Q, D), np.float32), np.ones((1, HKV, SEQ_K, D), np.float32),
              np.ones((1, HKV, SEQ_K, D), np.float32), cu_seqlens_q=cu_q)


def test_attention_varlen_one_call(mask):
    q, k, v, cu_q, cu_k = _inputs(np.random.default_rng())
    got = sieve.attention_varlen(q, k, v, cu_q, cu_k, mask, causal=True)
    assert reference.relative_error(got, _want(q, k, v, cu_q, cu_k, mask, True)) < 1e-5


def test_torch_op_varlen(mask):
    import torch

    import sieve.torch_op

    handle = sieve.torch_op.register_mask(mask)
    q, k, v, cu_q, cu_k = _inputs(np.random.default_rng())
    got = torch.ops.sieve.attention_varlen(torch.from_numpy(q), torch.from_numpy(k),
                                           torch.from_numpy(v), torch.from_numpy(cu_q),
                                           torch.from_numpy(cu_k), handle, True, None,
                                           "bottom_right")
    want = _want(q, k, v, cu_q, cu_k, mask, "bottom_right")
    assert reference.relative_error(got.numpy(), want) < 1e-5
