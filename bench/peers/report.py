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

# compare.py --backward: rows with "mode": "backward", each peer holding
# {"fwd_bwd", "fwd", "bwd"} measurements (or an "error" of its own).
BACKWARD_COLUMNS = ["shape", "causal", "mask", "dtype", "density target", "density actual",
                    "sieve fwd+bwd ms", "Flex fwd+bwd ms", "SDPA fwd+bwd ms", "Flex/sieve",
                    "SDPA/sieve", "sieve fwd ms", "sieve bwd ms", "Flex fwd ms", "Flex bwd ms",
                    "sieve TFLOP/s", "Flex TFLOP/s", "sieve compile ms", "check"]
BACKWARD_PEERS = [("sieve", "sieve fwd+bwd", 0), ("flex", "FlexAttention fwd+bwd", 2),
                  ("sdpa", "SDPA dense fwd+bwd", 3)]


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


def _part(peer, what, quiet=False):
    """One measurement of a backward-mode peer: the peer itself when it
    failed as a whole (its error shows; `quiet`: only 'err', for the cells
    after the first), else its `what` entry."""
    if not isinstance(peer, dict):
        return None
    if peer.get("error"):
        return {"error": "(see fwd+bwd)"} if quiet else peer
    return peer.get(what)


def _part_ms(peer, what="fwd_bwd"):
    return _ms(_part(peer, what))


def backward_check_cell(check):
    if not check:
        return "—"
    status = check.get("status", "—")
    worst = check.get("max_rel")
    text = status if worst is None else f"{status} {worst:.1e}"
    if check.get("ref") and check.get("rel"):
        text += f" vs {check['ref']}"
    notes = check.get("notes") if status != "ok" else None
    if status == "unchecked":
        notes = check.get("info") or notes
    if notes:
        text += ": " + _clean("; ".join(notes), 80)
    return text


def backward_row_cells(row):
    sieve, flex, sdpa = row.get("sieve"), row.get("flex"), row.get("sdpa")
    st, ft, dt = _part_ms(sieve), _part_ms(flex), _part_ms(sdpa)
    kept = row.get("flops_kept")
    fmt = _tflops_text
    compile_ms = (sieve or {}).get("compile_ms")
    if isinstance(compile_ms, dict) and compile_ms:
        compile_text = "+".join(f"{v:.0f}" for v in compile_ms.values())
    else:
        compile_text = "—"
    return [
        row["shape"], "yes" if row["causal"] else "no", row["mask"], row["dtype"],
        f"{row['density_target']:g}", f"{row['density_actual']:.3f}",
        ms_cell(_part(sieve, "fwd_bwd")), ms_cell(_part(flex, "fwd_bwd")),
        ms_cell(_part(sdpa, "fwd_bwd")), ratio_cell(ft, st), ratio_cell(dt, st),
        ms_cell(_part(sieve, "fwd", True)), ms_cell(_part(sieve, "bwd", True)),
        ms_cell(_part(flex, "fwd", True)), ms_cell(_part(flex, "bwd", True)),
        fmt(tflops(kept, st)), fmt(tflops(kept, ft)), compile_text,
        backward_check_cell(row.get("check")),
    ]


def _tflops_text(v):
    return "—" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.2g}"


def backward_summary(rows):
    """'sieve faster than Flex in N of M rows (fwd+bwd)', over rows where both ran."""
    both = [r for r in rows if _part_ms(r.get("sieve")) and _part_ms(r.get("flex"))]
    faster = sum(1 for r in both if _part_ms(r["sieve"]) < _part_ms(r["flex"]))
    return f"sieve faster than Flex in {faster} of {len(both)} rows (fwd+bwd)"


def table_header(columns=None):
    columns = COLUMNS if columns is None else columns
    return "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)


def table_row(row):
    cells = backward_row_cells(row) if row.get("mode") == "backward" else row_cells(row)
    return "| " + " | ".join(cells) + " |"


def render_markdown(results):
    meta = results.get("meta", {})
    if meta.get("mode") == "backward":
        return render_backward_markdown(results)
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


def render_backward_markdown(results):
    meta = results.get("meta", {})
    rows = results.get("rows", [])
    lines = [
        "# sieve vs peers: block-sparse attention forward+backward",
        "",
        f"- device: {meta.get('device_torch', '?')} (sieve: {meta.get('device_sieve', '?')})",
        f"- date: {meta.get('date', '?')}; torch {meta.get('torch', '?')}, "
        f"triton {meta.get('triton', '?')}, sieve {meta.get('sieve', '?')}",
        f"- method: {meta.get('method', '?')}",
        "- sieve: torch.ops.sieve.attention on requires_grad q, k, v (sieve::attention_forward "
        "saving lse, then sieve::attention_backward); Flex: torch.compile(flex_attention) with "
        "the BlockMask of the same 128×128 tiles; SDPA: dense (is_causal for causal rows).",
        "- times are medians in ms; TFLOP/s are effective fwd+bwd: 14·B·D·(kept (q, k) pairs) "
        "/ fwd+bwd time (3.5× the forward's 4·B·D·pairs), pairs counted on kept tiles only "
        "(q ≥ k in causal rows), the same count for sieve and Flex.",
        "- ratios are time ratios peer/sieve of fwd+bwd: **above 1 means sieve is faster**.",
        "- sieve compile ms: training forward + backward kernel, cold unless the mask repeats.",
        "- check: max relative error max|a − b| / max|b| over out, dq, dk, dv of sieve against "
        "the reference (float32 masked SDPA when S ≤ 2048, else Flex), "
        f"tolerance {meta.get('tolerance', {})}.",
        f"- {backward_summary(rows)}.",
        "",
        table_header(BACKWARD_COLUMNS),
    ]
    lines += [table_row(r) for r in rows]
    groups = results.get("groups", [])
    if groups:
        lines += ["", "## Per shape", "",
                  "| shape | causal | dtype | SDPA fwd+bwd ms | SDPA fwd ms | SDPA bwd ms "
                  "| SDPA TFLOP/s | Flex cold start s (fwd+bwd compile) | notes |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for g in groups:
            sd = g.get("sdpa") or {}
            t = tflops(g.get("flops_dense"), _part_ms(sd))
            lines.append("| " + " | ".join([
                g["shape"], "yes" if g["causal"] else "no", g["dtype"],
                ms_cell(_part(sd, "fwd_bwd")), ms_cell(_part(sd, "fwd")),
                ms_cell(_part(sd, "bwd")), _tflops_text(t),
                f"{g['flex_cold_s']:.1f}" if g.get("flex_cold_s") is not None else "—",
                _clean("; ".join(g.get("notes", [])) or "", 90)]) + " |")
    skipped = meta.get("skipped_rows")
    if skipped:
        lines += ["", f"{skipped} rows were not started: the wall budget "
                      f"({meta.get('budget_s')} s) was spent."]
    return "\n".join(lines) + "\n"


def _plot_panels(rows, kind, dtype, peers=None, get_ms=None):
    """One panel per (shape, causal) holding rows of this mask kind and dtype."""
    peers = PEERS if peers is None else peers
    get_ms = _ms if get_ms is None else get_ms
    panels, keys = [], []
    for r in rows:
        if r["mask"] == kind and r["dtype"] == dtype and (r["shape"], r["causal"]) not in keys:
            keys.append((r["shape"], r["causal"]))
    for shape, causal in keys:
        sel = [r for r in rows if r["mask"] == kind and r["dtype"] == dtype
               and r["shape"] == shape and r["causal"] == causal]
        series = []
        for key, label, color in peers:
            pts = [(r["density_actual"], get_ms(r.get(key))) for r in sel
                   if get_ms(r.get(key)) and r["density_actual"] > 0]
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
    backward = results.get("meta", {}).get("mode") == "backward"
    peers = BACKWARD_PEERS if backward else PEERS
    get_ms = _part_ms if backward else _ms
    what = "fwd+bwd" if backward else "per call"
    paths = []
    for kind, name in (("random", "time-vs-density.png"),
                       ("banded", "time-vs-density-banded.png")):
        panels = _plot_panels(rows, kind, dtype, peers, get_ms)
        if not panels:
            continue
        path = os.path.join(out_dir, name)
        title = f"{kind} masks, {dtype}, median ms {what} ({device})"
        try:
            _plot_matplotlib(path, panels, title)
        except ImportError:
            import pngplot
            legend = [(label, color, 6 if key == "sdpa" else 0) for key, label, color in peers]
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
