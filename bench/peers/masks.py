"""Tile masks for the peer benchmark: numpy bool arrays [H, QB, KB], one
entry per (head, query block, key block) tile, and their packing into
sieve's bit layout. numpy only, so the self-test and the report run
without a GPU or torch."""
import zlib

import numpy as np

BLOCK = 128
KINDS = ("random", "banded")


def num_blocks(seq, block=BLOCK):
    return (seq + block - 1) // block


def diagonal_tiles(qb, kb, block_q=BLOCK, block_k=BLOCK):
    """[QB, KB] bool: the tiles whose key range meets their query range
    (BlockMask::random's rule; qb == kb for equal block sizes)."""
    i = np.arange(qb)[:, None]
    j = np.arange(kb)[None, :]
    return (j * block_k <= (i + 1) * block_q - 1) & (i * block_q <= (j + 1) * block_k - 1)


def causal_tiles(qb, kb, block_q=BLOCK, block_k=BLOCK):
    """[QB, KB] bool: tiles holding at least one pair with q >= k."""
    i = np.arange(qb)[:, None]
    j = np.arange(kb)[None, :]
    return j * block_k <= (i + 1) * block_q - 1


def _rng(seed, kind, heads, qb, kb, density):
    # One stream per (seed, kind, geometry, density): the same mask for every
    # dtype and for causal and non-causal rows (before the causal cut).
    tag = zlib.crc32(kind.encode())
    return np.random.default_rng([seed, tag, heads, qb, kb, int(round(density * 1e6))])


def random_mask(heads, qb, kb, density, seed=0):
    """Diagonal tiles always kept; every other tile kept with probability p
    per head, p chosen so the expected overall density is `density`."""
    diag = diagonal_tiles(qb, kb)
    n, nd = qb * kb, int(diag.sum())
    p = 1.0 if n == nd else float(np.clip((density * n - nd) / (n - nd), 0.0, 1.0))
    draw = _rng(seed, "random", heads, qb, kb, density).random((heads, qb, kb)) < p
    return draw | diag[None]


def _band(qb, kb, w, g):
    i = np.arange(qb)[:, None]
    j = np.arange(kb)[None, :]
    return (np.abs(i - j) <= w) | (j < g)


def banded_mask(heads, qb, kb, density, seed=0):
    """Per head, the band |qb - kb| <= w plus the first g key-block columns
    (global tokens). g is a small fraction of the key blocks (at least 1);
    heads take widths w or w + 1 so the mean density lands as near the
    target as two neighbouring widths allow."""
    del seed  # deterministic by construction
    if density >= 1.0:
        return np.ones((heads, qb, kb), dtype=bool)
    g = max(1, int(round(kb / 32)))
    widths = range(max(qb, kb))
    dens = [float(_band(qb, kb, w, g).mean()) for w in widths]
    # Largest width at or below the target (the narrowest band if none is).
    lo = max([w for w in widths if dens[w] <= density] or [0])
    hi = min(lo + 1, len(dens) - 1)
    # Number of heads at width hi that brings the mean nearest the target.
    if dens[hi] > dens[lo]:
        n_hi = int(round(heads * (density - dens[lo]) / (dens[hi] - dens[lo])))
    else:
        n_hi = 0
    n_hi = int(np.clip(n_hi, 0, heads))
    # Spread the wider heads evenly rather than bunching them at the end.
    wide = np.zeros(heads, dtype=bool)
    if n_hi:
        wide[np.linspace(0, heads - 1, n_hi).round().astype(int)] = True
    return np.stack([_band(qb, kb, hi if wide[h] else lo, g) for h in range(heads)])


def make_mask(kind, heads, seq, density, causal, seed=0):
    """The [H, QB, KB] tile mask of one benchmark row. Causal rows drop the
    tiles that causality masks entirely, so every kept tile does work."""
    qb = kb = num_blocks(seq)
    if kind == "random":
        m = random_mask(heads, qb, kb, density, seed)
    elif kind == "banded":
        m = banded_mask(heads, qb, kb, density, seed)
    else:
        raise ValueError(f"unknown mask kind {kind!r} (known: {', '.join(KINDS)})")
    if causal:
        m = m & causal_tiles(qb, kb)[None]
    return m


def pack_bits(mask):
    """sieve's layout: row-major over (head, qb, kb), bit n is bit n % 8 of
    byte n // 8 (LSB first); padding bits of the last byte are zero."""
    return np.packbits(np.ascontiguousarray(mask, dtype=bool).reshape(-1),
                       bitorder="little").tobytes()


def pair_counts(seq, causal, block=BLOCK):
    """[QB, KB] int64: (query, key) element pairs each tile computes,
    cropped at the sequence end and, when causal, counting only q >= k."""
    nb = num_blocks(seq, block)
    starts = np.arange(nb) * block
    sizes = np.minimum(starts + block, seq) - starts
    if not causal:
        return np.outer(sizes, sizes).astype(np.int64)
    counts = np.zeros((nb, nb), dtype=np.int64)
    for i in range(nb):
        q = np.arange(starts[i], starts[i] + sizes[i])[:, None]
        # keys k in [k0, k0 + size) with k <= q, for every q in the block
        counts[i] = np.clip(q - starts[None, :] + 1, 0, sizes[None, :]).sum(axis=0)
    return counts


def kept_pairs(mask, seq, causal, block=BLOCK):
    """(query, key) pairs summed over heads that the kept tiles compute."""
    return int((mask.astype(np.int64) * pair_counts(seq, causal, block)[None]).sum())


def dense_pairs(heads, seq, causal):
    return heads * (seq * (seq + 1) // 2 if causal else seq * seq)


def flops(batch, head_dim, pairs):
    """QK^T and PV: two multiply-adds per pair and head-dim element."""
    return 4.0 * batch * head_dim * pairs


def flops_fwd_bwd(batch, head_dim, pairs):
    """Forward plus backward, FlashAttention's count: the forward's two
    products and the backward's five (QK^T recomputed, dP = dO V^T,
    dV = P^T dO, dQ = dS K, dK = dS^T Q), 3.5 times the forward."""
    return 14.0 * batch * head_dim * pairs
