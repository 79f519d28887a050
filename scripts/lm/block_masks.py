"""Stats files and block masks of the language-model experiment (numpy
only). Tiles are square (block x block), the model causal, so a head's
[QB, KB] table has QB (QB + 1) / 2 tiles a query can reach; p counts
those. Every mask keeps the diagonal tiles, so every row has a key."""
import json
import math
import os
import subprocess

import numpy as np

STREAM_RANDOM_MASK = 3  # train_lm.py's random streams: this one draws random masks


def causal_tiles(nb):
    """[QB, KB]: the tiles a causal query block can reach."""
    return np.tri(nb, dtype=bool)


def tile_budget(p, allowed):
    """round((1 - p/100) x allowed), halves up, as `sieve prune` rounds."""
    return int(math.floor((1 - p / 100) * allowed + 0.5))


def prune_head(mass, p):
    """One head's mask from its [QB, KB] mass: the diagonal, then the
    heaviest causal tiles that have mass, up to the budget, ties to the
    earlier tile in row-major order: `sieve prune --scope head
    --keep-diagonal`'s rule, with p counted over the causal tiles."""
    nb = mass.shape[0]
    allowed = causal_tiles(nb)
    keep = np.eye(nb, dtype=bool)
    budget = tile_budget(p, int(allowed.sum()))
    order = np.argsort(-mass.ravel(), kind="stable")
    candidates = [t for t in order if allowed.flat[t] and not keep.flat[t] and mass.flat[t] > 0]
    for t in candidates[:max(0, budget - int(keep.sum()))]:
        keep.flat[t] = True
    return keep


def prune(stats, p):
    """[L, H, QB, KB] bool masks from [L, H, QB, KB] mass."""
    return np.array([[prune_head(stats[l, h], p) for h in range(stats.shape[1])]
                     for l in range(stats.shape[0])])


def prune_layer(mass, p):
    """One layer's [H, QB, KB] mask from its [H, QB, KB] mass, the paper's
    per-layer scope: every head keeps its diagonal, and the layer keeps
    H x round((1 - p) x causal tiles) in all, the rest the heaviest causal
    tiles of any of its heads (ties to the earlier head, then tile)."""
    heads, nb, _ = mass.shape
    allowed = np.broadcast_to(causal_tiles(nb), mass.shape)
    keep = np.broadcast_to(np.eye(nb, dtype=bool), mass.shape).copy()
    budget = heads * tile_budget(p, int(causal_tiles(nb).sum()))
    order = np.argsort(-mass.ravel(), kind="stable")
    candidates = [t for t in order if allowed.flat[t] and not keep.flat[t] and mass.flat[t] > 0]
    for t in candidates[:max(0, budget - int(keep.sum()))]:
        keep.flat[t] = True
    return keep


def prune_scope(stats, p, scope):
    """[L, H, QB, KB] masks with `scope` "head" (each head its own budget)
    or "layer" (a layer's heads share theirs)."""
    if scope == "head":
        return prune(stats, p)
    if scope == "layer":
        return np.array([prune_layer(stats[l], p) for l in range(stats.shape[0])])
    raise ValueError(f"unknown scope {scope!r}: head or layer")


def position_order(nb):
    """The causal tiles of a [QB, KB] table in the order a position-only
    mask takes them: the diagonal, then the sink (key block 0), then the
    local window's bands 1, 2, ... below the diagonal; within a band from
    the last query block up (later queries have the most keys to lose)."""
    order = [(i, i) for i in range(nb)] + [(i, 0) for i in range(nb - 1, 0, -1)]
    for band in range(1, nb):
        order += [(i, i - band) for i in range(nb - 1, band - 1, -1) if i - band != 0]
    return order


def position_only(kept_per_head, nb):
    """[L, H, QB, KB]: per head, the first kept_per_head[l, h] tiles of
    position_order() -- sink plus local window, no calibration -- so each
    head keeps exactly as many tiles as the mask it is compared with."""
    order = position_order(nb)
    kept = np.asarray(kept_per_head)
    out = np.zeros(kept.shape + (nb, nb), dtype=bool)
    for idx in np.ndindex(kept.shape):
        n = int(kept[idx])
        if not nb <= n <= len(order):
            raise ValueError(f"a head keeps {n} tiles; a causal {nb}x{nb} table holds "
                             f"{nb} (the diagonal) to {len(order)}")
        rows, cols = zip(*order[:n])
        out[idx][rows, cols] = True
    return out


def head_mask(keep_heads, nb):
    """[L, H, QB, KB] from a bool [L, H] head selection: every causal tile
    of a kept head, none of a pruned one (sieve removes empty heads from
    the launch; their output is zeros, which is what the gate's 0 does)."""
    keep = np.asarray(keep_heads, dtype=bool)
    return keep[..., None, None] & causal_tiles(nb)


def prune_cli(cli, stats_path, out_path, p, nb):
    """The same masks from `sieve prune`, which counts p over all QB x KB
    tiles of a head: it is asked for the sparsity that leaves the causal
    budget, and tiles above the diagonal, with no mass, are never picked."""
    sparsity = 1 - tile_budget(p, int(causal_tiles(nb).sum())) / (nb * nb)
    subprocess.run([cli, "prune", "--stats", stats_path, "--sparsity", repr(sparsity),
                    "--scope", "head", "--keep-diagonal", "-o", out_path],
                   check=True, stdout=subprocess.DEVNULL)
    return np.load(out_path).astype(bool)


def random_like(pruned, seed, p):
    """Per layer and head as many tiles as `pruned` keeps there: the
    diagonal, the rest uniform over the other causal tiles; one seeded
    stream per (p, layer)."""
    layers, heads, nb, _ = pruned.shape
    free = np.flatnonzero(causal_tiles(nb) & ~np.eye(nb, dtype=bool))
    out = np.zeros_like(pruned)
    for l in range(layers):
        rng = np.random.default_rng([seed, STREAM_RANDOM_MASK, p, l])
        for h in range(heads):
            keep = np.eye(nb, dtype=bool)
            keep.flat[rng.choice(free, size=int(pruned[l, h].sum()) - nb, replace=False)] = True
            out[l, h] = keep
    return out


def summary(mask, stats):
    """Densities measured from a [L, H, QB, KB] mask, and the share of the
    calibration mass inside it."""
    nb = mask.shape[-1]
    kept = mask.sum((2, 3))
    allowed = int(causal_tiles(nb).sum())
    return {"density_causal": round(float(kept.mean() / allowed), 5),
            "density_all_tiles": round(float(kept.mean() / (nb * nb)), 5),
            "kept_per_head_min": int(kept.min()), "kept_per_head_max": int(kept.max()),
            "mass_retained": round(float((stats * mask).sum() / stats.sum()), 5)}


def write_stats(path, stats, block, seq, windows, calls, comment):
    """PATH (.npy, float64 [L, H, QB, KB]) and its .json sidecar in sieve's
    stats format (docs/stats-format.md), which `sieve prune` reads. Every
    window of `seq` tokens adds `block` rows to each query block."""
    layers, heads, nb, _ = stats.shape
    np.save(path, stats)
    sidecar = {"format": "sieve-attention-stats", "version": 1, "heads": heads,
               "block_q": block, "block_k": block, "seq_q": seq, "seq_k": seq,
               "layers": [{"name": f"layer{i}", "kind": "self", "calls": calls,
                           "rows": [windows * block] * nb} for i in range(layers)],
               "comment": comment}
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(sidecar, f, indent=1)
