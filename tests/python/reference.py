"""Dense float64 attention under a block mask: what sieve must compute."""

import numpy as np


def dense_allowed(tiles, block_q, block_k, seq_q, seq_k, causal):
    """[H, Sq, Sk] bool: the kept tiles expanded to elements, and under
    `causal` keys after the query's position dropped: top-left (True or
    "top_left": query i at position i) or "bottom_right" (at Sk - Sq + i)."""
    allowed = np.repeat(np.repeat(tiles, block_q, axis=1), block_k, axis=2)[:, :seq_q, :seq_k]
    if causal:
        diagonal = seq_k - seq_q if causal == "bottom_right" else 0
        allowed = allowed & np.tril(np.ones((seq_q, seq_k), dtype=bool), k=diagonal)
    return allowed


def _probabilities(q, k, mask, causal, scale, thresholds=None):
    """(P [B, Hq, Sq, Sk] with GQA keys repeated, lse [B, Hq, Sq]) in
    float64: the softmax over each row's kept keys, zero rows where none is
    kept, and the natural log-sum-exp (-inf there). With `thresholds` ([Hq],
    threshold mode) a score under its head's threshold is not kept."""
    batch, heads_q, seq_q, head_dim = q.shape
    k = np.repeat(k, heads_q // k.shape[1], axis=1)
    scale = 1 / np.sqrt(head_dim) if scale is None else scale
    allowed = dense_allowed(mask.to_numpy(), mask.block_q, mask.block_k, seq_q, k.shape[2],
                            causal)[None]
    raw = np.einsum("bhqd,bhkd->bhqk", q, k) * scale
    if thresholds is not None:
        theta = np.asarray(thresholds, dtype=np.float64).reshape(1, heads_q, 1, 1)
        allowed = allowed & (raw >= theta)
    scores = np.where(allowed, raw, -np.inf)
    row_max = scores.max(axis=-1, keepdims=True)
    any_kept = np.isfinite(row_max)
    weights = np.where(allowed, np.exp(scores - np.where(any_kept, row_max, 0)), 0)
    total = weights.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = np.where(any_kept, row_max + np.log(np.where(total > 0, total, 1)), -np.inf)
    return weights / np.where(total > 0, total, 1), lse[..., 0]


def attention(q, k, v, mask, causal=False, scale=None, thresholds=None):
    """q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D] (any strides); rows with no
    kept key are zero, as in sieve. `thresholds`: threshold mode's [Hq]."""
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
    p, _ = _probabilities(q, k, mask, causal, scale, thresholds)
    return np.einsum("bhqk,bhkd->bhqd", p, np.repeat(v, q.shape[1] // v.shape[1], axis=1))


def relative_error(got, want):
    got = np.asarray(got, dtype=np.float64)
    return np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)


def attention_backward(q, k, v, dout, mask, causal=False, scale=None, thresholds=None):
    """(dq, dk, dv, lse) of attention() for the upstream gradient dout, in
    float64: dV = P^T dO, dS = P (dO V^T - rowsum(dO O)), dQ = scale dS K,
    dK = scale dS^T Q, dK and dV summed over the query heads of a key head;
    lse is the natural log-sum-exp per row (-inf where no key is kept).
    With `thresholds` the dropped scores have P = 0, so dS = 0 there."""
    q, k, v, dout = (np.asarray(t, dtype=np.float64) for t in (q, k, v, dout))
    batch, heads_q, seq_q, head_dim = q.shape
    heads_kv = k.shape[1]
    group = heads_q // heads_kv
    ke, ve = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = 1 / np.sqrt(head_dim) if scale is None else scale
    p, lse = _probabilities(q, k, mask, causal, scale, thresholds)
    out = np.einsum("bhqk,bhkd->bhqd", p, ve)
    dv = np.einsum("bhqk,bhqd->bhkd", p, dout)
    dp = np.einsum("bhqd,bhkd->bhqk", dout, ve)
    ds = p * (dp - (dout * out).sum(-1, keepdims=True))
    dq = np.einsum("bhqk,bhkd->bhqd", ds, ke) * scale
    dk = np.einsum("bhqk,bhqd->bhkd", ds, q) * scale
    fold = lambda x: x.reshape(batch, heads_kv, group, *x.shape[2:]).sum(axis=2)
    return dq, fold(dk), fold(dv), lse
