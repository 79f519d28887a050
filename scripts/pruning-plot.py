#!/usr/bin/env python3
"""Plots `sieve evaluate --json` results: mean cosine and top-1 agreement
against sparsity, data-informed mask vs random mask. matplotlib when
present, else bench/peers/pngplot.py (pure Python).

usage: pruning-plot.py RESULTS.json OUT.png
"""
import json
import os
import sys


def main():
    res = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    ps = [r["sparsity"] for r in res["rows"]]
    series = {(k, m): [r[k][m] for r in res["rows"]]
              for k in ("data", "random") for m in ("mean_cosine", "top1_agreement")}
    title = "all-MiniLM-L6-v2 pruned vs dense, %d held-out sentences" % res["sentences"]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, m, label in zip(axes, ("mean_cosine", "top1_agreement"),
                                ("mean cosine to dense", "top-1 agreement with dense")):
            ax.plot(ps, series[("data", m)], "o-", label="data-informed mask")
            ax.plot(ps, series[("random", m)], "s--", label="random mask, same tiles/head")
            ax.set_xlabel("sparsity p (%)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        return
    except ImportError:
        pass
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "peers"))
    import pngplot
    panels = []
    for m, label in (("mean_cosine", "MEAN COSINE TO DENSE"), ("top1_agreement", "TOP-1 AGREEMENT")):
        panels.append({"title": label, "xlabel": "SPARSITY P (%)", "ylabel": label,
                       "xticks": ps,
                       "series": [{"label": "DATA", "color": 0, "points": list(zip(ps, series[("data", m)]))},
                                  {"label": "RANDOM", "color": 1, "dash": 6,
                                   "points": list(zip(ps, series[("random", m)]))}]})
    pngplot.chart(out, panels, title=title.upper(), cols=2,
                  legend=(("DATA-INFORMED MASK", 0, 0), ("RANDOM MASK, SAME TILES PER HEAD", 1, 6)))


if __name__ == "__main__":
    main()
