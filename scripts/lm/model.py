"""A small causal byte-level transformer language model whose attention is
pluggable per layer, for the attention-pruning experiment (train_lm.py).

Pre-LN blocks, learned positions, tied input and output embeddings. Each
block's attention core takes q, k, v as [B, H, S, D] (views of the fused
projection, not copies) and returns [B, H, S, D]:

  DenseAttention            SDPA with is_causal=True (pretraining, the dense reference)
  MaskedReferenceAttention  SDPA with the block mask expanded to elements AND the causal
                            mask: the reference for the sieve op (and what CPU tests run)
  SieveAttention            torch.ops.sieve.attention over the same block mask, optionally
                            in threshold mode (per-head theta, f32 [H])
  ThresholdAttention        (soft_threshold.py) learnable theta with the soft gate

A block can also call an observer with (layer, q, k, v) on every forward,
which is how calibration sees the attention inputs without a second model;
and the model can carry a HeadBudget (head_selection.py), whose gates
multiply each head's attention output.
"""
import dataclasses
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class ModelConfig:
    layers: int = 6
    d_model: int = 384
    heads: int = 6
    context: int = 1024
    vocab: int = 256
    dropout: float = 0.0

    @property
    def head_dim(self):
        return self.d_model // self.heads


class DenseAttention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def element_mask(tiles, block, seq):
    """The [H, seq, seq] bool mask a block mask and causality allow: tile
    (i, j) of head h covers rows i*block.. and keys j*block.. ."""
    allowed = torch.from_numpy(np.ascontiguousarray(tiles, dtype=bool))
    allowed = allowed.repeat_interleave(block, 1).repeat_interleave(block, 2)[:, :seq, :seq]
    return allowed & torch.ones(seq, seq, dtype=torch.bool).tril()


class MaskedReferenceAttention(nn.Module):
    """SDPA with an element mask. A row with no allowed key gives zeros, as
    sieve defines it (SDPA alone would give NaN there)."""

    def __init__(self, tiles, block, seq):
        super().__init__()
        allowed = element_mask(tiles, block, seq)
        has_key = allowed.any(-1, keepdim=True)
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("has_key", has_key, persistent=False)
        self.every_row_has_key = bool(has_key.all())  # decided once: no sync per call

    def forward(self, q, k, v):
        seq = q.shape[-2]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.allowed[:, :seq, :seq])
        return out if self.every_row_has_key else out.masked_fill(~self.has_key[:, :seq], 0.0)


class SieveAttention(nn.Module):
    """torch.ops.sieve.attention under a fixed block mask (causal). The mask
    reaches the op as an integer handle, registered once here. With
    `thresholds` (f32 [H], fixed) it runs sieve's threshold mode."""

    def __init__(self, tiles, block, thresholds=None):
        super().__init__()
        import sieve
        import sieve.torch_op

        self.mask = sieve.BlockMask(np.ascontiguousarray(tiles, dtype=bool), block_q=block,
                                    block_k=block)
        self.handle = sieve.torch_op.register_mask(self.mask)
        theta = None if thresholds is None else torch.as_tensor(thresholds).float().detach()
        self.register_buffer("thresholds", theta, persistent=False)

    def forward(self, q, k, v):
        return torch.ops.sieve.attention(q, k, v, self.handle, True, None, "top_left",
                                         self.thresholds)


def make_core(kind, tiles=None, block=None, seq=None, thresholds=None):
    """An attention core by name: "dense", "masked-reference" or "sieve"
    (`thresholds`, [H]: threshold mode; the masked reference applies the
    same hard rule through soft_threshold.py)."""
    if kind == "dense":
        return DenseAttention()
    if tiles is None:
        raise ValueError(f"attention {kind!r} needs a block mask")
    if kind == "masked-reference":
        if thresholds is not None:
            return HardThresholdReference(tiles, block, seq, thresholds)
        return MaskedReferenceAttention(tiles, block, seq)
    if kind == "sieve":
        return SieveAttention(tiles, block, thresholds)
    raise ValueError(f"unknown attention {kind!r}: dense, masked-reference or sieve")


class HardThresholdReference(nn.Module):
    """sieve's threshold mode in PyTorch: the block mask, causality, and
    scores under theta dropped (rows left with no key give zeros)."""

    def __init__(self, tiles, block, seq, thresholds):
        super().__init__()
        self.register_buffer("allowed", element_mask(tiles, block, seq), persistent=False)
        self.register_buffer("thresholds", torch.as_tensor(thresholds).float().detach(),
                             persistent=False)

    def forward(self, q, k, v):
        from soft_threshold import threshold_attention

        seq = q.shape[-2]
        return threshold_attention(q, k, v, self.thresholds, 0, self.allowed[:, :seq, :seq])[0]


class Block(nn.Module):
    def __init__(self, cfg, index):
        super().__init__()
        self.index = index
        self.heads = cfg.heads
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=False), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model, bias=False))
        self.drop = nn.Dropout(cfg.dropout)
        self.core = DenseAttention()
        self.observer = None

    def forward(self, x, head_gate=None):
        batch, seq, dim = x.shape
        qkv = self.qkv(self.norm1(x)).view(batch, seq, 3, self.heads, dim // self.heads)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
        if self.observer is not None:
            self.observer(self.index, q, k, v)
        attended = self.core(q, k, v)
        if head_gate is not None:  # [H]: 0 removes a head, as an empty sieve head does
            attended = attended * head_gate.to(attended.dtype).view(1, -1, 1, 1)
        attended = attended.transpose(1, 2).reshape(batch, seq, dim)
        x = x + self.drop(self.proj(attended))
        return x + self.drop(self.mlp(self.norm2(x)))


class ByteLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.head_budget = None  # a HeadBudget: gates on each head's output
        self.apply(self._init)
        # GPT-2's scaling: each residual branch's output projection shrinks
        # with depth, so the residual stream's variance stays put.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.layers))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, tokens):
        seq = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(seq, device=tokens.device))
        x = self.drop(x)
        gates = None
        if self.head_budget is not None:
            gates = (self.head_budget.gates() if self.training else
                     self.head_budget.selection().float())
        for i, block in enumerate(self.blocks):
            x = block(x, None if gates is None else gates[i])
        return self.norm(x) @ self.embed.weight.t()  # tied output embedding

    def loss(self, tokens, targets):
        logits = self.forward(tokens)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))

    def set_attention(self, kind, masks=None, block=None, thresholds=None):
        """Every layer's core: `kind` with masks[layer] (numpy bool [H, QB,
        KB]) or, for "dense", none; thresholds[layer] ([H]) for threshold
        mode. New cores go to the model's device."""
        device = self.embed.weight.device
        for i, b in enumerate(self.blocks):
            tiles = None if masks is None else masks[i]
            theta = None if thresholds is None else thresholds[i]
            b.core = make_core(kind, tiles, block, self.cfg.context, theta).to(device)

    def set_cores(self, make):
        """Every layer's core from make(layer index), on the model's device."""
        device = self.embed.weight.device
        for i, b in enumerate(self.blocks):
            b.core = make(i).to(device)

    def set_observer(self, fn):
        for b in self.blocks:
            b.observer = fn

    def parameter_count(self):
        return sum(p.numel() for p in self.parameters())
