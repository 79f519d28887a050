"""Measured attention time of the language model's layers: each layer's
q, k, v from one batch of validation windows (captured through the
model's observer), then the sieve kernel under a mask (and thresholds)
against the same kernel under the full causal mask, summed over layers.
Medians of repeated runs; CUDA events on the GPU, the wall clock on the
CPU (where sieve runs its CPU backend)."""
import statistics
import time

import numpy as np
import torch


@torch.no_grad()
def capture_qkv(model, x, autocast):
    """[(q, k, v)] per layer for the token batch x, as the attention sees
    them (bf16 under the GPU's autocast)."""
    captured = {}

    def observe(layer, q, k, v):
        captured[layer] = (q.contiguous(), k.contiguous(), v.contiguous())

    model.eval()
    model.set_observer(observe)
    try:
        with autocast():
            model(x)
    finally:
        model.set_observer(None)
    return [captured[i] for i in sorted(captured)]


def seconds(fn, device):
    """The time of one fn(): CUDA events on the GPU, the wall clock on the
    CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_seconds(fn, device, repeats=10, warmup=2):
    """The median time of fn() over `repeats` runs after `warmup`."""
    for _ in range(warmup):
        fn()
    return statistics.median(seconds(fn, device) for _ in range(repeats))


def sieve_layers_seconds(qkv, masks, block, thresholds=None, repeats=10):
    """Seconds for one forward of every layer's attention through sieve
    under masks[layer] ([H, QB, KB]), in threshold mode with
    thresholds[layer] when given; a kernel per distinct mask (an empty
    head is not launched)."""
    import sieve

    calls = []
    for i, (q, k, v) in enumerate(qkv):
        mask = sieve.BlockMask(np.ascontiguousarray(masks[i], dtype=bool), block_q=block,
                               block_k=block)
        theta = None
        if thresholds is not None:
            theta = torch.as_tensor(thresholds[i], dtype=torch.float32, device=q.device)
        out = torch.empty_like(q)
        calls.append((q, k, v, mask, theta, out))

    def run():
        for q, k, v, mask, theta, out in calls:
            sieve.attention(q, k, v, mask, causal=True, out=out, thresholds=theta)

    return median_seconds(run, qkv[0][0].device, repeats)


def sdpa_layers_seconds(qkv, repeats=10):
    """The same layers through PyTorch's SDPA, causal (the dense peer)."""
    def run():
        for q, k, v in qkv:
            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    return median_seconds(run, qkv[0][0].device, repeats)
