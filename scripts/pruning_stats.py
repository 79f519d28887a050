"""Error bars for the pruning tables (scripts/pruning-report.py).

The tables compare a data mask with random masks (several seeds) and a
position-only mask, on per-input numbers that `sieve evaluate` (or
scripts/retrieval-gpu.py) writes: a cosine or a 0/1 agreement per
sentence, a rank per retrieval query. Two sources of noise:

- the inputs: a percentile bootstrap over inputs (resampled with
  replacement, the same draw for every mask, so differences are paired);
- the random masks' seeds: mean and standard deviation over seeds.

`verdict` says whether the data mask beats a baseline by more than both.
"""
import math

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000


def per_input(entry, metric):
    """The per-input values of `metric` in one mask's (or the dense
    model's) result: "cosine" and "top1" as written; "recall_at_1" and
    "mrr" from the ranks (1 when the rank is 1; 1 / rank)."""
    if metric in ("cosine", "top1"):
        return np.asarray(entry[metric], dtype=float)
    ranks = np.asarray(entry["ranks"], dtype=float)
    if ranks.size and ranks.min() < 1:
        raise ValueError("ranks start at 1")
    if metric == "recall_at_1":
        return (ranks == 1).astype(float)
    if metric == "mrr":
        return 1.0 / ranks
    raise ValueError(f"unknown metric {metric!r}")


def _resample_indices(n, resamples, seed):
    if n < 1:
        raise ValueError("a bootstrap needs at least one input")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_ci(values, level=LEVEL, resamples=RESAMPLES, seed=0):
    """(low, high): the percentile bootstrap interval of the mean of
    `values` over inputs."""
    v = np.asarray(values, dtype=float)
    means = v[_resample_indices(v.size, resamples, seed)].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_bootstrap_ci(a, b, level=LEVEL, resamples=RESAMPLES, seed=0):
    """(low, high) of mean(a) - mean(b), resampling inputs jointly (a[i]
    and b[i] are the same input under two masks)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} and {b.shape}")
    return bootstrap_ci(a - b, level, resamples, seed)


def mean_sd(values):
    """(mean, sample standard deviation); sd is nan for one value."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("mean_sd of nothing")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def verdict(data, baseline_runs, level=LEVEL, resamples=RESAMPLES, seed=0):
    """How the data mask compares with a baseline on one metric.

    data: per-input values of the data mask; baseline_runs: a list of
    per-input value arrays, one per seed (one array for the position-only
    mask). The difference d = mean(data) - mean over runs of the baseline
    is judged against two error bars: the paired bootstrap interval of d
    over inputs (the baseline's per-input values averaged over runs), and,
    with several runs, twice the seeds' standard deviation of the baseline's
    mean. Returns (d, (low, high), word): "beats" when low > 0 and d > 2 sd,
    "loses" when high < 0 and -d > 2 sd, else "within error bars"."""
    runs = np.asarray(baseline_runs, dtype=float)
    if runs.ndim != 2:
        raise ValueError("baseline_runs must be a list of per-input arrays")
    data = np.asarray(data, dtype=float)
    base = runs.mean(axis=0)
    d = float(data.mean() - base.mean())
    low, high = paired_bootstrap_ci(data, base, level, resamples, seed)
    sd = float(runs.mean(axis=1).std(ddof=1)) if runs.shape[0] > 1 else 0.0
    if low > 0 and d > 2 * sd:
        word = "beats"
    elif high < 0 and -d > 2 * sd:
        word = "loses"
    else:
        word = "within error bars"
    return d, (low, high), word
