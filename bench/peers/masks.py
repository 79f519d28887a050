"""Tile masks for the peer benchmark: numpy bool arrays [H, QB, KB], one
entry per (head, query block, key block) tile, and their packing into
sieve's bit layout. numpy only, so the self-test and the report run
without a GPU or torch."""
import zlib

import numpy as np

BLOCK = 128
KINDS = ("random", "banded", "pruned")


def num_blocks(seq, block=BLOCK):
    return (seq + block - 1) // block


def diagonal_tiles(qb, kb, block_q=BLOCK, block_k=BLOCK, offset=0):
    """[QB, KB] bool: the tiles whose key range meets their query range
    shifted by `offset` keys (BlockMask::random's rule; qb == kb for equal
    block sizes and offset 0). offset = Sk - Sq puts the queries at the
    end of the keys, as bottom-right causal does."""
    i = np.arange(qb)[:, None]
    j = np.arange(kb)[None, :]
    return (j * block_k <= (i + 1) * block_q - 1 + offset) & \
        (i * block_q + offset <= (j + 1) * block_k - 1)


def causal_tiles(qb, kb, block_q=BLOCK, block_k=BLOCK, offset=0):
    """[QB, KB] bool: tiles holding at least one pair with q + offset >= k
    (offset Sk - Sq: bottom-right causal, FlashAttention's for Sq != Sk)."""
    i = np.arange(qb)[:, None]
    j = np.arange(kb)[None, :]
    return j * block_k <= (i + 1) * block_q - 1 + offset


def _rng(seed, kind, heads, qb, kb, density):
    # One stream per (seed, kind, geometry, density): the same mask for every
    # dtype and for causal and non-causal rows (before the causal cut).
    tag = zlib.crc32(kind.encode())
    return np.random.default_rng([seed, tag, heads, qb, kb, int(round(density * 1e6))])


def random_mask(heads, qb, kb, density, seed=0, offset=0):
    """Diagonal tiles always kept; every other tile kept with probability p
    per head, p chosen so the expected overall density is `density`."""
    diag = diagonal_tiles(qb, kb, offset=offset)
    n, nd = qb * kb, int(diag.sum())
    p = 1.0 if n == nd else float(np.clip((density * n - nd) / (n - nd), 0.0, 1.0))
    draw = _rng(seed, "random", heads, qb, kb, density).random((heads, qb, kb)) < p
    return draw | diag[None]


def _band(qb, kb, w, g, centers=None):
    """|centers[qb] - kb| <= w, or one of the first g key blocks; a query
    block's center is its diagonal key block (default: its own index)."""
    c = np.arange(qb) if centers is None else np.asarray(centers)
    j = np.arange(kb)[None, :]
    return (np.abs(c[:, None] - j) <= w) | (j < g)


def banded_mask(heads, qb, kb, density, seed=0, centers=None):
    """Per head, the band |qb - kb| <= w plus the first g key-block columns
    (global tokens). g is a small fraction of the key blocks (at least 1);
    heads take widths w or w + 1 so the mean density lands as near the
    target as two neighbouring widths allow."""
    del seed  # deterministic by construction
    if density >= 1.0:
        return np.ones((heads, qb, kb), dtype=bool)
    g = max(1, int(round(kb / 32)))
    widths = range(max(qb, kb))
    dens = [float(_band(qb, kb, w, g, centers).mean()) for w in widths]
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
    return np.stack([_band(qb, kb, hi if wide[h] else lo, g, centers) for h in range(heads)])


def empty_heads(heads):
    """How many heads an attention-pruning mask leaves empty: two of eight
    or more, one of four to seven, none of fewer."""
    return 2 if heads >= 8 else 1 if heads >= 4 else 0


def pruned_mask(heads, qb, kb, density, seed=0, centers=None):
    """A mask shaped like attention-pruning output (calibrated masks keep a
    local band, a few global key columns, some query rows whole, and empty
    some heads): per head a band of its own width around the diagonal
    (`centers`: each query block's diagonal key block), the first g
    key-block columns (sinks), and
    whole rows for one query block in 32 (at least one); `empty_heads`
    heads keep nothing, the last ones. The heads' densities are skewed
    (log-normal weights, seeded), scaled so that the mean over all heads,
    the empty ones included, is as near `density` as the band widths
    allow."""
    if density >= 1.0:
        return np.ones((heads, qb, kb), dtype=bool)
    rng = _rng(seed, "pruned", heads, qb, kb, density)
    g = max(1, int(round(kb / 32)))
    live = heads - empty_heads(heads)
    rows = np.zeros((heads, qb, 1), dtype=bool)
    for h in range(live):
        rows[h, rng.choice(qb, size=max(1, qb // 32), replace=False)] = True
    widths = np.arange(max(qb, kb))
    # Per live head, its density at each band width (its whole rows included).
    dens = np.array([[float((_band(qb, kb, w, g, centers) | rows[h]).mean()) for w in widths]
                     for h in range(live)]) if live else np.zeros((0, len(widths)))
    weight = np.exp(rng.normal(0.0, 0.8, size=live))
    target = density * heads / max(live, 1)  # the live heads' mean

    def pick(scale):  # each head's widest band at or under its share
        want = np.minimum(scale * weight, 1.0)
        return [int(max([w for w in widths if dens[h, w] <= want[h]] or [0]))
                for h in range(live)]

    lo, hi = 0.0, 64.0
    for _ in range(40):  # the scale whose heads' mean density is the target
        mid = (lo + hi) / 2
        chosen = pick(mid)
        mean = float(np.mean([dens[h, w] for h, w in enumerate(chosen)])) if live else 0.0
        lo, hi = (mid, hi) if mean <= target else (lo, mid)
    chosen = pick(lo)
    m = np.zeros((heads, qb, kb), dtype=bool)
    for h, w in enumerate(chosen):
        m[h] = _band(qb, kb, w, g, centers) | rows[h]
    return m


def make_mask(kind, heads, seq, density, causal, seed=0, seq_k=None):
    """The [H, QB, KB] tile mask of one benchmark row (queries `seq`, keys
    `seq_k`, default the same). Causal rows drop the tiles that causality
    masks entirely, so every kept tile does work; with Sq != Sk causal is
    bottom-right (query i sees keys up to i + Sk - Sq)."""
    seq_k = seq if seq_k is None else seq_k
    qb, kb = num_blocks(seq), num_blocks(seq_k)
    offset = seq_k - seq
    # Each query block's diagonal: the key block of its last query's
    # position (query i is at key position i + Sk - Sq).
    centers = (np.minimum((np.arange(qb) + 1) * BLOCK, seq) - 1 + offset) // BLOCK
    if kind == "random":
        m = random_mask(heads, qb, kb, density, seed, offset)
    elif kind == "banded":
        m = banded_mask(heads, qb, kb, density, seed, centers)
    elif kind == "pruned":
        m = pruned_mask(heads, qb, kb, density, seed, centers)
    else:
        raise ValueError(f"unknown mask kind {kind!r} (known: {', '.join(KINDS)})")
    if causal:
        m = m & causal_tiles(qb, kb, offset=offset)[None]
    return m


def pack_bits(mask):
    """sieve's layout: row-major over (head, qb, kb), bit n is bit n % 8 of
    byte n // 8 (LSB first); padding bits of the last byte are zero."""
    return np.packbits(np.ascontiguousarray(mask, dtype=bool).reshape(-1),
                       bitorder="little").tobytes()


def pair_counts(seq, causal, block=BLOCK, seq_k=None):
    """[QB, KB] int64: (query, key) element pairs each tile computes,
    cropped at the sequences' ends and, when causal, counting only
    q + Sk - Sq >= k (bottom-right; q >= k when Sq = Sk)."""
    seq_k = seq if seq_k is None else seq_k
    qstarts = np.arange(num_blocks(seq, block)) * block
    kstarts = np.arange(num_blocks(seq_k, block)) * block
    qsizes = np.minimum(qstarts + block, seq) - qstarts
    ksizes = np.minimum(kstarts + block, seq_k) - kstarts
    if not causal:
        return np.outer(qsizes, ksizes).astype(np.int64)
    offset = seq_k - seq
    counts = np.zeros((len(qstarts), len(kstarts)), dtype=np.int64)
    for i in range(len(qstarts)):
        q = np.arange(qstarts[i], qstarts[i] + qsizes[i])[:, None] + offset
        # keys k in [k0, k0 + size) with k <= q + offset, for every q in the block
        counts[i] = np.clip(q - kstarts[None, :] + 1, 0, ksizes[None, :]).sum(axis=0)
    return counts


def kept_pairs(mask, seq, causal, block=BLOCK, seq_k=None):
    """(query, key) pairs summed over heads that the kept tiles compute."""
    return int((mask.astype(np.int64) * pair_counts(seq, causal, block, seq_k)[None]).sum())


def dense_pairs(heads, seq, causal, seq_k=None):
    """(query, key) pairs of dense attention: Sq x Sk, or under causal
    (bottom-right) those with k <= q + Sk - Sq."""
    seq_k = seq if seq_k is None else seq_k
    if not causal:
        return heads * seq * seq_k
    offset = seq_k - seq
    q = np.arange(seq, dtype=np.int64)
    return heads * int(np.clip(q + offset + 1, 0, seq_k).sum())


def flops(batch, head_dim, pairs):
    """QK^T and PV: two multiply-adds per pair and head-dim element."""
    return 4.0 * batch * head_dim * pairs


def flops_fwd_bwd(batch, head_dim, pairs):
    """Forward plus backward, FlashAttention's count: the forward's two
    products and the backward's five (QK^T recomputed, dP = dO V^T,
    dV = P^T dO, dQ = dS K, dK = dS^T Q), 3.5 times the forward."""
    return 14.0 * batch * head_dim * pairs
