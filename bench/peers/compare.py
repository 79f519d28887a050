"""sieve against its peers on the same masks and inputs, in one process:
sieve specialized (compiled for the mask), sieve generic (one kernel per
shape, mask as run-time tables), dense SDPA, and FlexAttention.

    python3 bench/peers/compare.py [--shapes 32x12x512x64,...] [--out DIR] ...
    python3 bench/peers/compare.py --backward ...   # forward+backward (backward.py)
    python3 bench/peers/compare.py --self-test      # no GPU, no torch

Writes DIR/results.json (raw numbers), DIR/results.md and the plots, all
rewritten after every row so a run cut short keeps what it measured.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import backward  # noqa: E402  (imports torch only when run)
import masks  # noqa: E402  (numpy only)
import jsonfile  # noqa: E402  (stdlib only)
import report  # noqa: E402  (stdlib only)
import rows as row_loop  # noqa: E402

TOLERANCE = {"bf16": 2e-2, "f16": 5e-3, "f32": 1e-3}
REFERENCE_MAX_SEQ = 2048  # above this the element mask is too big: check against Flex
# The float32 reference repeats K and V per query head: above this many bytes
# (decode rows of long caches at large B) it is checked against Flex too.
REFERENCE_MAX_BYTES = 8 << 30


def reference_bytes(shape):
    """The float32 reference's q, out and per-query-head K and V bytes."""
    b, h, s, d = shape
    return 4 * b * h * d * (2 * s + 2 * shape.sk)
METHOD = ("CUDA events around each call, one pair per call; 3 warm-up calls, then N calls "
          "(10 to 100, about 0.3 s of GPU time) queued behind a short GPU sleep so they run "
          "back to back; median of the N; same q/k/v and tile mask for every peer, "
          "one process; no cache flush")


class Shape(tuple):
    """(B, Hq, Sq, D), so that `b, h, s, d = shape` reads a plain shape,
    with `hkv` (key heads: grouped-query attention when fewer than Hq) and
    `sk` (keys; Sq != Sk is a KV-cache chunk, causal bottom-right)."""

    def __new__(cls, b, hq, sq, d, hkv=None, sk=None):
        shape = super().__new__(cls, (b, hq, sq, d))
        shape.hkv = hq if hkv is None else hkv
        shape.sk = sq if sk is None else sk
        return shape

    @property
    def plain(self):
        return self.hkv == self[1] and self.sk == self[2]

    def text(self):
        """BxHq[/Hkv]xSq[:Sk]xD, as --shapes takes it."""
        b, hq, sq, d = self
        heads = f"{hq}/{self.hkv}" if self.hkv != hq else str(hq)
        seqs = f"{sq}:{self.sk}" if self.sk != sq else str(sq)
        return f"{b}x{heads}x{seqs}x{d}"


def parse_shape(text):
    """BxHxSxD, with Hq/Hkv for grouped query heads and Sq:Sk for fewer
    queries than keys: 2x8/2x2048x128, 4x32/8x1024:8192x128."""
    try:
        b, heads, seqs, d = text.lower().split("x")
        hq, _, hkv = heads.partition("/")
        sq, _, sk = seqs.partition(":")
        shape = Shape(int(b), int(hq), int(sq), int(d), int(hkv) if hkv else None,
                      int(sk) if sk else None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"shape {text!r} is not BxHxSxD (Hq/Hkv for grouped query heads, Sq:Sk for a "
            "query chunk against more keys)")
    if min(shape) < 1 or shape.hkv < 1 or shape.sk < 1 or shape[1] % shape.hkv:
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: sizes must be positive and Hq a multiple of Hkv")
    if shape.sk < shape[2]:
        raise argparse.ArgumentTypeError(f"shape {text!r}: Sq:Sk needs Sk >= Sq (a query chunk "
                                         "at the end of the keys)")
    return shape


# The forward comparison's defaults; --backward has its own (backward.DEFAULTS).
FORWARD_DEFAULTS = {"shapes": "32x12x512x64,4x16x8192x64,1x32x16384x128,2x8/2x2048x128,"
                              "4x32/8x1024:8192x128",
                    "densities": "1.0,0.5,0.25,0.1,0.05", "dtypes": "bf16,f16",
                    "masks": "random,banded,pruned", "causal": "0,1", "budget_s": 500.0}
BACKWARD_DEFAULTS, BACKWARD_CPU_DEFAULTS = backward.DEFAULTS, backward.CPU_DEFAULTS


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=None, help=f"BxHxSxD,... (default "
                    f"{FORWARD_DEFAULTS['shapes']}; --backward {BACKWARD_DEFAULTS['shapes']}, "
                    f"on --device cpu {BACKWARD_CPU_DEFAULTS['shapes']})")
    ap.add_argument("--densities", default=None, help=f"default {FORWARD_DEFAULTS['densities']}"
                    f"; --backward {BACKWARD_DEFAULTS['densities']}")
    ap.add_argument("--dtypes", default=None, help=f"default {FORWARD_DEFAULTS['dtypes']}; "
                    f"--backward {BACKWARD_DEFAULTS['dtypes']} (f32 on --device cpu)")
    ap.add_argument("--masks", default=None, help=f"default {FORWARD_DEFAULTS['masks']}; "
                    f"--backward {BACKWARD_DEFAULTS['masks']}")
    ap.add_argument("--causal", default=None, help=f"default {FORWARD_DEFAULTS['causal']}; "
                    f"--backward {BACKWARD_DEFAULTS['causal']}")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="no new row starts once this much wall time has passed (default "
                         f"{FORWARD_DEFAULTS['budget_s']:g}; --backward "
                         f"{BACKWARD_DEFAULTS['budget_s']:g})")
    ap.add_argument("--backward", action="store_true",
                    help="forward+backward of sieve (torch.ops.sieve.attention autograd, "
                         "needs the sieve Python module), FlexAttention and dense SDPA")
    ap.add_argument("--out", default=None,
                    help="output folder (default: $OUT/peers, else ./peers-out)")
    ap.add_argument("--lib", default=None, help="path of libsieve_c.so")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--check", type=int, default=1, help="1: check outputs on first calls")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                    help="cpu: a smoke test of this script on a machine with torch but no "
                         "GPU (sieve's CPU backend, wall-clock times, no generic kernel)")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args(argv)
    defaults = dict(FORWARD_DEFAULTS)
    if args.backward:
        defaults.update(BACKWARD_DEFAULTS)
        if args.device == "cpu":
            defaults.update(BACKWARD_CPU_DEFAULTS)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.shapes = [parse_shape(s) for s in args.shapes.split(",") if s]
    except argparse.ArgumentTypeError as exc:
        ap.error(str(exc))
    if args.backward and not all(s.plain for s in args.shapes):
        ap.error("--backward takes BxHxSxD shapes (no Hq/Hkv or Sq:Sk yet)")
    args.densities = [float(d) for d in args.densities.split(",") if d]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.masks = [m for m in args.masks.split(",") if m]
    args.causal = [bool(int(c)) for c in args.causal.split(",") if c]
    for d in args.dtypes:
        if d not in TOLERANCE:
            ap.error(f"dtype {d!r}: choose from {', '.join(TOLERANCE)}")
    for m in args.masks:
        if m not in masks.KINDS:
            ap.error(f"mask {m!r}: choose from {', '.join(masks.KINDS)}")
    if args.out is None:
        args.out = os.path.join(os.environ["OUT"], "peers") if os.environ.get("OUT") \
            else "peers-out"
    return args


def error_text(exc):
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def save(results, out_dir, plots=False):
    """results.json through a temporary file (never half-written), then md."""
    os.makedirs(out_dir, exist_ok=True)
    jsonfile.write_atomically(os.path.join(out_dir, "results.json"), results)
    try:
        report.write_all(results, out_dir, plots=plots)
    except Exception as exc:  # a plotting problem must not lose the numbers
        print(f"report: {error_text(exc)}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- GPU run --

class Group:
    """Everything shared by the rows of one (shape, causal, dtype): inputs,
    dense SDPA's time, the compiled Flex and the generic sieve kernel."""

    def __init__(self, torch, ctx, shape, causal, dtype_name, seed, device):
        import numpy as np
        import sieve_capi
        import torch_peers
        from timing import time_calls
        self.torch, self.shape, self.causal, self.dtype_name = torch, shape, causal, dtype_name
        self.device = device
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.time = lambda fn: time_calls(fn, device)
        b, h, s, d = shape
        hkv, sk = shape.hkv, shape.sk
        self.dtype = {"bf16": torch.bfloat16, "f16": torch.float16,
                      "f32": torch.float32}[dtype_name]
        gen = torch.Generator(device=device).manual_seed(seed)
        self.q = torch.randn(b, h, s, d, device=device, dtype=self.dtype, generator=gen)
        self.k, self.v = (torch.randn(b, hkv, sk, d, device=device, dtype=self.dtype,
                                      generator=gen) for _ in range(2))
        # sieve's causal code: with more keys than queries, bottom-right.
        self.causal_code = (2 if sk != s else 1) if causal else 0
        self.info = {"shape": shape.text(), "causal": causal, "dtype": dtype_name,
                     "flops_dense": masks.flops(b, d, masks.dense_pairs(h, s, causal, sk)),
                     "notes": []}
        # Dense SDPA: one time per group, reused by every row.
        try:
            ms, reps = self.time(lambda: torch_peers.sdpa_dense(self.q, self.k, self.v, causal))
            self.info["sdpa"] = {"ms": ms, "reps": reps}
        except Exception as exc:
            self.info["sdpa"] = {"error": error_text(exc)}
        # Flex: compiled on the first row's call (the cold start is recorded there).
        try:
            self.flex = torch_peers.Flex(h, s, causal, device, seq_k=sk, gqa=hkv != h)
        except Exception as exc:
            self.flex, self.flex_error = None, error_text(exc)
        self.flex_cold = True
        # Generic sieve kernel: its identity ignores the mask bits, so any
        # mask of the geometry (all kept here) compiles the one kernel.
        qb, kb = masks.num_blocks(s), masks.num_blocks(sk)
        self.generic, self.generic_error = None, None
        try:
            if causal and sk != s:  # its run-time masks are top-left causal only
                raise RuntimeError("the generic kernel's run-time mask takes no bottom-right "
                                   "causal (Sq != Sk)")
            ones = masks.pack_bits(np.ones((h, qb, kb), dtype=bool))
            t0 = time.perf_counter()
            self.generic = sieve_capi.Kernel.compile(
                ctx, batch=b, heads_q=h, heads_kv=hkv, seq_q=s, seq_k=sk, head_dim=d,
                dtype=self.dtype, causal=self.causal_code, variant="generic",
                mask=sieve_capi.Mask(h, qb, kb, masks.BLOCK, masks.BLOCK, ones))
            self.info["generic_compile_ms"] = (time.perf_counter() - t0) * 1e3
            self.info["generic_variant"] = self.generic.describe()
        except Exception as exc:
            self.generic_error = error_text(exc)
            self.info["notes"].append("generic: " + self.generic_error)

    def close(self):
        if self.generic is not None:
            self.generic.close()
        del self.q, self.k, self.v, self.flex
        self.sync()
        if self.device == "cuda":
            self.torch.cuda.empty_cache()


def run_row(g, ctx, kind, density, seed, check):
    """One table row: build the mask, compile, check and time every peer.
    Each peer's failure stays in its own cell."""
    import sieve_capi
    torch = g.torch
    b, h, s, d = g.shape
    hkv, sk = g.shape.hkv, g.shape.sk
    tiles = masks.make_mask(kind, h, s, density, g.causal, seed, seq_k=sk)
    kept = masks.kept_pairs(tiles, s, g.causal, seq_k=sk)
    row = {"shape": g.info["shape"], "B": b, "H": h, "S": s, "D": d, "Hkv": hkv, "Sk": sk,
           "causal": g.causal,
           "mask": kind, "dtype": g.dtype_name, "density_target": density,
           "density_actual": float(tiles.mean()), "kept_tiles": int(tiles.sum()),
           "total_tiles": int(tiles.size), "pairs_kept": kept,
           "flops_kept": masks.flops(b, d, kept), "flops_dense": g.info["flops_dense"],
           "sdpa": g.info["sdpa"]}
    mask = sieve_capi.Mask(h, tiles.shape[1], tiles.shape[2], masks.BLOCK, masks.BLOCK,
                           masks.pack_bits(tiles))
    outs, calls = {}, {}
    stream = torch.cuda.current_stream().cuda_stream if g.device == "cuda" else None

    # FlexAttention: block mask, then the first call (compiles on a group's first row).
    flex = row["flex"] = {}
    if g.flex is None:
        flex["error"] = g.flex_error
    else:
        try:
            t0 = time.perf_counter()
            flex["visited_tiles"] = g.flex.set_mask(tiles)
            flex["block_mask_ms"] = (time.perf_counter() - t0) * 1e3
            out = g.flex(g.q, g.k, g.v)
            g.sync()
            if g.flex_cold:
                g.info["flex_cold_s"] = time.perf_counter() - t0
                g.flex_cold = False
            outs["flex"], calls["flex"] = out, (lambda: g.flex(g.q, g.k, g.v))
        except Exception as exc:
            flex["error"] = error_text(exc)

    # sieve specialized: compiled for this mask (compile wall time recorded).
    spec = row["sieve"] = {}
    kernel = None
    try:
        t0 = time.perf_counter()
        kernel = sieve_capi.Kernel.compile(ctx, batch=b, heads_q=h, heads_kv=hkv, seq_q=s,
                                           seq_k=sk, head_dim=d, dtype=g.dtype,
                                           causal=g.causal_code, mask=mask)
        spec["compile_ms"] = (time.perf_counter() - t0) * 1e3
        spec["variant"] = kernel.describe()
        out = torch.full_like(g.q, float("nan"))  # poisoned: a skipped row shows
        kernel.attention(g.q, g.k, g.v, out, stream=stream)
        g.sync()
        outs["sieve"] = out
        calls["sieve"] = lambda out=out: kernel.attention(g.q, g.k, g.v, out, stream=stream)
    except Exception as exc:
        spec["error"] = error_text(exc)

    # sieve generic: the group's kernel, this mask uploaded as run-time tables.
    gen = row["generic"] = {}
    dmask = None
    if g.generic is None:
        gen["error"] = g.generic_error
    else:
        try:
            t0 = time.perf_counter()
            dmask = sieve_capi.DeviceMask(ctx, mask, s, g.causal)
            gen["mask_upload_ms"] = (time.perf_counter() - t0) * 1e3
            gen["variant"] = g.info.get("generic_variant")
            gout = torch.full_like(g.q, float("nan"))
            g.generic.attention(g.q, g.k, g.v, gout, mask=dmask, stream=stream)
            g.sync()
            outs["generic"] = gout
            calls["generic"] = lambda: g.generic.attention(g.q, g.k, g.v, gout, mask=dmask,
                                                           stream=stream)
        except Exception as exc:
            gen["error"] = error_text(exc)

    row["check"] = check_outputs(g, tiles, outs, flex) if check else {"status": "skipped"}
    outs.clear()

    for key in ("flex", "sieve", "generic"):
        if key in calls:
            try:
                row[key]["ms"], row[key]["reps"] = g.time(calls[key])
            except Exception as exc:
                row[key]["error"] = error_text(exc)
    calls.clear()
    if kernel is not None:
        kernel.close()
    if dmask is not None:
        dmask.close()
    return row


def check_outputs(g, tiles, outs, flex):
    """Max |difference| of every output against the masked SDPA reference
    (float32, small rows) or against Flex (long rows); passes when
    |out - ref| <= TOLERANCE * max(1, |ref|) everywhere. NaN left by a
    kernel that skipped rows counts as a failure."""
    import torch_peers
    tol = TOLERANCE[g.dtype_name]
    res = {"tol": tol, "diffs": {}, "notes": []}
    s, sk = g.shape[2], g.shape.sk
    if flex.get("visited_tiles") is not None and flex["visited_tiles"] != int(tiles.sum()):
        res["notes"].append(f"flex block mask visits {flex['visited_tiles']} tiles, "
                            f"the mask keeps {int(tiles.sum())}")
    ref = None
    try:
        if s * sk <= REFERENCE_MAX_SEQ ** 2 and reference_bytes(g.shape) <= REFERENCE_MAX_BYTES:
            ref, res["ref"] = torch_peers.reference(g.q, g.k, g.v, tiles, g.causal), "sdpa"
            names = [n for n in ("sieve", "generic", "flex") if n in outs]
        elif "flex" in outs:
            ref, res["ref"] = outs["flex"].float(), "flex"
            names = [n for n in ("sieve", "generic") if n in outs]
        elif "sieve" in outs:
            ref, res["ref"] = outs["sieve"].float(), "sieve"
            names = [n for n in ("generic",) if n in outs]
            res["notes"].append("no Flex output: generic checked against specialized only")
        else:
            names = []
        # bf16 output rounding alone is up to half an ulp of |out|, 0.016 at
        # |out| = 4 (short causal rows copy single v rows), so the bound
        # scales with max(1, |ref|): |out - ref| <= tol * max(1, |ref|).
        bound = ref.abs().clamp(min=1.0) if ref is not None else None
        for n in names:
            err = (outs[n].float() - ref).abs()
            diff = err.max().item()  # NaN propagates
            scaled = (err / bound).max().item()
            res["diffs"][n] = diff if diff == diff else None  # JSON has no NaN
            res.setdefault("scaled", {})[n] = scaled if scaled == scaled else None
            if not scaled <= tol:
                res["notes"].append(f"{n} max diff {diff:.3g} (scaled {scaled:.3g}) > {tol:g}")
            del err
        del ref, bound
    except Exception as exc:
        res["notes"].append("check: " + error_text(exc))
    finite = [v for v in res["diffs"].values() if v is not None]
    res["max_diff"] = max(finite) if finite else None
    res["status"] = "ok" if res["diffs"] and not res["notes"] else \
        ("FAILED" if res["notes"] else "unchecked")
    return res


def tune_dynamo(torch):
    """Twelve (shape, causal, dtype) groups each compile flex_attention and
    create_block_mask anew; dynamo's default limit of 8 would silently fall
    back to eager flex (a dense, materializing path) for the rest."""
    import torch._dynamo
    for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 1024)


def run(args):
    import torch
    import sieve_capi
    import torch_peers  # noqa: F401  (fail early if flex_attention is missing)
    start = time.monotonic()
    tune_dynamo(torch)
    backend = sieve_capi.BACKEND_CUDA if args.device == "cuda" else sieve_capi.BACKEND_CPU
    ctx = sieve_capi.Context.create(backend, 0, lib=args.lib)
    try:
        import triton
        triton_version = triton.__version__
    except Exception:
        triton_version = None
    results = {"meta": {
        "device_torch": torch.cuda.get_device_name(0) if args.device == "cuda"
        else f"host CPU ({platform.machine()})", "device_sieve": ctx.device_name(),
        "torch": torch.__version__, "triton": triton_version, "cuda": torch.version.cuda,
        "sieve": sieve_capi.version(), "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": METHOD if args.device == "cuda" else "CPU smoke test: wall-clock medians",
        "budget_s": args.budget_s, "seed": args.seed,
        "sieve_cache": {k: os.environ.get(k) for k in ("SIEVE_CACHE", "SIEVE_CACHE_DIR")},
        "args": {k: v for k, v in vars(args).items() if k not in ("self_test", "backward")},
        "skipped_rows": 0}, "rows": [], "groups": []}
    print(f"# {results['meta']['device_torch']} / {results['meta']['device_sieve']}; "
          f"torch {torch.__version__}, triton {triton_version}", flush=True)
    print(report.table_header(), flush=True)

    per_group = len(args.masks) * len(args.densities)
    groups = [(dt, c, sh) for dt in args.dtypes for c in args.causal for sh in args.shapes]
    for n, (dtype, causal, shape) in enumerate(groups):
        if time.monotonic() - start > args.budget_s:
            results["meta"]["skipped_rows"] += per_group * (len(groups) - n)
            break
        try:
            g = Group(torch, ctx, shape, causal, dtype, args.seed, args.device)
        except Exception as exc:  # e.g. out of memory for the inputs
            results["groups"].append({"shape": "x".join(map(str, shape)), "causal": causal,
                                      "dtype": dtype, "notes": [error_text(exc)]})
            print(f"<!-- group {shape} causal={causal} {dtype}: {error_text(exc)} -->",
                  flush=True)
            continue
        results["groups"].append(g.info)
        done = row_loop.run_group(
            g, args, results, start, shape, causal,
            lambda kind, density: run_row(g, ctx, kind, density, args.seed, args.check),
            save, error_text)
        results["meta"]["skipped_rows"] += per_group - done
        g.close()
        del g
        save(results, args.out, plots=True)
    results["meta"]["wall_s"] = time.monotonic() - start
    save(results, args.out, plots=True)
    ctx.close()
    failed = sum(1 for r in results["rows"] if r["check"].get("status") == "FAILED")
    print(f"\n{len(results['rows'])} rows, {failed} failed checks, "
          f"{results['meta']['skipped_rows']} not started; wrote {args.out}", flush=True)
    return 1 if failed else 0


# -------------------------------------------------------------- self-test --

def self_test():
    """Checks masks, packing, pair counts, the table math and the PNG writer
    without a GPU or torch. Prints 'N passed, N failed'."""
    import contextlib
    import io
    import tempfile
    import numpy as np
    import pngplot
    passed, failed = 0, []

    def check(cond, what):
        nonlocal passed
        if cond:
            passed += 1
        else:
            failed.append(what)
            print("FAIL", what, flush=True)

    for h, s in ((16, 8192), (32, 16384), (12, 512)):
        nb = masks.num_blocks(s)
        for density in (1.0, 0.5, 0.25, 0.1, 0.05):
            m = masks.make_mask("random", h, s, density, False, seed=1)
            want = max(density, 1.0 / nb)  # the diagonal alone is 1/nb
            check(m.shape == (h, nb, nb), f"random shape {h}x{s}")
            check(abs(m.mean() - want) < 0.02 + 0.1 / nb,
                  f"random {h}x{s} d={density}: {m.mean():.3f} vs {want:.3f}")
            check(all(m[:, i, i].all() for i in range(nb)), f"random diagonal kept {h}x{s}")
            check((m == masks.make_mask("random", h, s, density, False, seed=1)).all(),
                  "random masks are reproducible")
            c = masks.make_mask("random", h, s, density, True, seed=1)
            check(not np.triu(c, 1).any() and (c == np.tril(m)).all(),
                  f"causal cut {h}x{s} d={density}")
            bm = masks.make_mask("banded", h, s, density, False)
            check(abs(bm.mean() - density) < 0.03 or (density < bm.mean() and bm.mean() < 0.5
                                                        and nb <= 8),
                  f"banded {h}x{s} d={density}: {bm.mean():.3f}")
            check(all(bm[:, i, i].all() for i in range(nb)) and bm[:, :, 0].all(),
                  f"banded keeps diagonal and first column {h}x{s}")
        check(masks.make_mask("banded", h, s, 1.0, False).all(), "banded 1.0 keeps all")

    # Attention-pruning-shaped masks: the mean density near the target
    # (above it only where every live head is at its narrowest band), the
    # empty heads, sink columns and whole rows, a spread over heads.
    for h, s in ((16, 8192), (32, 16384), (12, 512), (2, 2048)):
        nb = masks.num_blocks(s)
        for density in (0.5, 0.25, 0.1):
            m = masks.make_mask("pruned", h, s, density, False, seed=1)
            live = h - masks.empty_heads(h)
            floor = float(m[:live].mean((1, 2)).min()) * live / h
            check(abs(m.mean() - density) < 0.03 or m.mean() <= floor + 0.03,
                  f"pruned {h}x{s} d={density}: {m.mean():.3f}")
            check(not m[live:].any() and all(m[i].any() for i in range(live)),
                  f"pruned {h}x{s}: the last {h - live} heads are empty")
            check(m[:live, :, 0].all(), f"pruned {h}x{s}: sink column kept")
            check(all(m[i].all(axis=1).any() for i in range(live)),
                  f"pruned {h}x{s}: each live head has a whole row")
            check(all(m[i, j, j] for i in range(live) for j in range(nb)),
                  f"pruned {h}x{s}: diagonal kept")
            check((m == masks.make_mask("pruned", h, s, density, False, seed=1)).all(),
                  "pruned masks are reproducible")
        spread = masks.make_mask("pruned", h, s, 0.25, False, seed=1)
        per_head = spread[:h - masks.empty_heads(h)].mean((1, 2))
        check(h < 8 or nb < 16 or per_head.max() > 2 * per_head.min(),
              f"pruned {h}x{s}: densities spread over heads {per_head.round(2)}")
    check(masks.make_mask("pruned", 8, 1024, 1.0, False).all(), "pruned 1.0 keeps all")

    # Sq != Sk (a query chunk at the end of the keys): bottom-right causal.
    for sq, sk in ((1024, 8192), (300, 1000), (128, 128 * 5 + 17)):
        off = sk - sq
        pc = masks.pair_counts(sq, True, seq_k=sk)
        brute = sum(min(sk, q + off + 1) for q in range(sq))
        check(int(pc.sum()) == brute == masks.dense_pairs(1, sq, True, sk),
              f"pairs causal {sq}:{sk}")
        check(masks.dense_pairs(2, sq, False, sk) == 2 * sq * sk, f"dense pairs {sq}:{sk}")
        for kind in masks.KINDS:
            c = masks.make_mask(kind, 4, sq, 0.3, True, seed=2, seq_k=sk)
            qb, kb = masks.num_blocks(sq), masks.num_blocks(sk)
            allowed = masks.causal_tiles(qb, kb, offset=off)
            check(c.shape == (4, qb, kb) and not (c & ~allowed[None]).any(),
                  f"{kind} {sq}:{sk}: bottom-right causal cut")
            last = (sq - 1) // masks.BLOCK, (sk - 1) // masks.BLOCK
            check(kind == "pruned" or c[:, last[0], last[1]].all(),
                  f"{kind} {sq}:{sk}: the shifted diagonal's last tile kept")

    for text, want in (("2x8/2x2048x128", (2, 8, 2048, 128, 2, 2048)),
                       ("4x32/8x1024:8192x128", (4, 32, 1024, 128, 8, 8192)),
                       ("1x4x64x32", (1, 4, 64, 32, 4, 64))):
        shape = parse_shape(text)
        check(tuple(shape) + (shape.hkv, shape.sk) == want and shape.text() == text,
              f"parse_shape {text}: {tuple(shape)} {shape.hkv} {shape.sk}")
    for bad in ("2x8/3x64x64", "1x4x64:32x16", "1x4x64", "1x0x64x16"):
        try:
            parse_shape(bad)
            check(False, f"parse_shape {bad} is refused")
        except argparse.ArgumentTypeError:
            check(True, "")

    rng = np.random.default_rng(3)
    for shape in ((3, 5, 7), (2, 4, 4), (1, 1, 1), (32, 128, 128)):
        m = rng.random(shape) < 0.3
        slow = bytearray((m.size + 7) // 8)
        for n, kept in enumerate(m.reshape(-1)):
            if kept:
                slow[n // 8] |= 1 << (n % 8)
        check(masks.pack_bits(m) == bytes(slow), f"pack_bits {shape}")

    for s in (512, 300, 1000):
        full = np.ones((1, masks.num_blocks(s), masks.num_blocks(s)), dtype=bool)
        check(masks.kept_pairs(full, s, False) == s * s, f"pairs dense S={s}")
        check(masks.kept_pairs(full, s, True) == s * (s + 1) // 2, f"pairs causal S={s}")
    diag = masks.diagonal_tiles(4, 4)[None]
    check(masks.kept_pairs(diag, 512, True) == 4 * 128 * 129 // 2, "pairs causal diagonal")
    check(masks.dense_pairs(2, 512, True) == 2 * 512 * 513 // 2, "dense pairs causal")

    # Table math on a fake row: 1 us for 4 * B * D * pairs flops.
    row = fake_row(ms=1e-3, flex_ms=2e-3, sdpa_ms=5e-4)
    cells = dict(zip(report.COLUMNS, report.row_cells(row)))
    want_tf = row["flops_kept"] / 1e-6 / 1e12
    check(want_tf > 100, "fake row is fast enough for integer TFLOP/s cells")
    check(cells["sieve TFLOP/s"] == f"{want_tf:.0f}", f"sieve TFLOP/s cell {cells}")
    check(cells["Flex TFLOP/s"] == f"{want_tf / 2:.0f}", "Flex TFLOP/s cell")
    check(cells["sieve/Flex"] == "0.50" and cells["sieve/SDPA"] == "2.00", "ratio cells")
    check(cells["check"].startswith("ok"), "check cell")
    check(report.variant_cell("wgmma wgmma block_q=128 query_tile=128 block_k=128 key_tile=64 "
                              "stages=2 warpgroups=1+2 shared=82944")
          == "wgmma qt=128 kt=64 st=2 wg=1+2", "variant cell")
    bad = fake_row(ms=1e-3, flex_ms=None, sdpa_ms=5e-4)
    bad["generic"] = {"error": "SieveError: sieve_kernel_compile: SIEVE_ERROR_UNSUPPORTED: "
                               "sieve_kernel_compile: variant 'generic' is a GPU kernel"}
    bad["flex"] = {"error": "OutOfMemoryError: CUDA out of memory | tried 3 GiB"}
    bad_cells = dict(zip(report.COLUMNS, report.row_cells(bad)))
    check(bad_cells["Flex ms"].startswith("err: OutOfMemoryError") and
          "|" not in bad_cells["Flex ms"] and bad_cells["sieve/Flex"] == "—" and
          bad_cells["generic ms"] == "err: UNSUPPORTED: variant 'generic' is a GPU kernel",
          f"error cells {bad_cells}")
    check(len(report.table_row(row).split("|")) == len(report.COLUMNS) + 2, "row width")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.png")
        pngplot.chart(path, [{"title": "4x16x8192x64", "xlabel": "density", "ylabel": "ms",
                              "logx": True, "logy": True,
                              "series": [{"label": "a", "color": 0,
                                          "points": [(0.05, 0.2), (1.0, 3.0)]}]}],
                      title="self test", legend=[("a", 0, 0)])
        w, hgt, raw = pngplot.read_png(path)
        check(w > 100 and hgt > 100 and len(set(raw)) > 2, "pngplot writes a valid PNG")
        results = {"meta": {"device_torch": "fake"}, "rows": [row, bad], "groups": []}
        paths = report.write_all(results, tmp)
        md = open(os.path.join(tmp, "results.md")).read()
        check(md.count("\n| 2x4x512x64 |") == 2 and len(paths) == 1, "report renders")

    # --backward: defaults, the table's cells and its report.
    fwd_args, bwd_args = parse_args([]), parse_args(["--backward"])
    check([s.text() for s in fwd_args.shapes] ==
          ["32x12x512x64", "4x16x8192x64", "1x32x16384x128", "2x8/2x2048x128",
           "4x32/8x1024:8192x128"] and fwd_args.masks == ["random", "banded", "pruned"] and
          fwd_args.budget_s == 500.0 and fwd_args.dtypes == ["bf16", "f16"],
          "forward defaults: GQA and Sq:Sk rows, attention-pruning masks")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            parse_args(["--backward", "--shapes", "2x8/2x2048x128"])
        check(False, "--backward refuses a GQA shape")
    except SystemExit:
        check(True, "")
    check(bwd_args.shapes == [(1, 32, 16384, 128), (4, 16, 8192, 64)] and
          bwd_args.densities == [1.0, 0.5, 0.1] and bwd_args.dtypes == ["bf16"] and
          bwd_args.masks == ["random"] and bwd_args.causal == [False] and
          bwd_args.budget_s == backward.DEFAULTS["budget_s"], f"backward defaults {bwd_args}")
    cpu_args = parse_args(["--backward", "--device", "cpu", "--causal", "0,1"])
    check(cpu_args.dtypes == ["f32"] and cpu_args.shapes[0][2] <= 1024 and
          cpu_args.causal == [False, True], "backward cpu defaults, flags override")
    brow = fake_backward_row(sieve_ms=4.0, flex_ms=6.0, sdpa_ms=8.0)
    bcells = dict(zip(report.BACKWARD_COLUMNS, report.table_row(brow).strip("| ").split(" | ")))
    check(len(report.table_row(brow).split("|")) == len(report.BACKWARD_COLUMNS) + 2,
          "backward row width")
    check(bcells["sieve fwd+bwd ms"] == "4.000" and bcells["Flex fwd+bwd ms"] == "6.000" and
          bcells["SDPA fwd+bwd ms"] == "8.000", f"backward ms cells {bcells}")
    check(bcells["Flex/sieve"] == "1.50" and bcells["SDPA/sieve"] == "2.00",
          "backward ratio cells (peer/sieve)")
    check(bcells["sieve fwd ms"] == "1.000" and bcells["sieve bwd ms"] == "3.000" and
          bcells["Flex bwd ms"] == "4.500", "backward fwd / bwd cells")
    want_bw = brow["flops_kept"] / 4e-3 / 1e12
    check(brow["flops_kept"] == 3.5 * masks.flops(brow["B"], brow["D"], brow["pairs_kept"]) and
          bcells["sieve TFLOP/s"] == (f"{want_bw:.0f}" if want_bw >= 10 else f"{want_bw:.2g}"),
          f"backward TFLOP/s cell {bcells['sieve TFLOP/s']} vs {want_bw}")
    check(bcells["sieve compile ms"] == "900+1200" and bcells["check"] == "ok 4.0e-03 vs flex",
          f"backward compile / check cells {bcells}")
    bbad = fake_backward_row(sieve_ms=None, flex_ms=6.0, sdpa_ms=8.0, density=0.5)
    bbad["sieve"] = {"error": "UnsupportedError: backward | needs head dim 64 or 128"}
    bbad["flex"]["bwd"] = {"error": "NotImplementedError: FlexAttention does not support "
                                    "backward on CPU"}
    bbad["check"] = {"status": "FAILED", "max_rel": 0.5, "ref": "flex", "tol": 2e-2,
                     "rel": {"sieve": {"dq": 0.5}}, "notes": ["sieve relative error dq 0.5"],
                     "info": []}
    bbc = dict(zip(report.BACKWARD_COLUMNS, report.backward_row_cells(bbad)))
    check(bbc["sieve fwd+bwd ms"].startswith("err: UnsupportedError") and
          "|" not in bbc["sieve fwd+bwd ms"] and bbc["Flex/sieve"] == "—" and
          bbc["sieve bwd ms"].startswith("err:") and bbc["Flex bwd ms"].startswith(
              "err: NotImplementedError") and bbc["check"].startswith("FAILED 5.0e-01 vs flex:"),
          f"backward error cells {bbc}")
    check(report.backward_summary([brow, bbad, fake_backward_row(3.0, 2.0, 8.0)])
          == "sieve faster than Flex in 1 of 2 rows (fwd+bwd)", "backward summary")
    with tempfile.TemporaryDirectory() as tmp:
        bres = {"meta": {"mode": "backward", "device_torch": "fake", "method": backward.METHOD,
                         "tolerance": backward.TOLERANCE},
                "rows": [brow, bbad, fake_backward_row(2.0, 3.0, 8.0, density=1.0)],
                "groups": [{"shape": "2x4x512x64", "causal": False, "dtype": "bf16",
                            "sdpa": brow["sdpa"], "flex_cold_s": 31.5, "notes": []}]}
        paths = report.write_all(bres, tmp)
        md = open(os.path.join(tmp, "results.md")).read()
        check("forward+backward" in md and md.count("\n| 2x4x512x64 |") == 4 and
              "| sieve fwd+bwd ms | Flex fwd+bwd ms | SDPA fwd+bwd ms | Flex/sieve |" in md and
              "sieve faster than Flex in 2 of 2 rows" in md and "| 31.5 |" in md and
              "autograd.grad" in md, "backward report renders")
        check(len(paths) == 1 and os.path.getsize(paths[0]) > 1000, "backward plot written")
        with open(os.path.join(tmp, "results.json"), "w") as f:
            json.dump(bres, f)
        with contextlib.redirect_stdout(io.StringIO()):
            report.main([os.path.join(tmp, "results.json"), "--out", tmp])
        check(open(os.path.join(tmp, "results.md")).read() == md, "report.py re-renders")
    print(f"{passed} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


def fake_row(ms, flex_ms, sdpa_ms, density=0.25, causal=False, mask="random", dtype="bf16",
             shape=(2, 4, 512, 64)):
    """A results.json row as run_row writes it, with made-up times (the
    self-test's and report's test input)."""
    b, h, s, d = shape
    nb = masks.num_blocks(s)
    tiles = masks.make_mask(mask, h, s, density, causal)
    kept = masks.kept_pairs(tiles, s, causal)

    def peer(t, **extra):
        return dict({"ms": t, "reps": [t] * 10}, **extra) if t is not None else {}
    return {"shape": "x".join(map(str, shape)), "B": b, "H": h, "S": s, "D": d,
            "causal": causal, "mask": mask, "dtype": dtype, "density_target": density,
            "density_actual": float(tiles.mean()), "kept_tiles": int(tiles.sum()),
            "total_tiles": h * nb * nb, "pairs_kept": kept,
            "flops_kept": masks.flops(b, d, kept),
            "flops_dense": masks.flops(b, d, masks.dense_pairs(h, s, causal)),
            "sdpa": peer(sdpa_ms), "flex": peer(flex_ms, visited_tiles=int(tiles.sum())),
            "sieve": peer(ms, compile_ms=250.0, variant="wgmma bq=128 bk=128"),
            "generic": peer(ms * 1.3 if ms else None, variant="generic"),
            "check": {"status": "ok", "max_diff": 3.1e-3, "ref": "sdpa", "tol": 2e-2,
                      "diffs": {"sieve": 3.1e-3}, "notes": []}}


def fake_backward_row(sieve_ms, flex_ms, sdpa_ms, density=0.25, causal=False, mask="random",
                      dtype="bf16", shape=(2, 4, 512, 64)):
    """A --backward results.json row with made-up times: fwd is a quarter
    of fwd+bwd, bwd three quarters."""
    b, h, s, d = shape
    nb = masks.num_blocks(s)
    tiles = masks.make_mask(mask, h, s, density, causal)
    kept = masks.kept_pairs(tiles, s, causal)

    def peer(t, **extra):
        if t is None:
            return dict(extra)
        return dict({name: {"ms": t * f, "reps": [t * f] * 10}
                     for name, f in (("fwd_bwd", 1.0), ("fwd", 0.25), ("bwd", 0.75))}, **extra)
    return {"mode": "backward", "shape": "x".join(map(str, shape)), "B": b, "H": h, "S": s,
            "D": d, "causal": causal, "mask": mask, "dtype": dtype, "density_target": density,
            "density_actual": float(tiles.mean()), "kept_tiles": int(tiles.sum()),
            "total_tiles": h * nb * nb, "pairs_kept": kept,
            "flops_kept": masks.flops_fwd_bwd(b, d, kept),
            "flops_dense": masks.flops_fwd_bwd(b, d, masks.dense_pairs(h, s, causal)),
            "sdpa": peer(sdpa_ms), "flex": peer(flex_ms, visited_tiles=int(tiles.sum())),
            "sieve": peer(sieve_ms, compile_ms={"forward_lse": 900.0, "backward": 1200.0},
                          variant={"forward_lse": "wgmma", "backward": "mma"}),
            "check": {"status": "ok", "max_rel": 4.0e-3, "ref": "flex", "tol": 2e-2,
                      "rel": {"sieve": {"out": 1e-3, "dq": 4e-3, "dk": 3e-3, "dv": 2e-3}},
                      "notes": [], "info": []}}


def main(argv=None):
    args = parse_args(argv)
    if args.self_test:
        return self_test()
    if args.backward:
        return backward.run(args, save, error_text, tune_dynamo)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
