#!/usr/bin/env python3
"""Writes docs/pruning-results.md from `sieve evaluate` (and
scripts/retrieval-gpu.py) results: per task and sparsity, the data mask
against random masks (mean ± sd over seeds) and the position-only mask,
matched on the work actually run, with bootstrap intervals over inputs and
a verdict per baseline (scripts/pruning_stats.py says how they are made).

usage: pruning-report.py FORTUNES.json [TITLE=RESULTS.json ...] > docs/pruning-results.md
  (scripts/pruning-table.sh --report runs it with every results file present)
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pruning_stats as st  # noqa: E402

METRICS = {
    "embedding agreement": [("cosine", "mean cosine to the dense embedding", 4),
                            ("top1", "top-1 agreement with the dense model", 3)],
    "retrieval": [("recall_at_1", "recall@1", 3), ("mrr", "MRR", 3)],
}


def fmt_ci(mean, ci, digits):
    return f"{mean:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def metric_table(res, metric, digits):
    """The markdown table of one metric and the sparsities where the data
    mask beats both baselines by more than the error bars."""
    lines = [
        "| p (%) | density nominal (data) | density as run: data / random / position "
        "| data mask [95% CI] | random, mean ± sd over seeds | position-only [95% CI] "
        "| data − random [95% CI] | data − position [95% CI] |",
        "|---|---|---|---|---|---|---|---|"]
    beats_both, not_both = [], []
    for r in res["rows"]:
        data = st.per_input(r["data"], metric)
        runs = [st.per_input(x, metric) for x in r["random"]]
        pos = st.per_input(r["position"], metric)
        rm, rsd = st.mean_sd([x.mean() for x in runs])
        rd, _ = st.mean_sd([x["as_run_density"] for x in r["random"]])
        d_r, ci_r, v_r = st.verdict(data, runs)
        d_p, ci_p, v_p = st.verdict(data, [pos])
        lines.append(
            f"| {r['sparsity']:g} | {r['data']['nominal_density']:.3f} "
            f"| {r['data']['as_run_density']:.3f} / {rd:.3f} / "
            f"{r['position']['as_run_density']:.3f} "
            f"| {fmt_ci(data.mean(), st.bootstrap_ci(data), digits)} "
            f"| {rm:.{digits}f} ± {rsd:.{digits}f} ({len(runs)}) "
            f"| {fmt_ci(pos.mean(), st.bootstrap_ci(pos), digits)} "
            f"| {d_r:+.{digits}f} [{ci_r[0]:+.{digits}f}, {ci_r[1]:+.{digits}f}] {v_r} "
            f"| {d_p:+.{digits}f} [{ci_p[0]:+.{digits}f}, {ci_p[1]:+.{digits}f}] {v_p} |")
        if r["sparsity"] > 0:
            (beats_both if v_r == v_p == "beats" else not_both).append(
                (r["sparsity"], v_r, v_p))
    return "\n".join(lines), beats_both, not_both


def density_gap(res):
    """The largest |as-run density - data mask's| over baselines and rows."""
    gap = 0.0
    for r in res["rows"]:
        ref = r["data"]["as_run_density"]
        for x in r["random"] + [r["position"]]:
            gap = max(gap, abs(x["as_run_density"] - ref))
    return gap


def section(title, res):
    t = res["tokens"]
    n = res.get("pairs") or res.get("sentences")
    what = "pairs" if res["task"] == "retrieval" else "sentences"
    out = [f"### {title}", "",
           f"{n} held-out {what}, {t['min']} to {t['max']} tokens (mean {t['mean']:.1f}); "
           f"{res['block']}x{res['block']} tiles on a {res['grid_tokens']}-token grid; "
           f"{res['seeds']} random seeds; backend: {res.get('backend', 'cpu')}. "
           f"Baselines' as-run density within {density_gap(res):.4f} of the data mask's "
           "(largest gap over rows).", ""]
    if "dense" in res and res["task"] == "retrieval":
        for metric, name, digits in METRICS["retrieval"]:
            v = st.per_input(res["dense"], metric)
            out.append(f"- dense model {name}: {fmt_ci(v.mean(), st.bootstrap_ci(v), digits)}")
        out.append("")
    for metric, name, digits in METRICS[res["task"]]:
        table, beats, rest = metric_table(res, metric, digits)
        out += [f"**{name}**", "", table, ""]
        where = (f"at p = {', '.join(f'{p:g}' for p, _, _ in beats)}%" if beats
                 else "at no p > 0")
        rest_txt = "; ".join(f"p = {p:g}%: vs random {vr}, vs position-only {vp}"
                             for p, vr, vp in rest) or "none"
        out += [f"**{name}: the data mask beats both baselines by more than the error bars "
                f"{where}.** Elsewhere: {rest_txt}.", ""]
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[-2])
    fortunes = json.load(open(sys.argv[1]))
    extra = []
    for arg in sys.argv[2:]:
        title, path = arg.split("=", 1)
        res = json.load(open(path))
        if res.get("complete") is False:
            sys.exit(f"pruning-report: {path} is an incomplete run ({len(res['rows'])} rows "
                     "finished before its time ran out); rerun it to the end")
        extra.append((title, res))
    print(HEADER.format(res=fortunes))
    print(section("Short sentences: fortunes-min (embedding agreement)", fortunes))
    print(RETRIEVAL)
    for title, res in extra:
        print(section(title, res))
    print(READING)


HEADER = """# Attention pruning on all-MiniLM-L6-v2: fair baselines

Every table compares three masks at **matched density of the work actually
run** on the evaluated inputs, and reports both densities:

- **data mask**: `sieve prune` on calibration statistics (scope
  `{res[scope]}`, diagonal kept, at least {res[min_per_row]} tile per query block, tiles
  ranked by {res[tile_score]});
- **random masks**: {res[seeds]} seeds, reported as mean ± sd over seeds;
- **position-only mask**: no calibration; {res[sink_blocks]} sink column(s) (the first key
  block), then the diagonal band outwards (|qb − kb| = 0, 1, 2, ...,
  keys before the query first).

**Why matching matters.** A mask is made for the longest input; an input of
n tokens runs only the top-left ceil(n/b) x ceil(n/b) tiles of it. The
*nominal* density counts the grid's tiles; the *as-run* density counts the
tiles the evaluated inputs actually run, over the tiles the dense model runs
on them. A data mask calibrated on short inputs keeps the top-left tiles
every input reaches, so at the same nominal density a random mask over the
grid runs much less work. Here each baseline gets, head by head, the tiles
whose as-run weight is closest to the data mask's
(`calibration::fairMaskSets`, tools/calibration/lib/MatchedMasks.cpp): the
random one (after the same forced diagonal and one random tile per row)
takes, in a seeded random order, every tile that fits under the data mask's
weight, then the one tile that brings it closest; the position-only one
takes the prefix of its order closest to it. The tolerance per head is half
the heaviest tile; each section states the largest model-wide gap reached.

**Error bars.** 95% percentile bootstrap intervals over inputs (2000
resamples); the differences are paired (the same resampled inputs under both
masks; the random masks' per-input values averaged over seeds). The data
mask *beats* a baseline when the difference's interval excludes 0 **and**
the difference exceeds twice the random masks' sd over seeds
(scripts/pruning_stats.py). No fine-tuning anywhere: the trained dense
weights run under each mask.

**Regenerate.** `scripts/pruning-table.sh` (the fortunes table, then the
report from every results file present; `scripts/pruning-table.sh --report`
only rewrites this page); `scripts/retrieval-table.sh bible|wordnet` (the
CPU retrieval runs, sizes below); the GPU run is one command on the lent
GPU (section "Labelled retrieval"). The results files this page quotes
are committed in `docs/results/`. `scripts/demo.sh` (the README's first
command) prints one row of the fortunes table at p = 50.

## Short inputs

![cosine and top-1 against sparsity: data, random (mean), position-only](pruning-results.png)
"""

RETRIEVAL = """## Labelled retrieval, long and short inputs

Tasks from offline Debian packages (scripts/retrieval-corpus.py): **bible**,
chapter halves of the King James Bible (`bible-kjv-text`): a chapter's first
half retrieves its second half among all test chapters' second halves
(chapters whose halves both have >= 200 words, so all-MiniLM-L6-v2's
256-token limit cuts nearly every input to the full grid); **wordnet**,
WordNet 3.0 (`wordnet-base`): a synset's first usage example retrieves its
definition. Chapters or synsets n % 5 == 0 calibrate (`sieve calibrate`),
the others are the test split (seeded shuffle; a run uses the first N).
Metrics per query: the rank of its own document among all documents by
cosine; recall@1 (rank 1) and MRR (mean 1/rank).

**Sizes.** On this page's CPU (2 cores shared with other builds;
`sieve evaluate`, f32, sieve's CPU backend, one input at a time) a
256-token input takes about 0.3 s through the whole model when the machine
is quiet (measured: dense 0.32 s, p = 50 masks 0.28-0.31 s; attention is a
small part of MiniLM's time at 256 tokens) and up to 1 s under the other
builds' load; a table costs 2 x pairs x (1 + 7 sparsities x (seeds + 2))
encoder passes. So the CPU runs are small -- their sizes are in each
section's first line (bible: `scripts/retrieval-table.sh bible --pairs 50
--seeds 5 --calibrate 200`: 22 min wall beside the other builds and tests,
16 min of CPU; wordnet: `--pairs 150 --seeds 5 --calibrate 300`: 4 min wall)
-- and their intervals wide. The full-size run is for the
GPU (all 716 bible test pairs, 5 seeds):

```sh
# here: calibrate, make the masks for all test pairs, bf16 weights, the module
SIEVE_CARRY=python bash tests/device/build.sh
scripts/retrieval-table.sh bible --prepare-gpu .carry --seeds 5 --calibrate 358
# on the GPU (carry .carry; the device has torch and transformers): $OUT/bible-gpu.json
bash scripts/retrieval-table.sh bible --gpu .carry
# back here: copy it to build/retrieval/bible-gpu.json, then
scripts/pruning-table.sh --report
```

WordNet the same way (`wordnet` for `bible`), with `--pairs 2000`: its
inputs have some 30 token counts, and sieve compiles one kernel per mask,
layer and count (about 9,000 for all 23,235 test pairs).
"""

READING = """## Reading it

- **Matched work changes the story.** Matched on the work the inputs run,
  the random masks still lose clearly to the data mask on the short
  fortunes sentences (their tiles land off the diagonal and off the first
  key block, where MiniLM's attention sits) and on WordNet at p >= 80, but
  the position-only mask -- a sink column and a diagonal band, no
  calibration -- is within the error bars of the data mask on almost every
  row of every table. In the committed runs the data mask beats both only
  in fortunes' mean cosine at p = 80 and 90 (by about 0.006), and it loses
  to the position-only mask in the bible MRR at p = 90. Whatever the
  calibration statistics add over "first token plus neighbours" is small
  for this model; the verdict lines above give every row.
- **Nominal density misleads on short inputs.** At p = 50 the data mask
  keeps 50% of the grid but runs about 84% of the work on the fortunes
  sentences; at p = 80 and 90 the forced tiles (diagonal plus one per row)
  exceed the budget, so the two rows run nearly the same work (about 50-53%).
- **Long inputs** (bible) fill the whole grid, so nominal and as-run
  density agree there and the sparsities mean what they say (p = 90 keeps
  11% of the tiles: the diagonal is 16 of 256). The CPU run is small -- 50
  pairs, 5 seeds, intervals of about ±0.13 on recall@1 -- and no baseline
  is separated from the data mask below p = 90; the full-size GPU run
  above (716 pairs, 5 seeds) is what can separate them.
- **Error bars.** The random masks' spread over seeds is large (a few
  random tiles on a key head can matter), which is why a random baseline
  needs several seeds; a single seed can land anywhere in mean ± 2 sd.
- No fine-tuning: these are the dense weights run under each mask.
"""

if __name__ == "__main__":
    main()
