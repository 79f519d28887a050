#!/usr/bin/env python3
"""Writes docs/lm-pruning-results.md and docs/lm-pruning-results.png from
the language-model experiment's WORK/results.json (scripts/lm/train_lm.py).
Needs neither PyTorch nor numpy: the plot is bench/peers/pngplot.py's.
Stages not run yet show as "-" and the page says what is missing.

usage: report.py RESULTS.json [--md PATH] [--png PATH]
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
import pngplot  # noqa: E402
from stages import all_stages, sparsities  # noqa: E402  (beside this file)

PRUNED, RANDOM, DENSE, CONTINUED = 0, 3, 7, 2  # pngplot palette indices


def table_rows(res):
    """Per p: (p, pruned stage record, random stage record, mask summaries).
    At p = 0 both masks are the full causal mask: one run stands for both."""
    stages = res["stages"]
    masks = stages.get("prune", {}).get("masks", {})
    out = []
    for p in sparsities(res["config"]):
        tag = f"p{p:02d}"
        pruned = stages.get(f"finetune/{tag}/pruned", {})
        random = pruned if p == 0 else stages.get(f"finetune/{tag}/random", {})
        out.append((p, pruned if pruned.get("done") else None,
                    random if random.get("done") else None, masks.get(tag, {})))
    return out


def cell(value, fmt="{:.3f}"):
    return "-" if value is None else fmt.format(value)


def ppl(record):
    return None if record is None else record.get("val_ppl")


def random_cell(p, record):
    """The random mask's perplexity; where it is the calibrated mask itself
    (p = 0, or only the diagonal left) the run was shared, and it says so."""
    if record is not None and (p == 0 or record.get("same_mask_as")):
        return f"{cell(ppl(record))} (same mask)"
    return cell(ppl(record))


def table(res):
    rows = table_rows(res)
    dense = res["stages"].get("eval", {}).get("val_ppl")
    base = ppl(rows[0][1]) if rows and rows[0][0] == 0 else None
    lines = ["| p (% of causal tiles pruned) | tiles kept (of causal) "
             "| mass kept: calibrated / random | val ppl, calibrated mask | val ppl, random mask "
             "| vs p = 0: calibrated / random | dense checkpoint |",
             "|---|---|---|---|---|---|---|"]
    for p, pruned, random, masks in rows:
        m = masks.get("pruned", {})
        mass_random = masks.get("random", m).get("mass_retained")
        diff = "-"
        if base is not None and ppl(pruned) is not None:
            diff = f"{ppl(pruned) - base:+.3f} / " + cell(
                None if ppl(random) is None else ppl(random) - base, "{:+.3f}")
        lines.append(f"| {p} | {cell(m.get('density_causal'), '{:.1%}')} | "
                     f"{cell(m.get('mass_retained'), '{:.1%}')} / {cell(mass_random, '{:.1%}')} | "
                     f"{cell(ppl(pruned))} | {random_cell(p, random)} | {diff} | {cell(dense)} |")
    return "\n".join(lines)


def plot(res, path):
    """Perplexity against p, both masks, the dense checkpoint and the p = 0
    run as dashed lines; right: the rise over the p = 0 run. Returns False
    when no fine-tuning has finished."""
    rows = table_rows(res)
    pruned = [(p, ppl(a)) for p, a, _, _ in rows if ppl(a) is not None]
    random = [(p, ppl(b)) for p, _, b, _ in rows if ppl(b) is not None]
    if not pruned:
        return False
    ps = [p for p, *_ in rows]
    dense = res["stages"].get("eval", {}).get("val_ppl")
    base = dict(pruned).get(0)
    series = [{"label": "calibrated", "color": PRUNED, "points": pruned},
              {"label": "random", "color": RANDOM, "points": random}]
    if dense is not None:
        series.append({"label": "dense", "color": DENSE, "dash": 6,
                       "points": [(ps[0], dense), (ps[-1], dense)]})
    panels = [{"title": "VALIDATION PERPLEXITY (BYTES)", "xlabel": "P (% OF CAUSAL TILES PRUNED)",
               "ylabel": "PPL", "logy": True, "xticks": ps, "series": series}]
    if base is not None:
        rise = [{"label": s["label"], "color": s["color"],
                 "points": [(p, v - base) for p, v in s["points"]]} for s in series[:2]]
        rise.append({"label": "p = 0", "color": CONTINUED, "dash": 6,
                     "points": [(ps[0], 0.0), (ps[-1], 0.0)]})
        panels.append({"title": "RISE OVER THE P = 0 RUN", "xlabel": "P (% OF CAUSAL TILES PRUNED)",
                       "ylabel": "PPL - PPL(P=0)", "xticks": ps, "series": rise})
    legend = [("CALIBRATED MASK", PRUNED, 0), ("RANDOM MASK, SAME TILES PER HEAD", RANDOM, 0),
              ("DENSE CHECKPOINT", DENSE, 6)] + ([("P = 0 (SAME FINE-TUNE STEPS)", CONTINUED, 6)]
                                                 if base is not None else [])
    pngplot.chart(path, panels, title="ATTENTION PRUNING: BYTE-LEVEL LM ON THE KJV BIBLE",
                  legend=legend, cols=2, panel_w=520, panel_h=360)
    return True


def command_flags(cfg):
    """train_lm.py's flags for the recorded config: its keys are the flag names."""
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in cfg.items())


def corpus_text(res):
    c = res.get("corpus")
    if not c:
        return "- **Corpus**: not recorded (no stage has run yet)."
    pk = ", ".join(f"`{name}` {version}" for name, version in c["packages"].items())
    f = c["files"]
    return (f"- **Corpus**: {c['corpus']}, from Debian's {pk} (`{c['source']}`); "
            f"{c['tokens']}. {c['chapters']} chapters; split: {c['split']} "
            f"({c['validation_chapters']} chapters): **{f['train']['bytes']:,} bytes train, "
            f"{f['val']['bytes']:,} bytes validation**.")


def setup(res):
    cfg, st = res["config"], res["stages"]
    pre, cal, ev = st.get("pretrain", {}), st.get("calibrate", {}), st.get("eval", {})
    params = pre.get("parameters")
    tokens_step = cfg["batch"] * cfg["context"]
    nb = cfg["context"] // cfg["block"]
    causal = nb * (nb + 1) // 2
    ft = [s for k, s in st.items()
          if k.startswith("finetune/") and s.get("done") and not s.get("same_mask_as")]
    lines = [
        corpus_text(res),
        f"- **Model**: causal byte-level transformer, {cfg['layers']} layers, d_model "
        f"{cfg['d_model']}, {cfg['heads']} heads of {cfg['d_model'] // cfg['heads']}, context "
        f"{cfg['context']}, pre-LN, learned positions, tied embeddings"
        + (f", {params / 1e6:.2f} M parameters" if params else "") + "; bf16 autocast on the GPU.",
        f"- **Dense pretraining**: {cfg['pretrain_steps']} steps of {cfg['batch']} x "
        f"{cfg['context']} bytes ({cfg['pretrain_steps'] * tokens_step / 1e6:.1f} M tokens), AdamW "
        f"(0.9, 0.95, weight decay {cfg['weight_decay']}), peak LR {cfg['pretrain_lr']}, "
        f"{cfg['pretrain_warmup']} warmup steps then cosine to a tenth, SDPA causal"
        + (f"; {pre['wall_s']:.0f} s at {pre['tokens_per_s']:,} tokens/s"
           if pre.get("done") else "")
        + ". Weights kept in bf16; every later stage starts from them.",
        f"- **Calibration**: the dense model over {cfg['calib_windows']} windows drawn from the "
        f"train split (not validation); per layer, head and {cfg['block']}x{cfg['block']} tile the "
        f"softmax mass summed over rows ({nb}x{nb} tiles, {causal} of them causal) with "
        + ({"sieve": "sieve's calibration kernel (`sieve.compile(..., calibrate=True)`)",
            "torch": "the same statistic computed in PyTorch"}.get(cal.get("engine"),
                                                                   "the engine of the run")) + "."
        + (f" Its first batch against PyTorch's: at most "
           f"{cal['sieve_vs_torch']['max_abs_diff_per_row']:.1e} probability per row apart."
           if cal.get("sieve_vs_torch") else ""),
        f"- **Masks**: per head, keep round((1 - p) x {causal}) causal tiles: the {nb} diagonal "
        f"tiles always (every row keeps a key), the rest by calibrated mass (`sieve prune --scope "
        f"head --keep-diagonal`'s rule; engine: {st.get('prune', {}).get('engine', '-')}). At "
        f"{cfg['block']}-byte tiles the diagonal alone is {nb / causal:.1%} of the causal tiles, "
        f"so a p above {1 - nb / causal:.1%} keeps just the diagonal. **Random**: the same number "
        "of tiles per layer and head, the diagonal, the rest uniform over the causal tiles "
        "(fixed seed). \"Mass kept\" is the calibration mass inside the mask.",
        f"- **Fine-tuning**: from the dense weights, {cfg['finetune_steps']} steps per mask on the "
        f"same batches for every mask, peak LR {cfg['finetune_lr']} ({cfg['finetune_warmup']} "
        f"warmup, cosine), attention `{cfg['attention']}` under the mask. The p = 0 run (the full "
        "causal mask) is the fair dense reference: the same extra steps."
        + (f" {len(ft)} runs, {sum(s['stage_wall_s'] for s in ft):.0f} s in all "
           f"(mean {sum(s['stage_wall_s'] for s in ft) / len(ft):.1f} s a run: loading, kernel "
           "compiles, training and evaluation)." if ft else ""),
        "- **Validation perplexity**: exp(mean cross-entropy per byte) over "
        + (f"{ev['val_windows']} consecutive windows ({ev['val_tokens']:,} bytes)"
           if ev.get("done") else "consecutive windows")
        + " of the validation split. Byte-level, so not comparable to the paper's word-level "
        "24.16 -> 26.01 (Transformer-XL on WikiText-103 at p = 90): compare the shapes.",
        f"- **Device**: {res.get('device', 'not recorded')}"
        + "".join(f", {k} {v}" for k, v in res.get("versions", {}).items() if v) + ".",
    ]
    return "\n".join(lines)


def reference_check(res):
    gaps = [(k, s["val_ppl"], s["val_ppl_reference"]) for k, s in res["stages"].items()
            if k.startswith("finetune/") and s.get("done") and "val_ppl_reference" in s]
    if not gaps:
        return ""
    worst = max(gaps, key=lambda g: abs(g[1] - g[2]) / g[2])
    return ("\nEach fine-tuned model was also evaluated with SDPA under the same mask expanded "
            f"to elements: the largest gap to the sieve kernel's perplexity is "
            f"{abs(worst[1] - worst[2]) / worst[2]:.2e} relative ({worst[0]}).\n")


def status(res):
    names = all_stages(res["config"])
    missing = [n for n in names if not res["stages"].get(n, {}).get("done")]
    if not missing:
        calls = res.get("calls", [])
        return (f"All {len(names)} stages done, in {len(calls)} call(s) of "
                f"{sum(c.get('wall_s', 0) for c in calls):.0f} s in all.")
    return (f"**Not finished**: {len(names) - len(missing)} of {len(names)} stages done; "
            f"missing: {', '.join(missing)}. Run the command again to continue.")


def page(res, have_plot, png_name):
    flags = command_flags(res["config"])
    plot_line = (f"![perplexity against p]({png_name})" if have_plot
                 else "(No plot yet: no fine-tuning has finished.)")
    return f"""# Attention pruning on a small language model

A causal byte-level transformer trained dense, calibrated, pruned at each p
with the calibrated mask and with a random mask of the same tiles per head,
fine-tuned under each mask for the same steps, and scored by validation
perplexity. {status(res)}

{table(res)}

{plot_line}
{reference_check(res)}
## Setup

{setup(res)}

## Reproduce

The GPU has no network: the corpus is extracted here and carried. A call of
at most 10 minutes runs the next unfinished stages within its budget and
exports the state a later call needs (results, stats, masks, the dense
weights as bf16 shards under 16 MiB); copy that back into the work folder
and call again until it says "all stages done".

```sh
scripts/install-deps.sh                       # Debian's bible-kjv-text and bible-kjv
scripts/lm-table.sh --prepare .carry/lm       # the corpus, xz-compressed, into the carry
SIEVE_CARRY=python tests/device/build.sh      # the sieve module for the device's Python
# on the GPU, carrying .carry (device/ and lm/), once per call:
pkg=/tmp/sieve-python && mkdir -p $pkg && cp -r .carry/device/python/sieve $pkg/ &&
  for f in .carry/device/_sieve*.so.xz; do xz -dc $f > $pkg/sieve/$(basename $f .xz); done
SIEVE_PYTHONPATH=$pkg scripts/lm-table.sh .carry/lm/work --budget-seconds 540 \\
    --export "$OUT/lm-work" {flags}
# here, after each call: copy the exported lm-work/* into .carry/lm/work/; at the end
scripts/lm-table.sh --report .carry/lm/work   # this page and its plot
```

The exit status is 0 once every stage is done and 3 while stages are
left. Each stage must fit one call (a stopped stage's optimizer state
does not travel): at the measured speed a call refuses one that cannot,
and says which steps to lower. `--plan` lists the stages with their
estimates and runs none.

`WORK/results.json` holds every number above, the loss curves, the wall
time of each stage and each call.
"""


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
    with open(args.md, "w") as f:
        f.write(page(res, have_plot, rel))
    print(f"report: wrote {args.md}" + (f" and {args.png}" if have_plot else " (no plot yet)"))


if __name__ == "__main__":
    main()
