"""The experiment's stage names, from its config (torch-free, so that
report.py can use them too)."""

BASE_STAGES = ("pretrain", "eval", "calibrate", "prune", "finetune")


def sparsities(cfg):
    """p in percent, from the config's "0,20,40" string."""
    return [int(s) for s in str(cfg["sparsities"]).split(",")]


def finetune_stages(cfg):
    """finetune/pNN/pruned and /random, p by p, so a partial run still
    fills whole table rows; at p = 0 both masks are the full causal mask,
    so only one run."""
    out = []
    for p in sparsities(cfg):
        out.append(f"finetune/p{p:02d}/pruned")
        if p > 0:
            out.append(f"finetune/p{p:02d}/random")
    return out


def all_stages(cfg):
    return [s for base in BASE_STAGES
            for s in (finetune_stages(cfg) if base == "finetune" else [base])]
