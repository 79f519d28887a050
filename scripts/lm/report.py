#!/usr/bin/env python3
"""Writes docs/lm-pruning-results.md and docs/lm-pruning-results.png from
the language-model experiment's WORK/results.json (scripts/lm/train_lm.py).
Needs neither PyTorch nor numpy: the plot is bench/peers/pngplot.py's.
Every number is a mean ± sample sd over the training seeds that finished
it (n says how many); a cell not run yet shows "-", and the page says
which stages are missing.

usage: report.py RESULTS.json [--md PATH] [--png PATH]
"""
import argparse
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
import pngplot  # noqa: E402
from aggregate import format_mean_sd, mean_sd, paired_relative  # noqa: E402  (beside this file)
from stages import (MASK_KINDS, SCRATCH_KINDS, all_stages, head_budgets, int_list,  # noqa: E402
                    seeds, sparsities, sweep_seeds)

TARGET_RISE = 0.05  # issue 25: at p = 90, validation perplexity within +5% of p = 0
KIND_TEXT = {"head": "calibrated, per head", "layer": "calibrated, per layer",
             "random": "random", "position": "position-only (sink + window)"}
COLORS = {"head": 0, "layer": 1, "random": 3, "position": 4}  # pngplot palette indices


def stage(res, name):
    s = res["stages"].get(name, {})
    return s if s.get("done") else None


def per_seed(res, suffix, key="val_ppl", seed_list=None):
    """[value of stage sN/suffix, per seed] (None where not done)."""
    out = []
    for seed in seed_list or seeds(res["config"]):
        s = stage(res, f"s{seed}/{suffix}")
        value = s
        for part in key.split("."):
            value = None if value is None else value.get(part)
        out.append(value)
    return out


def cell(values, fmt="{:.3f}", percent=False):
    return format_mean_sd(values, fmt, percent)


def rise(res, suffix, seed_list=None):
    """Per seed, the perplexity of sN/suffix over that seed's p = 0 run, - 1."""
    return paired_relative(per_seed(res, suffix, seed_list=seed_list),
                           per_seed(res, "finetune/p00/head", seed_list=seed_list))


def masks_table(res):
    cfg = res["config"]
    lines = ["| p | tiles kept (of causal) | mass kept: " + " / ".join(MASK_KINDS) + " | " +
             " | ".join(f"val ppl, {KIND_TEXT[k]}" for k in MASK_KINDS) +
             " | rise over p = 0: " + " / ".join(MASK_KINDS) + " |",
             "|---|---|---|" + "---|" * len(MASK_KINDS) + "---|"]
    for p in sparsities(cfg):
        tag = f"p{p:02d}"
        kinds = ("head",) if p == 0 else MASK_KINDS
        summary = [s["masks"].get(tag, {}) if s else {} for s in
                   (stage(res, f"s{seed}/prune") for seed in seeds(cfg))]
        density = cell([m.get("head", {}).get("density_causal") for m in summary], "{:.1f}",
                       percent=True)
        mass = " / ".join(format_mean_sd([m.get(k, {}).get("mass_retained") for m in summary],
                                         "{:.1f}", percent=True).split(" (")[0] for k in kinds)
        ppls = [cell(per_seed(res, f"finetune/{tag}/{k}")) if k in kinds else "(the same mask)"
                for k in MASK_KINDS]
        rises = " / ".join(cell(rise(res, f"finetune/{tag}/{k}"), "{:+.1f}", percent=True)
                           .split(" (")[0] for k in kinds)
        lines.append(f"| {p} | {density} | {mass} | " + " | ".join(ppls) + f" | {rises} |")
    return "\n".join(lines)


def target_verdict(rises):
    """(mean, sd, n, verdict, mean + sd) of paired rises against the +5%
    target, error bars included; mean None when there are none."""
    mean, sd, n = mean_sd(rises)
    if mean is None:
        return None, None, 0, "", None
    upper = mean + (sd or 0)
    verdict = ("within" if upper <= TARGET_RISE else
               "not within" if mean - (sd or 0) > TARGET_RISE else "not clearly within")
    return mean, sd or 0, n, verdict, upper


def target_text(res):
    """Whether the calibrated per-head mask at p = 90 is within +5% of
    p = 0, error bars included (mean + sd of the paired rise): fine-tuned,
    and trained from scratch under the mask when the run has it."""
    cfg = res["config"]
    if 90 not in sparsities(cfg):
        return "p = 90 is not in this run's sparsities."
    mean, sd, n, verdict, upper = target_verdict(rise(res, "finetune/p90/head"))
    if mean is None:
        return "**Pending**: the p = 90 runs have not finished."
    text = (f"At p = 90 the calibrated per-head mask's perplexity is {mean:+.1%} ± "
            f"{sd:.1%} (n={n}) over the p = 0 run of the same seed: **{verdict}** the "
            f"+{TARGET_RISE:.0%} target (mean + sd = {upper:+.1%}).")
    if 90 in int_list(cfg["scratch_sparsities"]):
        mean, sd, n, verdict, upper = target_verdict(rise(res, "scratch/p90/head"))
        if mean is not None:
            text += (f" Trained from scratch under that mask instead of fine-tuned, it is "
                     f"{mean:+.1%} ± {sd:.1%} (n={n}) over the same p = 0 run: **{verdict}** "
                     f"the target (mean + sd = {upper:+.1%}). So {cfg['finetune_steps']} fine-tuning "
                     f"steps are too few for the dense model to adapt to the mask, and "
                     f"{cfg['pretrain_steps']} steps trained under it are enough.")
    return text


# Two-sided 95% Student t quantiles by degrees of freedom (n - 1 seeds).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228}


def paired_interval(diffs):
    """(mean, low, high, n) of per-seed differences: the mean with its 95%
    t-interval over the seeds (low = high = mean with one seed)."""
    mean, sd, n = mean_sd(diffs)
    if mean is None:
        return None, None, None, 0
    half = T95.get(n - 1, 1.96) * sd / math.sqrt(n) if sd is not None else 0.0
    return mean, mean - half, mean + half, n


def baseline_cell(res, tag, kind, baseline):
    """The data mask `kind` against `baseline` at sparsity tag: the paired
    relative perplexity difference and whether it beats the baseline."""
    diffs = paired_relative(per_seed(res, f"finetune/{tag}/{kind}"),
                            per_seed(res, f"finetune/{tag}/{baseline}"))
    mean, low, high, n = paired_interval(diffs)
    if mean is None:
        return "-", None
    verdict = ("beats" if high < 0 else "loses" if low > 0 else "within error bars")
    return f"{mean:+.1%} [{low:+.1%}, {high:+.1%}] (n={n}) {verdict}", verdict


def baselines_text(res):
    """Where the calibrated masks beat the random and the position-only
    masks by more than the error bars: per seed the data mask's validation
    perplexity over the baseline's, - 1, with its 95% t-interval over the
    seeds (both fine-tuned from the same seed's dense model)."""
    cfg = res["config"]
    lines = ["| p | calibrated mask | vs random | vs position-only (sink + window) |",
             "|---|---|---|---|"]
    both, notboth = [], []
    for p in sparsities(cfg):
        if p == 0:
            continue
        tag = f"p{p:02d}"
        for kind in ("head", "layer"):
            random_cell, random_verdict = baseline_cell(res, tag, kind, "random")
            position_cell, position_verdict = baseline_cell(res, tag, kind, "position")
            lines.append(f"| {p} | {KIND_TEXT[kind]} | {random_cell} | {position_cell} |")
            name = f"p = {p} ({'per head' if kind == 'head' else 'per layer'})"
            if random_verdict == position_verdict == "beats":
                both.append(name)
            elif random_verdict is not None:
                notboth.append(f"{name}: vs random {random_verdict}, vs position-only "
                               f"{position_verdict}")
    summary = ("The calibrated mask beats both baselines by more than the error bars at " +
               (", ".join(both) if both else "no p") + ".")
    if notboth:
        summary += " Elsewhere: " + "; ".join(notboth) + "."
    return ("Paired by seed, the calibrated mask's validation perplexity over the baseline's, "
            "- 1 (below 0: the calibrated mask is better), with its 95% t-interval over the "
            "seeds; *beats* when the interval lies below 0.\n\n" + "\n".join(lines) +
            "\n\n" + summary)


def scratch_table(res):
    cfg = res["config"]
    dense = per_seed(res, "eval")
    lines = ["| p | mask | val ppl, trained from scratch under the mask | dense model (same steps) "
             "| rise over dense | val ppl, fine-tuned under the mask |",
             "|---|---|---|---|---|---|"]
    for p in int_list(cfg["scratch_sparsities"]):
        for kind in SCRATCH_KINDS:
            name = f"scratch/p{p:02d}/{kind}"
            lines.append(f"| {p} | {KIND_TEXT[kind]} | {cell(per_seed(res, name))} | "
                         f"{cell(dense)} | "
                         f"{cell(paired_relative(per_seed(res, name), dense), '{:+.1f}', True)} | "
                         f"{cell(per_seed(res, f'finetune/p{p:02d}/{kind}'))} |")
    return "\n".join(lines)


def thresholds_table(res):
    cfg = res["config"]
    sw = sweep_seeds(cfg)
    lines = ["| target dropped | scores dropped | tiles dropped | val ppl | rise over p = 0 "
             "| attention: plain kernel | threshold mode, nothing dropped | learned theta "
             "| speedup over plain | SDPA |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for t in int_list(cfg["threshold_targets"]):
        name = f"thresholds/d{t:02d}"

        def col(key, fmt="{:.3f}", percent=False):
            return cell(per_seed(res, name, key, sw), fmt, percent)

        ms = "{:.3f}"
        lines.append(f"| {t}% | {col('scores_dropped', '{:.1f}', True)} | "
                     f"{col('tiles_dropped', '{:.1f}', True)} | {col('val_ppl')} | "
                     f"{cell(rise(res, name, sw), '{:+.1f}', True)} | "
                     + " | ".join(cell([None if v is None else v * 1e3 for v in
                                        per_seed(res, name, f"timing.{k}", sw)], ms) + " ms"
                                  for k in ("plain_s", "threshold_none_s", "threshold_s"))
                     + f" | {col('timing.speedup_vs_plain', '{:.2f}')}x | "
                     + cell([None if v is None else v * 1e3 for v in
                             per_seed(res, name, "timing.sdpa_s", sw)], ms) + " ms |")
    return "\n".join(lines)


def heads_table(res):
    cfg = res["config"]
    sw = sweep_seeds(cfg)
    lines = ["| budget | heads kept | val ppl, selected (before fine-tuning) | val ppl | rise over "
             "p = 0 | attention: all heads | kept heads only | speedup |",
             "|---|---|---|---|---|---|---|---|"]
    for scope, k in head_budgets(cfg):
        name = f"heads/{scope}-k{k}"
        text = f"{k} per layer" if scope == "layer" else f"{k} in all"
        times = [cell([None if v is None else v * 1e3 for v in
                       per_seed(res, name, f"timing.{key}", sw)]) + " ms"
                 for key in ("all_heads_s", "kept_heads_s")]
        lines.append(f"| {text} | {cell(per_seed(res, name, 'heads_kept', sw), '{:.0f}')} | "
                     f"{cell(per_seed(res, name, 'val_ppl_selected', sw))} | "
                     f"{cell(per_seed(res, name, seed_list=sw))} | "
                     f"{cell(rise(res, name, sw), '{:+.1f}', True)} | {times[0]} | {times[1]} | "
                     f"{cell(per_seed(res, name, 'timing.speedup', sw), '{:.2f}')}x |")
    return "\n".join(lines)


def plot(res, path):
    """Left: perplexity against p per mask kind (seed means); right: the
    learned thresholds' perplexity against the fraction of scores dropped.
    Returns False when no fine-tuning has finished."""
    cfg = res["config"]
    series = []
    for kind in MASK_KINDS:
        pts = []
        for p in sparsities(cfg):
            m = mean_sd(per_seed(res, f"finetune/p{p:02d}/{'head' if p == 0 else kind}"))[0]
            if m is not None:
                pts.append((p, m))
        if pts:
            series.append({"label": kind, "color": COLORS[kind], "points": pts})
    if not series:
        return False
    panels = [{"title": "VALIDATION PERPLEXITY (BYTES)", "xlabel": "P (% OF CAUSAL TILES PRUNED)",
               "ylabel": "PPL", "xticks": sparsities(cfg), "series": series}]
    sw = sweep_seeds(cfg)
    pts = []
    for t in int_list(cfg["threshold_targets"]):
        x = mean_sd(per_seed(res, f"thresholds/d{t:02d}", "scores_dropped", sw))[0]
        y = mean_sd(per_seed(res, f"thresholds/d{t:02d}", seed_list=sw))[0]
        if x is not None and y is not None:
            pts.append((100 * x, y))
    if pts:
        panels.append({"title": "LEARNED THRESHOLDS", "xlabel": "% OF CAUSAL SCORES DROPPED",
                       "ylabel": "PPL", "series": [{"label": "theta", "color": 2,
                                                    "points": pts}]})
    legend = [(KIND_TEXT[k].upper(), COLORS[k], 0) for k in MASK_KINDS]
    pngplot.chart(path, panels, title="ATTENTION PRUNING: BYTE-LEVEL LM", legend=legend,
                  cols=2, panel_w=520, panel_h=360)
    return True


def status(res):
    names = all_stages(res["config"])
    missing = [n for n in names if not res["stages"].get(n, {}).get("done")]
    calls = res.get("calls", [])
    if not missing:
        return (f"All {len(names)} stages done, in {len(calls)} call(s) of "
                f"{sum(c.get('wall_s', 0) for c in calls):.0f} s in all.")
    return (f"**Pending the GPU run: {len(names) - len(missing)} of {len(names)} stages done** "
            f"(next: `{missing[0]}`); cells not run yet show \"-\". No number on this page is "
            "estimated: each comes from WORK/results.json.")


def corpus_text(res):
    c = res.get("corpus")
    if not c or "sources" not in c:
        return ("- **Corpus**: not recorded yet (`scripts/lm/corpus.py` says what it holds: the "
                "King James Bible, GCIDE and the Jargon File from Debian packages).")
    parts = []
    for name, s in c["sources"].items():
        pk = ", ".join(f"`{p}` {v}" for p, v in s["packages"].items())
        parts.append(f"{s['title']} ({s['license']}; {pk}; {s['train_bytes']:,} + "
                     f"{s['val_bytes']:,} bytes)")
    f = c["files"]
    return ("- **Corpus**: " + "; ".join(parts) + f". {c['tokens']}; split: {c['split']}: "
            f"**{f['train']['bytes']:,} bytes train, {f['val']['bytes']:,} bytes validation**.")


def setup(res):
    cfg = res["config"]
    nb = cfg["context"] // cfg["block"]
    causal = nb * (nb + 1) // 2
    step = cfg["batch"] * cfg["context"]
    return "\n".join([
        corpus_text(res),
        f"- **Seeds**: {cfg['seeds']} (initial weights, batches, random masks); learned "
        f"thresholds and head budgets on the first {cfg['sweep_seeds']}. Cells are mean ± "
        "sample sd over seeds; a rise is paired: each seed against its own p = 0 run.",
        f"- **Model**: causal byte-level transformer, {cfg['layers']} layers, d_model "
        f"{cfg['d_model']}, {cfg['heads']} heads of {cfg['d_model'] // cfg['heads']}, context "
        f"{cfg['context']}, pre-LN, learned positions, tied embeddings; bf16 autocast on the GPU.",
        f"- **Dense pretraining**: {cfg['pretrain_steps']} steps of {cfg['batch']} x "
        f"{cfg['context']} bytes ({cfg['pretrain_steps'] * step / 1e6:.1f} M bytes, under one "
        f"pass over the training split), AdamW (0.9, 0.95, weight decay {cfg['weight_decay']}), "
        f"peak LR {cfg['pretrain_lr']}, {cfg['pretrain_warmup']} warmup steps, cosine to a tenth.",
        f"- **Calibration**: the dense model over {cfg['calib_windows']} train windows; per "
        f"layer, head and {cfg['block']}x{cfg['block']} tile the softmax mass (sieve's "
        f"calibration kernel); {causal} causal tiles a head.",
        f"- **Masks** at p: per head, round((1 - p) x {causal}) causal tiles, the {nb} diagonal "
        "tiles always. *Per head*: the rest by calibrated mass (`sieve prune --scope head "
        "--keep-diagonal`). *Per layer*: the layer's heads share their budget by mass (the "
        "paper's scope). *Random*: the head mask's count per head, uniform. *Position-only*: "
        "the same count per head: diagonal, then the sink (key block 0), then the local "
        "window's bands, no calibration. The LM runs full windows, so the density of the work "
        "run equals the mask's.",
        f"- **Fine-tuning**: from the dense weights, {cfg['finetune_steps']} steps per mask on "
        f"the same batches, peak LR {cfg['finetune_lr']}, under sieve's op. **From scratch**: "
        f"the pretraining schedule and batches under the mask; its reference is the dense "
        "checkpoint (the same steps).",
        f"- **Learned thresholds**: theta per layer and head, starting at each head's target "
        f"quantile of the first batch's scores; {cfg['threshold_steps']} steps with the soft "
        f"gate sigmoid((s - theta) / tau) (tau {cfg['threshold_tau_start']} -> "
        f"{cfg['threshold_tau_end']} score sd of the head, geometric; a row scaled by its chance "
        f"of keeping a key) and the regularizer {cfg['threshold_weight']} x relu(target - soft "
        f"dropped fraction), theta's LR {cfg['threshold_lr']} score sd; then theta fixed and "
        f"{cfg['threshold_hard_steps']} steps in sieve's threshold mode (hard). Dropped "
        "fractions are measured on the validation windows that are timed.",
        f"- **Head budgets**: an importance per head; {cfg['head_select_steps']} steps with the "
        f"straight-through Gumbel top-K gate (exactly K heads; tau {cfg['head_tau_start']} -> "
        f"{cfg['head_tau_end']}, noise annealed to none), then the kept heads as a sieve mask "
        f"with the pruned heads empty and {cfg['head_finetune_steps']} steps under it.",
        f"- **Timing**: every layer's attention for {cfg['time_windows']} validation windows "
        "(the model's own q, k, v), median of 10 (CUDA events on the GPU); sieve under the "
        "full causal "
        "mask is the plain kernel.",
        "- **Validation perplexity**: exp(mean cross-entropy per byte) over "
        + ("all" if not cfg["eval_windows"] else f"the first {cfg['eval_windows']}")
        + f" consecutive {cfg['context']}-byte windows of the validation split.",
        f"- **Device**: {res.get('device', 'not recorded yet')}"
        + "".join(f", {k} {v}" for k, v in res.get("versions", {}).items()) + ".",
    ])


def command_flags(cfg):
    """train_lm.py's flags for the recorded config: its keys are the flag names."""
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in cfg.items())


def page(res, have_plot, png_name):
    plot_line = f"\n![perplexity against p](./{png_name})\n" if have_plot else ""
    return f"""# Attention pruning on a small language model

A causal byte-level transformer trained dense on three Debian text packages,
calibrated, pruned at each p with four masks of the same tiles per head,
fine-tuned (and trained from scratch) under each, over several training
seeds; then learned per-head score thresholds deployed in sieve's threshold
mode, and learned head budgets deployed as sieve masks with empty heads.
{status(res)}

## Fixed masks (issue 25, point 3)

{masks_table(res)}

{target_text(res)}

### The calibrated masks against the baselines

{baselines_text(res)}

### Trained from scratch under the mask

{scratch_table(res)}
{plot_line}
## Learned thresholds (point 4)

{thresholds_table(res)}

## Head budgets (point 5)

{heads_table(res)}

## Setup

{setup(res)}

## Reproduce

The GPU has no network: the corpus is extracted here and carried. A call of
at most 10 minutes runs the next unfinished stages within its budget and
exports the state a later call needs (results, each seed's stats and masks,
and the dense weights, as bf16 shards under 16 MiB, of a seed with stages
left); copy that back into the work folder and call again until it says
"all stages done". Stages run seed after seed, so a call usually ends with
a seed finished and carries no weights.

```sh
scripts/install-deps.sh                       # bible-kjv(-text), dict-gcide, jargon-text
scripts/lm-table.sh --prepare .carry/lm       # the corpus, xz-compressed, into the carry
SIEVE_CARRY=python tests/device/build.sh      # the sieve module for the device's Python
scripts/lm-table.sh .carry/lm/work --plan     # the stages, their estimates and the calls
# on the GPU, carrying .carry (device/ and lm/), once per call:
pkg=/tmp/sieve-python && mkdir -p $pkg && cp -r .carry/device/python/sieve $pkg/ &&
  for f in .carry/device/_sieve*.so.xz; do xz -dc $f > $pkg/sieve/$(basename $f .xz); done
SIEVE_PYTHONPATH=$pkg scripts/lm-table.sh .carry/lm/work --budget-seconds 540 \\
    --export "$OUT/lm-work"
# here, after each call: copy the exported lm-work/* into .carry/lm/work/; at the end
scripts/lm-table.sh --report .carry/lm/work   # this page and its plot
```

The flags of this run (train_lm.py's defaults unless given):

```
{command_flags(res["config"])}
```

More training seeds extend the same experiment: start the work folder
from the committed `docs/results/lm/results.json` and give the longer
list, e.g. `--seeds 1,2,3,4,5`; the recorded seeds' stages are done, and
only the new seeds' run (about 100 s a seed on an H100 at these flags).
Any other change of flags is refused as another experiment.

The exit status is 0 once every stage is done and 3 while stages are
left. Each stage must fit one call (a stopped stage's optimizer state
does not travel): at the measured speed a call refuses one that cannot.
`--plan` lists the stages with their estimated seconds (from the speeds
measured so far, else the H200's) and packs them into calls.
`WORK/results.json` holds every number above, the loss curves, the wall
time of each stage and each call. The run this page shows is committed as
`docs/results/lm/results.json`: `scripts/lm-table.sh --report
docs/results/lm` rewrites the page (and its plot) from it.

## Before this experiment

One seed on the King James Bible alone (3.9 MB; 64 validation windows):
the calibrated per-head mask at p = 90 reached 2.816 against 2.635 at
p = 0 (+6.9%), the random mask 3.015; a longer run memorized that corpus.
Those numbers are in this page's git history; they had no error bars, no
per-layer scope, no position-only baseline and no training from scratch.
"""


# The page's sections after this line are written by hand (measurements the
# stages do not make); a report keeps them as they are.
KEPT_MARKER = "<!-- Sections below are written by hand: scripts/lm/report.py keeps them. -->"


def kept_sections(path):
    """The hand-written tail of the page at `path` (from KEPT_MARKER on), or ""."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    at = text.find(KEPT_MARKER)
    return text[at:] if at >= 0 else ""


def write_atomically(path, text):
    """Writes `text` to `path` through a temporary name in the same folder,
    so an interrupted report leaves the old page whole."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--md", default=os.path.join(ROOT, "docs", "lm-pruning-results.md"))
    parser.add_argument("--png", default=os.path.join(ROOT, "docs", "lm-pruning-results.png"))
    args = parser.parse_args()
    with open(args.results) as f:
        res = json.load(f)
    have_plot = plot(res, args.png)
    rel = os.path.relpath(args.png, os.path.dirname(os.path.abspath(args.md)))
    kept = kept_sections(args.md)
    write_atomically(args.md, page(res, have_plot, rel) + ("\n" + kept if kept else ""))
    print(f"report: wrote {args.md}" + (f" and {args.png}" if have_plot else " (no plot yet)"))


if __name__ == "__main__":
    main()
