"""The PyTorch peers: dense SDPA, FlexAttention with a BlockMask made from
the same tile mask, and the masked SDPA reference for correctness checks.
Imports torch at module load: only compare.py's GPU path imports this."""
import numpy as np
import torch
import torch.nn.functional as F

from masks import BLOCK


def sdpa_dense(q, k, v, causal):
    """Dense attention, whatever backend SDPA picks (flash / cuDNN / mem-eff).
    Grouped query heads (fewer key heads) go through enable_gqa; with more
    keys than queries causal is bottom-right (the queries are the last Sq
    positions, as in FlashAttention and sieve) through causal_lower_right,
    which the fused backends take without materializing a mask."""
    gqa = {"enable_gqa": True} if q.shape[1] != k.shape[1] else {}
    sq, sk = q.shape[2], k.shape[2]
    if causal and sq != sk:
        from torch.nn.attention.bias import causal_lower_right
        return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(sq, sk),
                                              **gqa)
    return F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal), **gqa)


def element_mask(tiles, seq, causal, device="cuda", seq_k=None):
    """[H, Sq, Sk] bool from the [H, QB, KB] tile mask (and, when causal,
    k <= q + Sk - Sq: bottom-right, q >= k when Sq = Sk)."""
    seq_k = seq if seq_k is None else seq_k
    t = torch.as_tensor(np.ascontiguousarray(tiles), device=device)
    m = t.repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2)[:, :seq, :seq_k]
    if causal:
        m = m & torch.ones(seq, seq_k, dtype=torch.bool, device=device).tril(seq_k - seq)
    return m


def reference(q, k, v, tiles, causal):
    """SDPA in float32 with the expanded element mask: the ground truth for
    rows small enough to materialize it (key heads repeated for grouped
    query heads). Rows with no kept key are NaN in SDPA and zeros in sieve
    and Flex; zero them here too."""
    seq, seq_k = q.shape[2], k.shape[2]
    m = element_mask(tiles, seq, causal, q.device, seq_k)[None]
    group = q.shape[1] // k.shape[1]
    k, v = (t.float().repeat_interleave(group, 1) for t in (k, v))
    out = F.scaled_dot_product_attention(q.float(), k, v, attn_mask=m)
    return torch.nan_to_num(out, nan=0.0)


def reference_grads(q, k, v, dout, tiles, causal):
    """(out, (dq, dk, dv)) of the masked attention in float32, through
    SDPA's autograd with the expanded element mask: the backward's ground
    truth for rows small enough to materialize it. A query row with no kept
    key is zero in sieve and Flex: here it attends to every key and its
    output is multiplied by 0, so it also gets zero gradients (not NaN)."""
    seq = q.shape[2]
    m = element_mask(tiles, seq, causal, q.device)[None]
    any_kept = m.any(-1, keepdim=True)
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    out = F.scaled_dot_product_attention(q32, k32, v32, attn_mask=m | ~any_kept) * any_kept
    grads = torch.autograd.grad(out, (q32, k32, v32), dout.float())
    return out.detach(), grads


def block_mask_from_tiles(tiles, causal, seq, seq_k, mask_mod):
    """Flex's BlockMask of a [H, QB, KB] bool tile table (a device tensor)
    of BLOCK-square tiles: its kept tiles, those causal drops wholly
    removed; full blocks where every (query, key) pair of the tile is
    visible, partial (the mask_mod runs) where causal cuts the tile.
    Causal is bottom-right: query i sees keys up to i + seq_k - seq. A tile
    reaching past seq or seq_k is partial, as create_block_mask makes it
    (the pairs past the ends are masked)."""
    from torch.nn.attention.flex_attention import BlockMask
    heads, qb, kb = tiles.shape
    dev = tiles.device
    qi = torch.arange(qb, device=dev)[:, None]
    ki = torch.arange(kb, device=dev)[None, :]
    kept = tiles.bool()
    every = ((qi + 1) * BLOCK <= seq) & ((ki + 1) * BLOCK <= seq_k)
    if causal:
        offset = seq_k - seq
        q_last = torch.clamp((qi + 1) * BLOCK, max=seq) - 1
        kept = kept & (ki * BLOCK <= q_last + offset)
        every = every & ((ki + 1) * BLOCK - 1 <= qi * BLOCK + offset)
    full, partial = kept & every, kept & ~every

    def lists(m):
        """Counts [1, H, QB] and indices [1, H, QB, KB] (a row's blocks
        first, ascending), int32, as BlockMask keeps them."""
        order = torch.argsort((~m).int() * kb + torch.arange(kb, device=dev), dim=-1)
        return m.sum(-1).int()[None].contiguous(), order.int()[None].contiguous()

    num, idx = lists(partial)
    full_num, full_idx = lists(full)
    return BlockMask.from_kv_blocks(num, idx, full_num, full_idx, BLOCK_SIZE=BLOCK,
                                    mask_mod=mask_mod, seq_lengths=(seq, seq_k))


class Flex:
    """flex_attention compiled once per (shape, causal, dtype). The mask_mod
    reads a tile table held in one persistent device tensor; each new mask is
    copied into it, so every mask of the shape reuses the same mask_mod and
    the same compiled kernels (a fresh closure per mask would recompile)."""

    def __init__(self, heads, seq, causal, device="cuda", seq_k=None, gqa=False):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        self._create_block_mask = create_block_mask
        self.heads, self.seq, self.causal, self.device = heads, seq, bool(causal), device
        self.seq_k = seq if seq_k is None else seq_k
        self.gqa = bool(gqa)
        qb, kb = (seq + BLOCK - 1) // BLOCK, (self.seq_k + BLOCK - 1) // BLOCK
        self.tiles = torch.zeros(heads, qb, kb, dtype=torch.bool, device=device)
        tiles = self.tiles
        offset = self.seq_k - seq  # bottom-right causal

        if self.causal:
            def mask_mod(b, h, q_idx, kv_idx):
                return tiles[h, q_idx // BLOCK, kv_idx // BLOCK] & (q_idx + offset >= kv_idx)
        else:
            def mask_mod(b, h, q_idx, kv_idx):
                return tiles[h, q_idx // BLOCK, kv_idx // BLOCK]
        self.mask_mod = mask_mod
        self.fn = torch.compile(flex_attention, dynamic=False)
        self.block_mask = None

    def set_mask(self, tiles):
        """Builds the BlockMask for `tiles` from the tile table itself
        (block_mask_from_tiles: the kept tiles are the BlockMask's blocks,
        full where every pair is visible, so they skip the mask_mod), the
        same BlockMask create_block_mask finds by evaluating the mask_mod
        over every (query, key) pair, which took minutes at 32 heads of
        16384. Returns the number of (head, q block, kv block) tiles Flex
        will visit, partial + full."""
        self.tiles.copy_(torch.as_tensor(np.ascontiguousarray(tiles)))
        self.block_mask = block_mask_from_tiles(self.tiles, self.causal, self.seq, self.seq_k,
                                                self.mask_mod)
        bm = self.block_mask
        visited = bm.kv_num_blocks.sum()
        if bm.full_kv_num_blocks is not None:
            visited = visited + bm.full_kv_num_blocks.sum()
        return int(visited.item())

    def __call__(self, q, k, v):
        if self.gqa:
            return self.fn(q, k, v, block_mask=self.block_mask, enable_gqa=True)
        return self.fn(q, k, v, block_mask=self.block_mask)
