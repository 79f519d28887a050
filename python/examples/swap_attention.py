"""Swap sieve's custom op into a small PyTorch transformer.

A pre-norm transformer whose blocks take their attention core as a module
runs twice on the same input: once with F.scaled_dot_product_attention and
the block mask expanded to a boolean attn_mask, once with
sieve.torch_op.SieveAttention (torch.ops.sieve.attention). The outputs must
agree. On a GPU the model runs in bf16; without one, in float32 on sieve's
CPU backend.

    PYTHONPATH=build/python python3 python/examples/swap_attention.py [--compile]
"""

import argparse
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

import sieve
import sieve.torch_op


class SdpaAttention(nn.Module):
    """The dense baseline: SDPA with the same mask as a boolean attn_mask."""

    def __init__(self, mask, seq, causal):
        super().__init__()
        tiles = torch.from_numpy(mask.to_numpy())
        allowed = tiles.repeat_interleave(mask.block_q, 1).repeat_interleave(mask.block_k, 2)
        allowed = allowed[:, :seq, :seq]
        if causal:
            allowed = allowed & torch.ones(seq, seq, dtype=torch.bool).tril()
        self.register_buffer("allowed", allowed)

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=self.allowed)


class Block(nn.Module):
    """Pre-norm block; q, k and v reach the attention core as [B, H, S, D]
    views of the fused projection's [B, S, 3, H, D] output (no copies)."""

    def __init__(self, dim, heads, attention):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.attention = attention

    def forward(self, x):
        batch, seq, dim = x.shape
        qkv = self.qkv(self.norm1(x)).view(batch, seq, 3, self.heads, dim // self.heads)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
        attended = self.attention(q, k, v).transpose(1, 2).reshape(batch, seq, dim)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, dim, heads, depth, make_attention):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, make_attention()) for _ in range(depth))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="torch.compile(fullgraph=True)")
    parser.add_argument("--seq", type=int, default=512)
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if gpu else ("cpu", torch.float32)
    dim, heads, depth, block, seq, causal = 512, 8, 2, 64, args.seq, True
    blocks = -(-seq // block)
    mask = sieve.BlockMask.random(heads, blocks, blocks, block, block, density=0.3, seed=0,
                                  keep_diagonal=True)
    torch.manual_seed(0)
    dense = Transformer(dim, heads, depth, lambda: SdpaAttention(mask, seq, causal))
    dense = dense.to(device, dtype).eval()

    # The swap: same weights, each block's attention core replaced.
    sparse = copy.deepcopy(dense)
    for b in sparse.blocks:
        b.attention = sieve.torch_op.SieveAttention(mask, causal=causal)
    if args.compile:
        sparse = torch.compile(sparse, fullgraph=True)

    x = torch.randn(2, seq, dim, device=device, dtype=dtype)
    with torch.no_grad():
        want, got = dense(x).double(), sparse(x).double()
    error = ((got - want).norm() / want.norm()).item()
    tolerance = 2e-2 if gpu else 1e-4
    print(f"{device} {dtype}: {depth} blocks, {heads} heads, S={seq}, mask density "
          f"{mask.density:.2f}{', compiled' if args.compile else ''}: relative error {error:.2e} "
          f"against SDPA with the mask as attn_mask (tolerance {tolerance:.0e})")
    if not error < tolerance:
        raise SystemExit("FAIL")
    print("PASS")


if __name__ == "__main__":
    main()
