"""The calibration statistic of the language-model experiment: per head,
query block and key block, the causal softmax probabilities of one
attention call summed over the block's rows and keys and over the batch,
as f32 [H, QB, KB]. Every row's probabilities sum to 1, so a head's tiles
total batch x seq. Two engines compute it: PyTorch, and sieve's
calibration kernel (which adds exactly this into a zeroed stats table)."""
import numpy as np
import torch


def torch_tile_mass(q, k, block):
    """The statistic for q, k [B, H, S, D] (S a multiple of `block`), in f32."""
    batch, heads, seq, dim = q.shape
    nb = seq // block
    causal = torch.ones(seq, seq, dtype=torch.bool, device=q.device).tril()
    out = torch.zeros(heads, nb, nb, dtype=torch.float32, device=q.device)
    for b in range(batch):  # one batch entry at a time bounds the [H, S, S] memory
        scores = (q[b].float() @ k[b].float().transpose(-1, -2)) * dim ** -0.5
        probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        out += probs.view(heads, nb, block, nb, block).sum((2, 4))
    return out


class SieveTileMass:
    """The statistic from sieve's calibration kernel: every tile kept,
    causal, compiled once per batch size (the shapes of one run are fixed).

        kernel = sieve.compile(mask, ..., causal=True, calibrate=True)
        kernel(q, k, v, out=out, stats=stats)   # adds into stats [H, QB, KB] f32
    """

    def __init__(self, heads, seq, block):
        import sieve

        self.sieve = sieve
        self.block = block
        nb = seq // block
        self.full = sieve.BlockMask(np.ones((heads, nb, nb), dtype=bool), block_q=block,
                                    block_k=block)
        self.kernels = {}

    def __call__(self, q, k, v):
        batch, heads, seq, dim = q.shape
        kernel = self.kernels.get(batch)
        if kernel is None:
            kernel = self.sieve.compile(self.full, batch=batch, heads_q=heads, heads_kv=heads,
                                        seq_q=seq, seq_k=seq, head_dim=dim, dtype=q.dtype,
                                        causal=True, device=str(q.device), calibrate=True)
            self.kernels[batch] = kernel
        nb = seq // self.block
        stats = torch.zeros(heads, nb, nb, dtype=torch.float32, device=q.device)
        kernel(q, k, v, out=torch.empty_like(q), stats=stats)
        return stats
