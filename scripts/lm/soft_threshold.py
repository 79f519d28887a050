"""Learned per-head score thresholds (learned run-time pruning) for the
language-model experiment: the soft, differentiable gate used in training
and the regularizer that pushes the dropped fraction up.

sieve's threshold mode drops a score s = scale * q . k when s < theta[h]
(the hard rule; a row with no key left gives zeros). Training needs a
gradient for theta, so it multiplies each probability's numerator by a
gate sigmoid((s - theta) / tau), i.e. adds log sigmoid((s - theta) / tau)
to the logit: as tau -> 0 that is 0 above theta and -inf below, the hard
rule (and a row's output is scaled by the soft chance that it keeps any
key, so a row that loses all tends to zeros, as in the kernel). tau is
annealed geometrically from --threshold-tau-start to --threshold-tau-end;
the deployed model runs the hard rule in sieve's kernel. The regularizer
is weight * relu(target - d), d the soft dropped fraction (mean of
sigmoid((theta - s) / tau) over the causal scores of every layer and
head): it pushes d up to the target and no further, so a sweep over
targets gives points along the quality-sparsity curve while the trainer
learns how to share the drops between heads.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def scores_of(q, k):
    """[B, H, S, S] scaled scores scale * q . k (scale 1/sqrt(D)), in f32
    (f64 for f64 inputs)."""
    dtype = torch.promote_types(q.dtype, torch.float32)
    # Not under autocast's bf16: theta is compared with f32 scores, as in
    # the kernel (bf16 would move a score by up to 1/128 of itself).
    with torch.autocast(q.device.type, enabled=False):
        return (q.to(dtype) @ k.to(dtype).transpose(-1, -2)) * q.shape[-1] ** -0.5


def is_hard(tau):
    return not torch.is_tensor(tau) and tau == 0


def per_head(tau, scores):
    """tau as a number or [H], shaped to divide [B, H, S, S] scores."""
    return tau.view(1, -1, 1, 1).to(scores.dtype) if torch.is_tensor(tau) else tau


def gate_logit(scores, theta, tau):
    """What the gate adds to each logit: log sigmoid((s - theta) / tau),
    theta [H]; tau = 0 is the hard rule: 0 where s >= theta, -inf under."""
    theta = theta.view(1, -1, 1, 1).to(scores.dtype)
    if is_hard(tau):
        return torch.where(scores >= theta, 0.0, float("-inf")).to(scores.dtype)
    return F.logsigmoid((scores - theta) / per_head(tau, scores))


def soft_dropped(scores, theta, tau, allowed):
    """[H]: the soft dropped fraction sigmoid((theta - s) / tau) averaged
    over the allowed scores (the hard fraction when tau = 0); `allowed`
    [S, S] or [H, S, S]."""
    theta = theta.view(1, -1, 1, 1).to(scores.dtype)
    if is_hard(tau):
        dropped = (scores < theta).to(scores.dtype)
    else:
        dropped = torch.sigmoid((theta - scores) / per_head(tau, scores))
    allowed = allowed.expand_as(scores)
    return (dropped * allowed).sum((0, 2, 3)) / allowed.sum((0, 2, 3))


def masked_softmax_rows(logits, allowed):
    """softmax over each row's allowed, finite logits; zeros for a row with
    none (sieve's rule), with finite gradients there."""
    logits = logits.masked_fill(~allowed, float("-inf"))
    top = logits.amax(-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = torch.exp(logits - top)
    total = weights.sum(-1, keepdim=True)
    return weights / torch.where(total > 0, total, torch.ones_like(total))


def row_kept(scores, theta, tau, allowed):
    """[B, H, S, 1]: the soft probability that a row keeps any key,
    1 - prod(1 - gate) over its allowed scores. Without it a row whose
    every score is under theta would tend to a one-hot softmax at its top
    score, not to the hard rule's zeros."""
    theta = theta.view(1, -1, 1, 1).to(scores.dtype)
    log_none = (F.logsigmoid((theta - scores) / per_head(tau, scores)) * allowed).sum(
        -1, keepdim=True)
    return -torch.expm1(log_none)


def threshold_attention(q, k, v, theta, tau, allowed):
    """(out [B, H, S, D], soft dropped fraction [H]): attention with the
    threshold gate (tau a number, 0 for the hard rule, or [H]), `allowed`
    the [S, S] (or [H, S, S]) element mask; as
    tau -> 0 it tends to the hard rule, rows with no key left included."""
    scores = scores_of(q, k)
    probs = masked_softmax_rows(scores + gate_logit(scores, theta, tau), allowed)
    if not is_hard(tau):
        probs = probs * row_kept(scores, theta, tau, allowed)
    return (probs.to(v.dtype) @ v), soft_dropped(scores, theta, tau, allowed)


def regularizer(dropped, target, weight):
    """weight * relu(target - mean dropped fraction): zero once the soft
    dropped fraction reaches the target; its gradient raises theta."""
    return weight * F.relu(target - torch.stack(list(dropped)).mean())


def tau_at(step, steps, start, end):
    """Geometric annealing from `start` at step 0 to `end` at the last step."""
    if steps <= 1:
        return end
    return start * (end / start) ** (min(step, steps - 1) / (steps - 1))


class ThresholdAttention(nn.Module):
    """A model attention core (model.py's interface) with learnable theta
    [H] under the causal mask; `tau` is set by the trainer (0: hard). theta
    is center + spread x offset, offset the parameter: a learning rate is
    then in units of each head's score spread, whatever the model's score
    scale. The soft dropped fraction of the last forward stays in `dropped`."""

    def __init__(self, heads, seq, center, spread=None):
        super().__init__()
        center = torch.as_tensor(center, dtype=torch.float32).detach().clone()
        spread = torch.ones(heads) if spread is None else torch.as_tensor(spread)
        self.register_buffer("center", center.reshape(heads))
        self.register_buffer("spread", spread.float().detach().clone().reshape(heads))
        self.offset = nn.Parameter(torch.zeros(heads))
        self.register_buffer("allowed", torch.ones(seq, seq, dtype=torch.bool).tril(),
                             persistent=False)
        self.tau = 1.0
        self.dropped = None

    @property
    def theta(self):
        return self.center + self.spread * self.offset

    def forward(self, q, k, v):
        seq = q.shape[-2]
        # tau is in the same units as theta: the trainer's schedule times the spread.
        tau = self.tau * self.spread if self.tau else 0
        out, self.dropped = threshold_attention(q, k, v, self.theta, tau,
                                                self.allowed[:seq, :seq])
        return out


@torch.no_grad()
def quantile_thresholds(q, k, fraction, sample=1 << 20, generator=None):
    """[H]: per head, the `fraction` quantile of its causal scores (from at
    most `sample` of them): a theta that drops about that fraction, the
    trainer's starting point."""
    scores = scores_of(q, k)
    seq = scores.shape[-1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=scores.device).tril()
    out = []
    for h in range(scores.shape[1]):
        values = scores[:, h][:, causal]
        values = values.reshape(-1)
        if values.numel() > sample:
            pick = torch.randint(values.numel(), (sample,), device=values.device,
                                 generator=generator)
            values = values[pick]
        out.append(torch.quantile(values, fraction))
    return torch.stack(out)


@torch.no_grad()
def score_spread(q, k):
    """[H]: the standard deviation of each head's causal scores."""
    scores = scores_of(q, k)
    seq = scores.shape[-1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=scores.device).tril()
    return torch.stack([scores[:, h][:, causal].std() for h in range(scores.shape[1])])


def drop_fractions(q, k, theta, block):
    """(fraction of causal scores under theta, fraction of causal
    block x block tiles all of whose causal scores are under it), per
    head [H] each: what the kernel can skip."""
    scores = scores_of(q, k)
    batch, heads, seq, _ = scores.shape
    causal = torch.ones(seq, seq, dtype=torch.bool, device=scores.device).tril()
    dropped = (scores < theta.view(1, -1, 1, 1).to(scores.device)) | ~causal
    score_frac = (dropped & causal).sum((0, 2, 3)).double() / (batch * causal.sum())
    nb = seq // block
    tiles = dropped.view(batch, heads, nb, block, nb, block).all(5).all(3)
    causal_tiles = torch.ones(nb, nb, dtype=torch.bool, device=scores.device).tril()
    tile_frac = (tiles & causal_tiles).sum((0, 2, 3)).double() / (batch * causal_tiles.sum())
    return score_frac, tile_frac
