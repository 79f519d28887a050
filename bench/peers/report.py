"""Renders results.md and the time-vs-density PNGs from results.json, so the
tables and plots can be regenerated without the GPU (numpy-free, torch-free).

    python3 bench/peers/report.py [RESULTS_JSON] [--out DIR]
"""
import argparse
import json
import os
import re
import sys

COLUMNS = ["shape", "causal", "mask", "dtype", "density target", "density actual", "sieve ms",
           "generic ms", "SDPA ms", "Flex ms", "sieve TFLOP/s", "Flex TFLOP/s", "sieve/Flex",
           "sieve/SDPA", "sieve variant", "compile ms", "check"]

# Peer keys in a row, their labels and plot colours (pngplot palette index).
PEERS = [("sieve", "sieve specialized", 0), ("generic", "sieve generic", 1),
         ("flex", "FlexAttention", 2), ("sdpa", "SDPA dense", 3)]


def _ms(peer):
    """A peer's median ms, or None when it failed or did not run."""
    return peer.get("ms") if isinstance(peer, dict) else None


def _clean(text, limit=70):
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _short_error(text):
    """The cell's view of an error: no exception class, status prefix or
    repeated function names (results.json keeps the full text)."""
    text = re.sub(r"^SieveError: ", "", str(text))
    text = re.sub(r"\bsieve_[a-z_]+: ", "", text.replace("SIEVE_ERROR_", ""))
    return text


def ms_cell(peer):
    if not isinstance(peer, dict):
        return "—"
    if peer.get("error"):
        return "err: " + _clean(_short_error(peer["error"]), 60)
    return f"{peer['ms']:.3f}" if peer.get("ms") is not None else "—"


def tflops(flop, ms):
    return None if not ms or flop is None else flop / (ms * 1e-3) / 1e12


def ratio_cell(a, b):
    return f"{a / b:.2f}" if a and b else "—"


def check_cell(check):
    if not check:
        return "—"
    status = check.get("status", "—")
    worst = check.get("max_diff")
    text = status if worst is None else f"{status} {worst:.1e}"
    if check.get("ref") and check.get("diffs"):
        text += f" vs {check['ref']}"
    if status != "ok" and check.get("notes"):
        text += ": " + _clean("; ".join(check["notes"]), 80)
    return text


_ABBREV = {"query_tile": "qt", "key_tile": "kt", "stages": "st", "warpgroups": "wg"}


def variant_cell(text):
    """describe() shortened for the table: 'wgmma wgmma block_q=128
    query_tile=128 ... shared=164864' -> 'wgmma qt=128 kt=128 st=2 wg=1+2'
    (block sizes are the mask's, shared memory is in results.json)."""
    if not text:
        return "—"
    out = []
    for tok in str(text).split():
        key, _, val = tok.partition("=")
        if (out and tok == out[-1]) or key.startswith("block_") or key == "shared":
            continue
        out.append(f"{_ABBREV[key]}={val}" if key in _ABBREV and val else tok)
    return _clean(" ".join(out), 48)


def row_cells(row):
    sieve, flex, sdpa = row.get("sieve"), row.get("flex"), row.get("sdpa")
    st, ft, dt = _ms(sieve), _ms(flex), _ms(sdpa)
    kept = row.get("flops_kept")
    fmt = (lambda v: "—" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.2g}")
    return [
        row["shape"], "yes" if row["causal"] else "no", row["mask"], row["dtype"],
        f"{row['density_target']:g}", f"{row['density_actual']:.3f}",
        ms_cell(sieve), ms_cell(row.get("generic")), ms_cell(sdpa), ms_cell(flex),
        fmt(tflops(kept, st)), fmt(tflops(kept, ft)), ratio_cell(st, ft), ratio_cell(st, dt),
        variant_cell((sieve or {}).get("variant")),
        f"{sieve['compile_ms']:.0f}" if (sieve or {}).get("compile_ms") is not None else "—",
        check_cell(row.get("check")),
    ]


def table_header():
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def table_row(row):
    return "| " + " | ".join(row_cells(row)) + " |"


def render_markdown(results):
    meta = results.get("meta", {})
    lines = [
        "# sieve vs peers: block-sparse attention forward",
        "",
        f"- device: {meta.get('device_torch', '?')} (sieve: {meta.get('device_sieve', '?')})",
        f"- date: {meta.get('date', '?')}; torch {meta.get('torch', '?')}, "
        f"triton {meta.get('triton', '?')}, sieve {meta.get('sieve', '?')}",
        f"- method: {meta.get('method', '?')}",
        "- times are medians in ms; TFLOP/s are effective: 4·B·D·(kept (q, k) pairs) / time, "
        "pairs counted on kept 128×128 tiles only (q ≥ k in causal rows), the same count for "
        "sieve and Flex; SDPA's ratio compares against dense attention (all pairs).",
        "- ratios are time ratios: below 1 means sieve is faster.",
        "",
        table_header(),
    ]
    lines += [table_row(r) for r in results.get("rows", [])]
    groups = results.get("groups", [])
    if groups:
        lines += ["", "## Per shape", "",
                  "| shape | causal | dtype | SDPA dense ms | SDPA TFLOP/s | Flex cold start s "
                  "| generic compile ms | notes |", "|---|---|---|---|---|---|---|---|"]
        for g in groups:
            sd = g.get("sdpa") or {}
            t = tflops(g.get("flops_dense"), sd.get("ms"))
            lines.append("| " + " | ".join([
                g["shape"], "yes" if g["causal"] else "no", g["dtype"], ms_cell(sd),
                f"{t:.0f}" if t else "—",
                f"{g['flex_cold_s']:.1f}" if g.get("flex_cold_s") is not None else "—",
                f"{g['generic_compile_ms']:.0f}" if g.get("generic_compile_ms") is not None
                else "—", _clean("; ".join(g.get("notes", [])) or "", 90)]) + " |")
    skipped = meta.get("skipped_rows")
    if skipped:
        lines += ["", f"{skipped} rows were not started: the wall budget "
                      f"({meta.get('budget_s')} s) was spent."]
    return "\n".join(lines) + "\n"


def _plot_panels(rows, kind, dtype):
    """One panel per (shape, causal) holding rows of this mask kind and dtype."""
    panels, keys = [], []
    for r in rows:
        if r["mask"] == kind and r["dtype"] == dtype and (r["shape"], r["causal"]) not in keys:
            keys.append((r["shape"], r["causal"]))
    for shape, causal in keys:
        sel = [r for r in rows if r["mask"] == kind and r["dtype"] == dtype
               and r["shape"] == shape and r["causal"] == causal]
        series = []
        for key, label, color in PEERS:
            pts = [(r["density_actual"], _ms(r.get(key))) for r in sel
                   if _ms(r.get(key)) and r["density_actual"] > 0]
            if key == "sdpa" and pts:  # dense: one time for the shape, a flat line
                pts = [(min(p[0] for p in pts), pts[0][1]), (max(p[0] for p in pts), pts[0][1])]
            series.append({"label": label, "color": color, "points": pts,
                           "dash": 6 if key == "sdpa" else 0})
        panels.append({"title": f"{shape}{' causal' if causal else ''}",
                       "xlabel": "kept tile density", "ylabel": "ms", "logx": True,
                       "logy": True, "series": series})
    return panels


def render_plots(results, out_dir):
    """time-vs-density.png (random masks) and time-vs-density-banded.png,
    for bf16 when present, else the first dtype measured. Returns paths."""
    rows = results.get("rows", [])
    if not rows:
        return []
    dtypes = [r["dtype"] for r in rows]
    dtype = "bf16" if "bf16" in dtypes else dtypes[0]
    device = results.get("meta", {}).get("device_torch", "")
    paths = []
    for kind, name in (("random", "time-vs-density.png"),
                       ("banded", "time-vs-density-banded.png")):
        panels = _plot_panels(rows, kind, dtype)
        if not panels:
            continue
        path = os.path.join(out_dir, name)
        title = f"{kind} masks, {dtype}, median ms per call ({device})"
        try:
            _plot_matplotlib(path, panels, title)
        except ImportError:
            import pngplot
            legend = [(label, color, 6 if key == "sdpa" else 0) for key, label, color in PEERS]
            pngplot.chart(path, panels, title=title, legend=legend)
        paths.append(path)
    return paths


def _plot_matplotlib(path, panels, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.02, not 2×10⁻²
    # Minor ticks: label only 2× and 5× a power of ten, or they collide.
    sparse = FuncFormatter(lambda v, _: f"{v:g}" if f"{v:e}"[0] in "25" else "")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, p in zip(axes.flat, panels):
        for s in p["series"]:
            if s["points"]:
                xs, ys = zip(*sorted(s["points"]))
                ax.plot(xs, ys, color=colors[s["color"] % len(colors)], label=s["label"],
                        linestyle="--" if s["dash"] else "-", marker=None if s["dash"] else "o")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(sparse)
        ax.set_title(p["title"])
        ax.set_xlabel(p["xlabel"])
        ax.set_ylabel(p["ylabel"])
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.legend(handles, labels, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results, out_dir, plots=True):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(render_markdown(results))
    return render_plots(results, out_dir) if plots else []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default=os.path.join("peers-out", "results.json"))
    ap.add_argument("--out", help="output folder (default: the results file's folder)")
    args = ap.parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    out = args.out or os.path.dirname(os.path.abspath(args.results))
    paths = write_all(results, out)
    print(f"wrote {os.path.join(out, 'results.md')}" + "".join(f", {p}" for p in paths))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
