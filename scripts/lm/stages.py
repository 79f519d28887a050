"""The experiment's stage names, from its config (torch-free, so that
report.py can use them too). Stages are grouped by training seed, seed
after seed, so that one device call can finish a seed and only the small
state (results, stats, masks) has to travel to the next call.

Per seed N (sN/...):
  pretrain, eval, calibrate, prune
  finetune/p00/head                   the full causal mask (the fair dense reference)
  finetune/pNN/{head,layer,random,position}   p > 0: the calibrated mask per head and per
                                      layer, a random mask and a position-only mask with
                                      the head mask's tiles per head
  scratch/pNN/{head,position}         trained from scratch under the mask, as long as
                                      pretrain (whose dense model is the reference)
  thresholds/dNN                      learned per-head thresholds, target NN% of the
                                      scores dropped (only the first --sweep-seeds seeds)
  heads/{layer,total}-kK              K heads per layer or in all (the same seeds)
"""

BASE_STAGES = ("pretrain", "eval", "calibrate", "prune")
MASK_KINDS = ("head", "layer", "random", "position")
SCRATCH_KINDS = ("head", "position")


def int_list(text):
    text = str(text).strip()
    return [int(s) for s in text.split(",")] if text else []


def seeds(cfg):
    return int_list(cfg["seeds"])


def sparsities(cfg):
    """p in percent, from the config's "0,50,90" string."""
    return int_list(cfg["sparsities"])


def head_budgets(cfg):
    """[(scope, K)] from "layer-k2,total-k12"."""
    out = []
    for item in filter(None, str(cfg["head_budgets"]).split(",")):
        scope, _, k = item.partition("-k")
        out.append((scope, int(k)))
    return out


def sweep_seeds(cfg):
    return seeds(cfg)[:cfg["sweep_seeds"]]


def seed_stages(cfg, seed):
    pre = f"s{seed}/"
    out = [pre + b for b in BASE_STAGES]
    for p in sparsities(cfg):
        for kind in (("head",) if p == 0 else MASK_KINDS):
            out.append(f"{pre}finetune/p{p:02d}/{kind}")
    for p in int_list(cfg["scratch_sparsities"]):
        out += [f"{pre}scratch/p{p:02d}/{kind}" for kind in SCRATCH_KINDS]
    if seed in sweep_seeds(cfg):
        out += [f"{pre}thresholds/d{t:02d}" for t in int_list(cfg["threshold_targets"])]
        out += [f"{pre}heads/{scope}-k{k}" for scope, k in head_budgets(cfg)]
    return out


def all_stages(cfg):
    return [s for seed in seeds(cfg) for s in seed_stages(cfg, seed)]


def parse(name):
    """(seed, kind, rest): "s2/finetune/p90/head" -> (2, "finetune", ["p90", "head"])."""
    head, kind, *rest = name.split("/")
    return int(head[1:]), kind, rest
