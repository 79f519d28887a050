#!/usr/bin/env python3
"""What the PyTorch ops add to a sieve call's host time (issue 23 point 3:
host work in the Python op; issue 22 point 3: a generation step measured
from Python).

Each case runs the same compiled kernel on the same tensors two ways:

  kernel   the sieve.Kernel object, with its outputs allocated beforehand
  op       torch.ops.sieve.*, which allocates its outputs, finds the
           kernel for the tensors' shapes and goes through the dispatcher

and reports the median per-call wall time of each and their difference,
the ops' cost. Rounds of the two alternate, so drift on a shared machine
hits both alike. On a GPU no call synchronizes inside a round (the queue
is drained between rounds, outside the timing): the time is what the
calling thread pays. On the CPU the kernel's own work is in both numbers
and cancels in the difference, so the cases are small.

Cases:
  inference   torch.ops.sieve.attention (no gradient) / kernel(q, k, v, out=)
  generate    torch.ops.sieve.attention_generate / kernel(..., q_pos=)
  training    torch.ops.sieve.attention forward and torch.autograd.grad
              through it / the forward_lse and backward kernels in turn

usage: op_host_cost.py [--calls N] [--rounds R] [--json OUT]
"""
import argparse
import statistics
import sys
import time

import numpy as np
import torch

import sieve
import sieve.torch_op

import jsonfile


def median_us(cases, calls, rounds, cuda):
    """{name: median over rounds of the per-call wall time in us}, the
    cases' rounds interleaved."""
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(calls):
                call()
            times[name].append((time.perf_counter() - t0) / calls * 1e6)
    if cuda:
        torch.cuda.synchronize()
    return {name: statistics.median(values) for name, values in times.items()}


def random_mask(heads, qb, kb, block, causal, seed=0):
    tiles = np.random.default_rng(seed).random((heads, qb, kb)) < 0.5
    tiles[:, np.arange(qb), np.arange(qb) * kb // qb] = True  # the diagonal
    if causal:
        tiles &= np.tril(np.ones((qb, kb), bool))[None]
    return sieve.BlockMask(tiles, block, block)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--json")
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    if not cuda:
        torch.set_num_threads(1)
    gen = torch.Generator(device=device).manual_seed(0)

    def tensor(*shape):
        return torch.randn(*shape, device=device, dtype=dtype, generator=gen)

    # A small causal problem (the short-length training regime of issue 23);
    # on the CPU a tiny one, so that the kernel's own time and its noise
    # stay small beside the host work measured.
    batch, heads, seq, head_dim, block = (4, 8, 512, 64, 64) if cuda else (1, 1, 64, 32, 32)
    mask = random_mask(heads, seq // block, seq // block, block, causal=True)
    handle = sieve.torch_op.register_mask(mask)
    q, k, v = tensor(batch, heads, seq, head_dim), tensor(batch, heads, seq, head_dim), \
        tensor(batch, heads, seq, head_dim)
    shape = dict(batch=batch, heads_q=heads, heads_kv=heads, seq_q=seq, seq_k=seq,
                 head_dim=head_dim, dtype=dtype, causal=True, device=device)
    forward = sieve.compile(mask, **shape)
    forward_lse = sieve.compile(mask, **shape, save_lse=True)
    backward = sieve.compile(mask, **shape, backward=True)
    out, lse = torch.empty_like(q), torch.empty(batch, heads, seq, device=device)
    dout = tensor(batch, heads, seq, head_dim)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))

    def train_by_kernel():
        forward_lse(q, k, v, out=out, lse=lse)
        backward.backward(q, k, v, out, dout, lse, dq=dq, dk=dk, dv=dv)

    def train_by_op():
        # autograd.grad: the gradients returned, as the kernels return them
        # (.backward() would add each into .grad as well).
        out = torch.ops.sieve.attention(qg, kg, vg, handle, True)
        torch.autograd.grad(out, (qg, kg, vg), dout)

    # One decode step against a cache (GQA 4:1, a causal mask over positions).
    positions, heads_kv = (4096, 2) if cuda else (128, 1)
    step_mask = random_mask(heads, positions // block, positions // block, block, causal=True)
    step_handle = sieve.torch_op.register_mask(step_mask)
    step = sieve.compile(step_mask, batch=1, heads_q=heads, heads_kv=heads_kv, seq_q=1,
                         seq_k=positions, head_dim=head_dim, dtype=dtype, causal=True,
                         generation=True, device=device)
    q1 = tensor(1, heads, 1, head_dim)
    k_cache, v_cache = tensor(1, heads_kv, positions, head_dim), \
        tensor(1, heads_kv, positions, head_dim)
    out1 = torch.empty_like(q1)
    q_pos = positions - 1

    pairs = {
        "inference": (lambda: forward(q, k, v, out=out),
                      lambda: torch.ops.sieve.attention(q, k, v, handle, True)),
        "generate": (lambda: step(q1, k_cache, v_cache, out=out1, q_pos=q_pos),
                     lambda: torch.ops.sieve.attention_generate(q1, k_cache, v_cache, step_handle,
                                                                q_pos)),
        "training": (train_by_kernel, train_by_op),
    }
    result = {"device": torch.cuda.get_device_name() if cuda else "cpu",
              "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__,
              "calls": args.calls, "rounds": args.rounds, "us_per_call": {}}
    for name, (by_kernel, by_op) in pairs.items():
        by_kernel(), by_op()  # load the modules, fill the memos
        us = median_us({"kernel": by_kernel, "op": by_op}, args.calls, args.rounds, cuda)
        us["op_cost"] = us["op"] - us["kernel"]
        result["us_per_call"][name] = us
        print(f"{name:10s} kernel {us['kernel']:8.2f} us   op {us['op']:8.2f} us   "
              f"op cost {us['op_cost']:7.2f} us", flush=True)
    if args.json:
        jsonfile.write_atomically(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
