"""Head budgets (differentiable subset pruning) for the language-model
experiment: a learned importance per head, and a gate that keeps exactly
K heads per layer ("layer" scope) or K in all ("total" scope).

In training the gate is a straight-through Gumbel top-K: the forward
multiplies each head's attention output by the hard top-K indicator of
importance + Gumbel noise (exactly K ones), the backward uses the
gradient of its relaxation, K successive softmaxes over the perturbed
importances with the chosen ones masked out (a soft K-hot vector that
sums to K). The temperature and the noise are annealed so the last steps
train the model under the selection it will keep: the noiseless top K of
the importances. The kept selection becomes a sieve mask whose pruned
heads are empty (block_masks.head_mask), which sieve removes from the
launch.
"""
import torch
import torch.nn as nn


def gumbel_like(x, generator=None):
    u = torch.rand(x.shape, generator=generator, device=x.device).clamp_(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(u))


def relaxed_top_k(scores, k, tau):
    """[..., N] soft K-hot over the last dimension: the sum of K softmaxes
    of scores / tau, each with the mass already taken masked out by
    log(1 - taken). Sums to K; tends to the top-K indicator as tau -> 0."""
    khot = torch.zeros_like(scores)
    logits = scores
    for _ in range(k):
        onehot = torch.softmax(logits / tau, dim=-1)
        khot = khot + onehot
        logits = logits + torch.log1p(-onehot.clamp(max=1 - 1e-6))
    return khot


def hard_top_k(scores, k):
    """[..., N] bool: exactly the K largest of the last dimension (ties to
    the earlier index)."""
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    keep = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    return keep.scatter(-1, order[..., :k], True)


def straight_through_top_k(scores, k, tau):
    """The hard top-K indicator in the forward, the relaxation's gradient
    in the backward."""
    soft = relaxed_top_k(scores, k, tau)
    hard = hard_top_k(scores, k).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly `hard` in value: x - x is 0


class HeadBudget(nn.Module):
    """Importances [L, H] and the exact-K gate over them. scope "layer":
    K of the H heads of every layer; "total": K of all L x H heads."""

    def __init__(self, layers, heads, k, scope):
        super().__init__()
        limit = heads if scope == "layer" else layers * heads
        if scope not in ("layer", "total"):
            raise ValueError(f"unknown head-budget scope {scope!r}: layer or total")
        if not 1 <= k <= limit:
            raise ValueError(f"K = {k} heads {'per layer' if scope == 'layer' else 'in all'}: "
                             f"between 1 and {limit}")
        self.importance = nn.Parameter(torch.zeros(layers, heads))
        self.k, self.scope = k, scope
        self.tau, self.noise = 1.0, 1.0  # set by the trainer each step
        self.generator = None  # the noise's (a torch.Generator on the importances' device)

    def _flat(self, x):
        return x if self.scope == "layer" else x.reshape(1, -1)

    def gates(self):
        """[L, H] gates for a training step: exactly K ones per layer (or in
        all), the relaxation's gradient to the importances."""
        scores = self.importance
        if self.noise > 0:
            scores = scores + self.noise * gumbel_like(scores, self.generator)
        return straight_through_top_k(self._flat(scores), self.k,
                                      self.tau).view_as(self.importance)

    def selection(self):
        """bool [L, H]: the heads kept, the noiseless top K."""
        with torch.no_grad():
            return hard_top_k(self._flat(self.importance), self.k).view_as(self.importance)
