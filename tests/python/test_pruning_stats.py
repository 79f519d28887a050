"""scripts/pruning_stats.py: the bootstrap intervals and verdicts behind the
pruning tables (docs/pruning-results.md)."""
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "scripts"))
import pruning_stats as st  # noqa: E402


def test_per_input_from_ranks():
    entry = {"ranks": [1, 2, 4, 1]}
    assert st.per_input(entry, "recall_at_1").tolist() == [1, 0, 0, 1]
    assert st.per_input(entry, "mrr").tolist() == [1, 0.5, 0.25, 1]
    assert st.per_input({"cosine": [0.5, 1]}, "cosine").tolist() == [0.5, 1]
    with pytest.raises(ValueError):
        st.per_input({"ranks": [0, 1]}, "mrr")
    with pytest.raises(ValueError):
        st.per_input(entry, "accuracy")


def test_bootstrap_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(1)
    covered = 0
    trials = 200
    for t in range(trials):
        sample = rng.normal(3.0, 2.0, size=60)
        low, high = st.bootstrap_ci(sample, resamples=1000, seed=t)
        assert low <= sample.mean() <= high
        covered += low <= 3.0 <= high
    # Percentile bootstrap at n=60 under-covers a little; 95% nominal.
    assert 0.88 <= covered / trials <= 0.99, covered


def test_bootstrap_interval_narrows_with_more_inputs():
    rng = np.random.default_rng(2)
    small = st.bootstrap_ci(rng.normal(size=30))
    large = st.bootstrap_ci(rng.normal(size=3000))
    assert (large[1] - large[0]) < (small[1] - small[0]) / 5


def test_paired_interval_removes_the_shared_noise():
    rng = np.random.default_rng(3)
    b = rng.normal(0, 1, size=200)  # per-input difficulty, shared
    a = b + 0.1 + rng.normal(0, 0.01, size=200)
    low, high = st.paired_bootstrap_ci(a, b)
    assert 0.09 < low < 0.1 < high < 0.11
    unpaired = st.bootstrap_ci(a)
    assert unpaired[1] - unpaired[0] > 10 * (high - low)
    with pytest.raises(ValueError):
        st.paired_bootstrap_ci(a, b[:-1])


def test_mean_sd():
    assert st.mean_sd([1, 3]) == (2.0, math.sqrt(2))
    m, sd = st.mean_sd([5])
    assert m == 5 and math.isnan(sd)
    with pytest.raises(ValueError):
        st.mean_sd([])


def test_verdicts():
    rng = np.random.default_rng(4)
    base = rng.random(300)
    seeds = [base + rng.normal(0, 0.01, 300) for _ in range(5)]
    assert st.verdict(base + 0.2, seeds)[2] == "beats"
    assert st.verdict(base - 0.2, seeds)[2] == "loses"
    noise = rng.normal(0, 0.05, 300)
    same = np.mean(seeds, axis=0) + noise - noise.mean()  # no difference on average
    assert st.verdict(same, seeds)[2] == "within error bars"
    # A clear per-input gain, but the seeds disagree by more than it: not a win.
    spread = [base + s for s in (-0.3, -0.1, 0.1, 0.3, 0.0)]
    d, (low, high), word = st.verdict(base + 0.05, spread)
    assert low > 0 and word == "within error bars"
    # One run (the position-only mask): only the bootstrap interval counts.
    assert st.verdict(base + 0.05, [base])[2] == "beats"
    with pytest.raises(ValueError):
        st.verdict(base, base)
