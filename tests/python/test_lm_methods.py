"""The pieces of the language-model experiment's methods (scripts/lm), on
the CPU, on fresh random inputs: the learned-threshold gate and its
regularizer, the exact-K head gate, the position-only and per-layer masks,
and the aggregation over seeds. The sieve parts (threshold mode and empty
heads against the PyTorch reference) run when the sieve module is there."""

import math
import os
import statistics
import sys
import types

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lm"))

import aggregate  # noqa: E402
import block_masks as masks  # noqa: E402
import head_selection as heads  # noqa: E402
import model as lm_model  # noqa: E402
import reference  # noqa: E402
import soft_threshold as thr  # noqa: E402


def fresh(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


def sieve_module():
    try:
        import sieve
        import sieve.torch_op  # noqa: F401
    except ImportError:
        return None
    return sieve


def causal(seq):
    return torch.ones(seq, seq, dtype=torch.bool).tril()


# ---------------------------------------------------------------- learned thresholds

def test_threshold_gate_hard_rule_matches_the_float64_reference():
    """tau = 0 is sieve's threshold mode: against tests/python/reference.py
    (float64) with one head dropping nothing, one at its median and one
    dropping every score (its rows are zeros)."""
    q, k, v = (fresh(2, 3, 32, 8, dtype=torch.float64) for _ in range(3))
    theta = torch.tensor([-math.inf, in_gap(q, k, 1, 0.5, 32), math.inf], dtype=torch.float64)
    got, dropped = thr.threshold_attention(q, k, v, theta, 0, causal(32))
    mask = types.SimpleNamespace(to_numpy=lambda: np.ones((3, 1, 1), bool), block_q=32,
                                 block_k=32)
    want = reference.attention(q.numpy(), k.numpy(), v.numpy(), mask, causal=True,
                               thresholds=theta.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)
    assert (got[:, 2] == 0).all()
    assert dropped[0] == 0 and dropped[2] == 1 and 0.3 < dropped[1] < 0.7


def in_gap(q, k, head, quantile, seq):
    """A threshold near `quantile` of a head's causal scores, halfway across
    the widest gap between neighbouring scores there (a score on the
    threshold would decide nothing robustly)."""
    x = thr.scores_of(q, k)[:, head][:, causal(seq)].reshape(-1).sort().values.double()
    at = int(quantile * (x.numel() - 1))
    near = torch.arange(max(at - 8, 0), min(at + 8, x.numel() - 1))
    best = near[(x[near + 1] - x[near]).argmax()]
    return 0.5 * (x[best] + x[best + 1]).item()


def test_soft_gate_tends_to_the_hard_rule():
    """Including a head that drops every score (its rows tend to zeros)."""
    q, k, v = (fresh(2, 3, 48, 16) for _ in range(3))
    theta = torch.tensor([in_gap(q, k, 0, 0.6, 48), in_gap(q, k, 1, 0.9, 48), 1e3])
    margin = (thr.scores_of(q, k) - theta.view(1, -1, 1, 1)).abs()[:, :, causal(48)].min()
    hard, hard_drop = thr.threshold_attention(q, k, v, theta, 0, causal(48))
    assert (hard[:, 2] == 0).all()
    errors = []
    for tau in (1.0, 0.1, margin.item() / 50):
        soft, soft_drop = thr.threshold_attention(q, k, v, theta, tau, causal(48))
        errors.append((soft - hard).abs().max().item())
    assert errors[0] > errors[1] > errors[2]
    # Every score 50 tau or more from theta: each gate is within e^-50 of 0 or 1.
    torch.testing.assert_close(soft, hard, rtol=0, atol=1e-5)
    torch.testing.assert_close(soft_drop, hard_drop, rtol=0, atol=1e-6)


def test_gradients_reach_theta_q_and_k():
    q, k, v = (fresh(2, 2, 32, 8).requires_grad_() for _ in range(3))
    theta = torch.zeros(2, requires_grad=True)
    out, dropped = thr.threshold_attention(q, k, v, theta, 0.5, causal(32))
    (out.square().sum() + dropped.sum()).backward()
    for t in (theta, q, k, v):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_hard_rule_has_finite_gradients_with_empty_rows():
    q, k, v = (fresh(1, 1, 16, 8).requires_grad_() for _ in range(3))
    out, _ = thr.threshold_attention(q, k, v, torch.tensor([math.inf]), 0, causal(16))
    out.sum().backward()
    assert (out == 0).all() and torch.isfinite(q.grad).all() and torch.isfinite(v.grad).all()


def test_regularizer_raises_theta_until_the_target():
    q, k = fresh(2, 2, 32, 8), fresh(2, 2, 32, 8)
    scores = thr.scores_of(q, k)
    theta = torch.full((2,), -1.0, requires_grad=True)
    dropped = thr.soft_dropped(scores, theta, 0.5, causal(32))
    loss = thr.regularizer([dropped], target=0.99, weight=1.0)
    loss.backward()
    assert loss.item() > 0 and (theta.grad < 0).all()  # descending raises theta
    reached = thr.soft_dropped(scores, torch.full((2,), 1e4), 0.5, causal(32))
    assert thr.regularizer([reached], target=0.9, weight=1.0).item() == 0


def test_soft_dropped_fraction_is_the_mean_gate_over_causal_scores():
    q, k = fresh(3, 2, 24, 8), fresh(3, 2, 24, 8)
    theta, tau = torch.randn(2), 0.7
    s = thr.scores_of(q, k).double()
    want = [torch.sigmoid((theta[h] - s[:, h]) / tau)[:, causal(24)].mean().item()
            for h in range(2)]
    got = thr.soft_dropped(thr.scores_of(q, k), theta, tau, causal(24))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_quantile_thresholds_drop_about_that_fraction():
    q, k = fresh(2, 3, 64, 16), fresh(2, 3, 64, 16)
    theta = thr.quantile_thresholds(q, k, 0.8)
    scores, tiles = thr.drop_fractions(q, k, theta, 16)
    assert torch.allclose(scores, torch.full((3,), 0.8, dtype=torch.float64), atol=0.01)
    assert (tiles <= scores).all()


def test_drop_fractions_count_causal_scores_and_whole_tiles():
    q, k = fresh(1, 2, 32, 8), fresh(1, 2, 32, 8)
    scores, tiles = thr.drop_fractions(q, k, torch.tensor([-math.inf, math.inf]), 8)
    assert scores.tolist() == [0.0, 1.0] and tiles.tolist() == [0.0, 1.0]
    s = thr.scores_of(q, k)[0, 0]
    theta = s[causal(32)].median()
    scores, tiles = thr.drop_fractions(q, k, torch.stack([theta, theta]), 8)
    want_tiles = sum(bool(((s[i * 8:i * 8 + 8, j * 8:j * 8 + 8] < theta) |
                           ~causal(32)[i * 8:i * 8 + 8, j * 8:j * 8 + 8]).all())
                     for i in range(4) for j in range(i + 1)) / 10
    assert tiles[0].item() == pytest.approx(want_tiles)
    assert scores[0].item() == pytest.approx((s[causal(32)] < theta).double().mean().item())


def test_threshold_core_learns_theta_in_units_of_the_score_spread():
    q, k, v = (fresh(2, 2, 32, 8) for _ in range(3))
    center, spread = thr.quantile_thresholds(q, k, 0.7), thr.score_spread(q, k)
    core = thr.ThresholdAttention(2, 32, center, spread)
    torch.testing.assert_close(core.theta, center)
    with torch.no_grad():
        core.offset.copy_(torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(core.theta, center + spread * torch.tensor([0.5, -1.0]))
    core.tau = 0.3
    out = core(q, k, v)
    want, _ = thr.threshold_attention(q, k, v, core.theta.detach(), 0.3 * spread, causal(32))
    torch.testing.assert_close(out, want)
    (out.square().sum() + core.dropped.sum()).backward()
    assert core.offset.grad is not None and (core.offset.grad != 0).all()
    core.tau = 0
    hard, _ = thr.threshold_attention(q, k, v, core.theta.detach(), 0, causal(32))
    torch.testing.assert_close(core(q, k, v), hard)


def test_tau_anneals_geometrically_from_start_to_end():
    taus = [thr.tau_at(s, 5, 1.0, 0.01) for s in range(5)]
    assert taus[0] == 1.0 and taus[-1] == pytest.approx(0.01)
    ratios = [b / a for a, b in zip(taus, taus[1:])]
    assert all(r == pytest.approx(ratios[0]) for r in ratios) and ratios[0] < 1


@pytest.mark.skipif(sieve_module() is None, reason="the sieve module is not importable")
def test_sieve_threshold_mode_matches_the_hard_reference():
    """The deployed model's core: sieve's threshold mode under a block mask
    against the same hard rule in PyTorch, forward and gradients."""
    tiles = masks.prune(np.random.default_rng().random((1, 2, 4, 4)), 30)[0]
    q0, k0, v0 = (fresh(2, 2, 64, 16) for _ in range(3))
    theta = thr.quantile_thresholds(q0, k0, 0.5)
    results = []
    for core in (lm_model.SieveAttention(tiles, 16, theta),
                 lm_model.HardThresholdReference(tiles, 16, 64, theta)):
        q, k, v = (t.clone().requires_grad_() for t in (q0, k0, v0))
        out = core(q, k, v)
        out.square().sum().backward()
        results.append([out.detach(), q.grad, k.grad, v.grad])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- head budgets

@pytest.mark.parametrize("k", [1, 3, 5])
def test_straight_through_top_k_keeps_exactly_k(k):
    scores = fresh(4, 6).requires_grad_()
    gates = heads.straight_through_top_k(scores, k, tau=0.5)
    assert set(gates.detach().unique().tolist()) <= {0.0, 1.0}  # exactly, not nearly
    assert (gates.detach().sum(-1) == k).all()
    top = scores.detach().topk(k, dim=-1).indices
    assert (gates.detach().gather(-1, top) == 1).all()  # the K largest
    (gates * fresh(4, 6)).sum().backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0


def test_relaxed_top_k_sums_to_k_and_sharpens():
    scores = fresh(3, 8)
    for tau in (1.0, 0.1):
        soft = heads.relaxed_top_k(scores, 3, tau)
        torch.testing.assert_close(soft.sum(-1), torch.full((3,), 3.0), rtol=0, atol=1e-4)
        assert (soft >= 0).all()
    # Sharpening towards the hard top-k needs distinct scores to sharpen to:
    # two nearly tied scores (fresh normals sometimes are) share the weight
    # at any temperature. The scores' ranks, in the fresh random order, are
    # one apart, so the claim is about temperature alone.
    scores = scores.argsort(-1).argsort(-1).float()
    hard = heads.hard_top_k(scores, 3).float()
    assert ((heads.relaxed_top_k(scores, 3, 0.01) - hard).abs().max() <
            (heads.relaxed_top_k(scores, 3, 1.0) - hard).abs().max())


@pytest.mark.parametrize("scope,k", [("layer", 2), ("total", 7)])
def test_head_budget_keeps_exactly_k_per_scope_and_learns(scope, k):
    budget = heads.HeadBudget(3, 4, k, scope)
    with torch.no_grad():
        budget.importance.copy_(fresh(3, 4))
    budget.generator = torch.Generator().manual_seed(1)
    gates = budget.gates()
    counts = gates.detach().sum(-1) if scope == "layer" else gates.detach().sum().view(1)
    assert (counts == k).all()
    keep = budget.selection()
    assert keep.dtype == torch.bool and int(keep.sum()) == (3 * k if scope == "layer" else k)
    # Rewarding one head's gate raises its importance.
    (-(gates[0, 0] + gates[1, 2])).backward()
    assert budget.importance.grad[0, 0] < 0 or budget.importance.grad[1, 2] < 0


def test_head_budget_rejects_impossible_k():
    with pytest.raises(ValueError, match="between 1 and 4"):
        heads.HeadBudget(2, 4, 5, "layer")
    with pytest.raises(ValueError, match="layer or total"):
        heads.HeadBudget(2, 4, 1, "head")


def test_gated_model_equals_the_empty_head_mask():
    """A gate of 0 is what an empty head of a sieve mask gives (zeros)."""
    cfg = lm_model.ModelConfig(layers=2, d_model=32, heads=4, context=64)
    torch.manual_seed(0)
    net = lm_model.ByteLM(cfg).eval()
    keep = np.array([[True, False, True, False], [False, False, True, True]])
    budget = heads.HeadBudget(2, 4, 2, "layer")
    net.head_budget = budget
    tokens = torch.randint(0, 256, (2, 64))
    with torch.no_grad():
        budget.importance.copy_(torch.from_numpy(keep).float() + 0.1 * torch.rand(2, 4))
        assert np.array_equal(budget.selection().numpy(), keep)
        gated = net(tokens)
        net.head_budget = None
        net.set_attention("masked-reference", masks.head_mask(keep, 4), 16)
        masked = net(tokens)
    torch.testing.assert_close(gated, masked, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- masks

def test_position_only_mask_is_diagonal_sink_then_window():
    nb = 6
    counts = np.array([[6, 11, 15, 21]])  # diagonal; + sink; + band 1 (less the sink's); all
    got = masks.position_only(counts, nb)
    assert (got.sum((2, 3)) == counts).all()
    assert not (got & ~masks.causal_tiles(nb)).any()
    assert got[..., np.arange(nb), np.arange(nb)].all()
    eye = np.eye(nb, dtype=bool)
    sink = eye.copy()
    sink[:, 0] = True
    band = sink | np.eye(nb, k=-1, dtype=bool)
    assert np.array_equal(got[0, 0], eye)
    assert np.array_equal(got[0, 1], sink)
    assert np.array_equal(got[0, 2], band)
    assert np.array_equal(got[0, 3], masks.causal_tiles(nb))


def test_position_only_partial_band_takes_the_latest_queries():
    got = masks.position_only(np.array([[13]]), 6)[0, 0]  # sink + 2 tiles of band 1
    assert got[5, 4] and got[4, 3] and not got[3, 2]


def test_position_only_rejects_counts_it_cannot_meet():
    with pytest.raises(ValueError, match="keeps 3 tiles"):
        masks.position_only(np.array([[3]]), 4)


def test_per_layer_scope_shares_the_layer_budget():
    rng = np.random.default_rng()
    stats = rng.random((2, 3, 8, 8)) * masks.causal_tiles(8)
    stats[0, 1] *= 10  # one head carries most of layer 0's mass
    layer = masks.prune_scope(stats, 60, "layer")
    head = masks.prune_scope(stats, 60, "head")
    budget = masks.tile_budget(60, 36)
    assert (layer.sum((1, 2, 3)) == 3 * budget).all()
    assert (head.sum((2, 3)) == budget).all()
    assert layer[..., np.arange(8), np.arange(8)].all()
    assert layer[0, 1].sum() > budget > layer[0, 0].sum()
    # What it keeps is the heaviest of the layer: no dropped causal tile
    # outweighs a kept off-diagonal one.
    off = ~np.eye(8, dtype=bool) & masks.causal_tiles(8)
    kept = stats[0][layer[0] & off]
    dropped = stats[0][~layer[0] & off]
    assert kept.min() >= dropped.max()


def test_head_mask_empties_pruned_heads():
    keep = np.array([[True, False], [False, True]])
    got = masks.head_mask(keep, 4)
    assert not got[0, 1].any() and not got[1, 0].any()
    assert np.array_equal(got[0, 0], masks.causal_tiles(4))


# ---------------------------------------------------------------- seeds

def test_mean_sd_is_the_sample_statistic():
    values = list(np.random.default_rng().normal(3, 1, 5))
    mean, sd, n = aggregate.mean_sd(values + [None])
    assert n == 5
    assert mean == pytest.approx(statistics.mean(values))
    assert sd == pytest.approx(statistics.stdev(values))
    assert aggregate.mean_sd([2.5]) == (2.5, None, 1)
    assert aggregate.mean_sd([None, None]) == (None, None, 0)


def test_paired_rise_and_formatting():
    assert aggregate.paired_relative([2.2, None, 3.0], [2.0, 1.0, 3.0]) == \
        [pytest.approx(0.1), None, 0.0]
    assert aggregate.format_mean_sd([1.0, 3.0]) == "2.000 ± 1.414 (n=2)"
    assert aggregate.format_mean_sd([0.01, 0.03], "{:+.1f}", percent=True) == "+2.0 ± 1.4% (n=2)"
    assert aggregate.format_mean_sd([None]) == "-"
