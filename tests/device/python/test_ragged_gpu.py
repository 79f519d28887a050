"""Ragged batches and paged KV on the GPU from Python (docs/ragged-paged.md):
torch.ops.sieve.attention_varlen on CUDA tensors, with cu_seqlens and the
page table as CUDA tensors (the op copies them to the host for the
launch's checks) or as CPU tensors, each sequence compared with SDPA in
float64 on that sequence alone under the mask cropped to its lengths
(bottom-right causal by its own lengths); the output poisoned with NaN
first; a paged run equals the contiguous one bit for bit; the kernel API
wants the offsets in host memory and says so.

    PYTHONPATH=<package dir> python3 -m pytest -q tests/device/python/test_ragged_gpu.py
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_support import skip  # noqa: E402

import sieve  # noqa: E402
import sieve.torch_op  # noqa: E402

HQ, HKV, D, BQ, BK = 8, 2, 128, 64, 64
SEQ = 320
# (queries, keys): a chunk after a prefix, none, a decode row, fewer keys
# than queries, full, unaligned.
LENGTHS = [(100, 260), (0, 40), (1, 193), (50, 20), (320, 320), (77, 77)]
TOLERANCE = 2e-2


def _require_gpu():
    if not torch.cuda.is_available():
        skip("torch sees no CUDA device")


def _mask():
    blocks = -(-SEQ // BQ)
    mask = sieve.BlockMask.random(HQ, blocks, blocks, BQ, BK, 0.6, seed=5)
    tiles = mask.to_numpy().copy()
    tiles[HQ - 1] = False  # an empty head: zeros
    return sieve.BlockMask(tiles, BQ, BK)


def _offsets(lengths):
    return torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)


def _inputs(dtype):
    cu_q = _offsets([q for q, _ in LENGTHS])
    cu_k = _offsets([k for _, k in LENGTHS])
    g = torch.Generator(device="cuda").manual_seed(int.from_bytes(os.urandom(4), "little"))
    q = torch.randn(int(cu_q[-1]), HQ, D, device="cuda", dtype=dtype, generator=g)
    k = torch.randn(int(cu_k[-1]), HKV, D, device="cuda", dtype=dtype, generator=g)
    v = torch.randn(int(cu_k[-1]), HKV, D, device="cuda", dtype=dtype, generator=g)
    return q, k, v, cu_q, cu_k


def _want(q, k, v, cu_q, cu_k, mask):
    """Each sequence alone in float64: the tile mask cropped top-left to its
    lengths, bottom-right causal by its lengths; rows with no key: zeros."""
    tiles = torch.from_numpy(mask.to_numpy()).cuda()
    want = torch.zeros(q.shape, dtype=torch.float64, device="cuda")
    for b in range(len(LENGTHS)):
        q0, q1, k0, k1 = int(cu_q[b]), int(cu_q[b + 1]), int(cu_k[b]), int(cu_k[b + 1])
        lq, lk = q1 - q0, k1 - k0
        if lq == 0 or lk == 0:
            continue
        rows = torch.arange(lq, device="cuda")[:, None]
        cols = torch.arange(lk, device="cuda")[None, :]
        allowed = tiles[:, rows // BQ, cols // BK] & (cols <= rows + lk - lq)
        qs = q[q0:q1].transpose(0, 1).double()
        ks = k[k0:k1].transpose(0, 1).double().repeat_interleave(HQ // HKV, 0)
        vs = v[k0:k1].transpose(0, 1).double().repeat_interleave(HQ // HKV, 0)
        scores = (qs @ ks.transpose(1, 2)) / D**0.5
        scores = scores.masked_fill(~allowed, float("-inf"))
        p = torch.softmax(scores, -1).nan_to_num(0.0)
        want[q0:q1] = (p @ vs).transpose(0, 1)
    return want


def _pages(k, v, cu_k, page):
    """k and v on shuffled pages of `page` keys (NaN where no key lives),
    the page table's unused entries outside the pool."""
    needed = [-(-(int(cu_k[b + 1]) - int(cu_k[b])) // page) for b in range(len(LENGTHS))]
    order = torch.randperm(sum(needed) + 2).to(torch.int32)
    shape = (len(order), page, HKV, D)
    k_pool = torch.full(shape, float("nan"), device="cuda", dtype=k.dtype)
    v_pool = torch.full(shape, float("nan"), device="cuda", dtype=v.dtype)
    table = torch.full((len(LENGTHS), -(-SEQ // page)), 1 << 30, dtype=torch.int32)
    at = 0
    for b, pages in enumerate(needed):
        for p in range(pages):
            table[b, p] = order[at]
            at += 1
            start = int(cu_k[b]) + p * page
            stop = min(start + page, int(cu_k[b + 1]))
            k_pool[table[b, p], :stop - start] = k[start:stop]
            v_pool[table[b, p], :stop - start] = v[start:stop]
    return k_pool, v_pool, table


def test_varlen_op_matches_each_sequence():
    _require_gpu()
    mask = _mask()
    handle = sieve.torch_op.register_mask(mask)
    for dtype in (torch.bfloat16, torch.float16):
        q, k, v, cu_q, cu_k = _inputs(dtype)
        got = torch.ops.sieve.attention_varlen(q, k, v, cu_q.cuda(), cu_k.cuda(), handle, True,
                                               None, "bottom_right")
        want = _want(q, k, v, cu_q, cu_k, mask)
        error = (got.double() - want).abs().max().item()
        assert error < TOLERANCE, f"{dtype}: max error {error}"
        k_pool, v_pool, table = _pages(k, v, cu_k, 128)
        paged = torch.ops.sieve.attention_varlen(q, k_pool, v_pool, cu_q, cu_k, handle, True,
                                                 None, "bottom_right", table.cuda())
        assert torch.equal(paged, got), "the paged run differs from the contiguous one"


def test_kernel_call_poisoned_output_and_host_offsets():
    _require_gpu()
    mask = _mask()
    kernel = sieve.compile(mask, batch=len(LENGTHS), heads_q=HQ, heads_kv=HKV, seq_q=SEQ,
                           seq_k=SEQ, head_dim=D, dtype="bfloat16", causal="bottom_right",
                           device="cuda", ragged=True)
    assert kernel.variant == "mma"
    q, k, v, cu_q, cu_k = _inputs(torch.bfloat16)
    out = torch.full_like(q, float("nan"))
    kernel(q, k, v, out=out, cu_seqlens_q=cu_q.numpy(), cu_seqlens_k=cu_k.numpy())
    torch.cuda.synchronize()
    error = (out.double() - _want(q, k, v, cu_q, cu_k, mask)).abs().max().item()
    assert error < TOLERANCE, f"max error {error}"
    try:
        kernel(q, k, v, out=out, cu_seqlens_q=cu_q.cuda(), cu_seqlens_k=cu_k.numpy())
    except sieve.WrongDeviceError as e:
        assert "expected host memory" in str(e), e
    else:
        raise AssertionError("CUDA offsets given to the kernel call were not refused")


if __name__ == "__main__":
    test_varlen_op_matches_each_sequence()
    test_kernel_call_poisoned_output_and_host_offsets()
    print("ok")
