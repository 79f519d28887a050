#!/usr/bin/env python3
"""Per-step host cost of a generation kernel from Python (issue 22 point 3:
under 10 us from C++, measured from Python too; bench/GenerationGpuBench.cpp
is the C++ side).

One generation kernel (docs/generation.md) compiled for a cache of M
positions, launched per decode step with the step's q_pos. Host time per
step is the wall time of a loop of launches with no synchronization inside
(the GPU queue is drained between rounds, outside the timing), divided by
the steps: what a decoder's Python thread pays per layer and step. Three
entry points:

  kernel       sieve.compile(..., generation=True)(q, k, v, out=out, q_pos=p)
  torch_op     torch.ops.sieve.attention_generate(q, k, v, handle, p): the
               op allocates its output and goes through the dispatcher
  latency      torch_op then torch.cuda.synchronize(): a step to completion

Shape: B = 1, Hq = 32, Hkv = 8, D = 128, Sq = 1, 64 x 128 blocks, a causal
position mask of density 0.5 (bench's decode shape), bf16 on a GPU; on the
CPU (a smoke run) float32 and M = 1024.

usage: generation_step.py [--positions M] [--steps N] [--rounds R] [--json OUT]
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

import sieve
import sieve.torch_op

import jsonfile


def position_mask(heads, positions, block_q, block_k, seed=0):
    rng = np.random.default_rng(seed)
    qb, kb = -(-positions // block_q), -(-positions // block_k)
    tiles = rng.random((heads, qb, kb)) < 0.5
    rows = np.arange(qb)[:, None] * block_q
    causal = np.arange(kb)[None, :] * block_k <= rows + block_q - 1
    tiles &= causal[None]
    tiles[:, np.arange(qb), (np.arange(qb) * block_q) // block_k] = True  # the diagonal
    return sieve.BlockMask(tiles, block_q, block_k)


def host_us_per_step(launch, steps, rounds, cuda):
    """Median over rounds of (wall time of `steps` launches) / steps, in us."""
    per_round = []
    for _ in range(rounds):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(steps):
            launch(i)
        per_round.append((time.perf_counter() - t0) / steps * 1e6)
    if cuda:
        torch.cuda.synchronize()
    return statistics.median(per_round)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--positions", type=int, default=0, help="M (default 4096 GPU, 1024 CPU)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--json")
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    positions = args.positions or (4096 if cuda else 1024)
    heads_q, heads_kv, head_dim = 32, 8, 128
    mask = position_mask(heads_q, positions, 64, 128)
    kernel = sieve.compile(mask, batch=1, heads_q=heads_q, heads_kv=heads_kv, seq_q=1,
                           seq_k=positions, head_dim=head_dim, dtype=dtype, causal=True,
                           generation=True, device=device)
    handle = sieve.torch_op.register_mask(mask)
    gen = torch.Generator(device=device).manual_seed(0)
    q = torch.randn(1, heads_q, 1, head_dim, device=device, dtype=dtype, generator=gen)
    k = torch.randn(1, heads_kv, positions, head_dim, device=device, dtype=dtype, generator=gen)
    v = torch.randn(1, heads_kv, positions, head_dim, device=device, dtype=dtype, generator=gen)
    out = torch.empty_like(q)
    first = positions // 2
    span = positions - first

    def by_kernel(i):
        kernel(q, k, v, out=out, q_pos=first + i % span)

    def by_op(i):
        torch.ops.sieve.attention_generate(q, k, v, handle, first + i % span)

    def to_completion(i):
        torch.ops.sieve.attention_generate(q, k, v, handle, first + i % span)
        if cuda:
            torch.cuda.synchronize()

    for fn in (by_kernel, by_op):  # load the module, warm the caches
        fn(0)
    result = {"device": torch.cuda.get_device_name() if cuda else "cpu",
              "dtype": str(dtype).replace("torch.", ""), "positions": positions,
              "variant": kernel.variant if hasattr(kernel, "variant") else None,
              "steps": args.steps, "rounds": args.rounds,
              "host_us_per_step": {
                  "kernel": host_us_per_step(by_kernel, args.steps, args.rounds, cuda),
                  "torch_op": host_us_per_step(by_op, args.steps, args.rounds, cuda)},
              "latency_us_per_step": host_us_per_step(to_completion, args.steps // 4 or 1,
                                                      args.rounds, cuda)}
    print(json.dumps(result, indent=1))
    if args.json:
        jsonfile.write_atomically(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
