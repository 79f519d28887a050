#!/usr/bin/env python3
"""Plots `sieve evaluate --json` results: mean cosine and top-1 agreement
against sparsity, data-informed mask vs random masks (mean over seeds)
and the position-only mask, all matched on as-run work. matplotlib when
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
    def value(r, k, m):
        if k == "random":
            return sum(x[m] for x in r["random"]) / len(r["random"])
        return r[k][m]
    series = {(k, m): [value(r, k, m) for r in res["rows"]]
              for k in ("data", "random", "position") for m in ("mean_cosine", "top1_agreement")}
    title = "all-MiniLM-L6-v2 pruned vs dense, %d held-out sentences" % res["sentences"]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, m, label in zip(axes, ("mean_cosine", "top1_agreement"),
                                ("mean cosine to dense", "top-1 agreement with dense")):
            ax.plot(ps, series[("data", m)], "o-", label="data-informed mask")
            ax.plot(ps, series[("random", m)], "s--", label="random masks (mean), matched as run")
            ax.plot(ps, series[("position", m)], "^:", label="position-only, matched as run")
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
                                   "points": list(zip(ps, series[("random", m)]))},
                                  {"label": "POSITION", "color": 2, "dash": 2,
                                   "points": list(zip(ps, series[("position", m)]))}]})
    pngplot.chart(out, panels, title=title.upper(), cols=2,
                  legend=(("DATA-INFORMED MASK", 0, 0), ("RANDOM MASKS, MEAN, MATCHED AS RUN", 1, 6),
                          ("POSITION-ONLY, MATCHED AS RUN", 2, 2)))


if __name__ == "__main__":
    main()
