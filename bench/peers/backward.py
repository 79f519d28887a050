"""compare.py --backward: forward+backward of sieve, FlexAttention and dense
SDPA on the same q, k, v, dout and the same tile mask, in one process.

- sieve: `torch.ops.sieve.attention(q, k, v, handle, causal, None)` on
  requires_grad leaves (the op runs `sieve::attention_forward`, which saves
  the log-sum-exp, and its registered backward `sieve::attention_backward`),
  the handle from `sieve.torch_op.register_mask(BlockMask(tiles, 128, 128))`.
- FlexAttention: `torch.compile(flex_attention)` with the BlockMask that
  torch_peers.Flex builds from the same tiles (BLOCK_SIZE 128 = sieve's tile).
- SDPA: dense `scaled_dot_product_attention` (is_causal for causal rows).

Each peer's fwd+bwd is one call of `torch.autograd.grad(forward(), (q, k,
v), dout)`: the gradients are returned, never accumulated into .grad. The
forward alone is the training forward (graph recorded, lse saved; for sieve
`torch.ops.sieve.attention_forward`), the backward alone
`torch.autograd.grad(out, (q, k, v), dout)` of a fresh forward's output,
that forward queued before the call's start event and so not timed.
Imports torch only when run: compare.py imports this module for its
defaults.
"""
import datetime
import os
import platform
import sys
import time

import masks
import report
import rows as row_loop

# Relative error max|a - b| / max|b| of out, dq, dk, dv against the reference.
TOLERANCE = {"bf16": 2e-2, "f16": 1e-2, "f32": 1e-3}
REFERENCE_MAX_SEQ = 2048  # above this the element mask is too big: check against Flex
METHOD = ("fwd+bwd: one call of torch.autograd.grad(forward(q, k, v), (q, k, v), dout) "
          "(gradients returned, not accumulated); fwd: the training forward alone (graph "
          "recorded, lse saved); bwd: autograd.grad(out, (q, k, v), dout) alone, each call's "
          "forward queued before its start event. CUDA events around each call, one pair per "
          "call; 3 warm-up calls, then N calls (10 to 100, about 0.3 s of GPU time) queued "
          "behind a short GPU sleep so they run back to back; median of the N; same "
          "q/k/v/dout and tile mask for every peer, one process; no cache flush")
DEFAULTS = {  # compare.py's flags when --backward is given and they are not
    "shapes": "1x32x16384x128,4x16x8192x64", "densities": "1.0,0.5,0.1", "dtypes": "bf16",
    "masks": "random", "causal": "0", "budget_s": 360.0}
CPU_DEFAULTS = {"shapes": "1x2x512x64,1x2x1024x64", "dtypes": "f32"}  # --device cpu


class Group:
    """What the rows of one (shape, causal, dtype) share: the inputs and
    dout, dense SDPA's times and the compiled Flex."""

    def __init__(self, torch, shape, causal, dtype_name, seed, device, error_text):
        import torch_peers
        from timing import time_calls
        self.torch, self.shape, self.causal, self.dtype_name = torch, shape, causal, dtype_name
        self.device, self.error_text = device, error_text
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.time = lambda fn, stats=None, setup=None: time_calls(fn, device, stats=stats,
                                                                  setup=setup)
        b, h, s, d = shape
        self.dtype = {"bf16": torch.bfloat16, "f16": torch.float16,
                      "f32": torch.float32}[dtype_name]
        gen = torch.Generator(device=device).manual_seed(seed)
        self.q, self.k, self.v, self.dout = (
            torch.randn(b, h, s, d, device=device, dtype=self.dtype, generator=gen)
            for _ in range(4))
        for t in (self.q, self.k, self.v):
            t.requires_grad_()
        self.inputs = (self.q, self.k, self.v)
        pairs = masks.dense_pairs(h, s, causal)
        self.info = {"shape": "x".join(map(str, shape)), "causal": causal, "dtype": dtype_name,
                     "flops_dense": masks.flops_fwd_bwd(b, d, pairs), "notes": []}
        self.info["sdpa"] = self.measure(
            lambda: torch_peers.sdpa_dense(self.q, self.k, self.v, causal))
        try:
            self.flex = torch_peers.Flex(h, s, causal, device)
        except Exception as exc:
            self.flex, self.flex_error = None, error_text(exc)
        self.flex_cold = True

    def grads(self, out):
        return self.torch.autograd.grad(out, self.inputs, self.dout)

    def measure(self, forward, forward_alone=None, first=None):
        """{"fwd_bwd", "fwd", "bwd"}: each {"ms", "reps"} or {"error"}.
        `first`, when given, receives the first call's (out, grads) for the
        check and its wall time, before anything is timed."""
        res = {}
        try:
            t0 = time.perf_counter()
            out = forward()
            grads = self.grads(out)
            self.sync()
            res["first_call_ms"] = (time.perf_counter() - t0) * 1e3
            if first is not None:
                first["out"], first["grads"] = out.detach(), grads
            del out, grads
        except Exception as exc:
            return {"error": self.error_text(exc)}
        calls = [("fwd_bwd", lambda: self.grads(forward())), ("fwd", forward_alone or forward)]
        for name, fn in calls:
            res[name] = self._timed(fn)
        # The backward alone: each timed call is the backward of a fresh
        # forward queued before its start event (AOTAutograd's donated
        # buffers forbid retain_graph, so one stored graph cannot be reused).
        res["bwd"] = self._timed(self.grads, setup=forward)
        return res

    def _timed(self, fn, setup=None):
        try:
            stats = {}
            ms, reps = self.time(fn, stats, setup)
            return dict({"ms": ms, "reps": reps}, **stats)
        except Exception as exc:
            return {"error": self.error_text(exc)}

    def close(self):
        del self.q, self.k, self.v, self.dout, self.inputs, self.flex
        self.sync()
        if self.device == "cuda":
            self.torch.cuda.empty_cache()


def run_row(g, sieve, kind, density, seed, check):
    """One row: the mask, then Flex, sieve (compile, first call, times) and
    the check of both against the reference. A peer's failure stays in its
    own cell."""
    torch = g.torch
    b, h, s, d = g.shape
    tiles = masks.make_mask(kind, h, s, density, g.causal, seed)
    kept = masks.kept_pairs(tiles, s, g.causal)
    row = {"mode": "backward", "shape": g.info["shape"], "B": b, "H": h, "S": s, "D": d,
           "causal": g.causal, "mask": kind, "dtype": g.dtype_name, "density_target": density,
           "density_actual": float(tiles.mean()), "kept_tiles": int(tiles.sum()),
           "total_tiles": int(tiles.size), "pairs_kept": kept,
           "flops_kept": masks.flops_fwd_bwd(b, d, kept), "flops_dense": g.info["flops_dense"],
           "sdpa": g.info["sdpa"]}
    firsts = {}

    # FlexAttention (compiles forward and backward on a group's first row).
    if g.flex is None:
        row["flex"] = {"error": g.flex_error}
    else:
        flex = {}
        try:
            t0 = time.perf_counter()
            flex["visited_tiles"] = g.flex.set_mask(tiles)
            flex["block_mask_ms"] = (time.perf_counter() - t0) * 1e3
            first = firsts["flex"] = {}
            flex.update(g.measure(lambda: g.flex(g.q, g.k, g.v), first=first))
            if g.flex_cold and "first_call_ms" in flex:
                # As the forward table's: block mask and first call, both compiled here.
                g.info["flex_cold_s"] = (flex["block_mask_ms"] + flex["first_call_ms"]) / 1e3
                g.flex_cold = False
        except Exception as exc:
            flex["error"] = g.error_text(exc)
        row["flex"] = flex

    # sieve: the mask's tile size is Flex's BLOCK_SIZE, so both skip the same tiles.
    spec = row["sieve"] = {}
    try:
        bmask = sieve.BlockMask(tiles, block_q=masks.BLOCK, block_k=masks.BLOCK)
        handle = sieve.torch_op.register_mask(bmask)
        compile_kernels(g, sieve, bmask, spec)
        first = firsts["sieve"] = {}
        spec.update(g.measure(
            lambda: torch.ops.sieve.attention(g.q, g.k, g.v, handle, g.causal, None),
            forward_alone=lambda: torch.ops.sieve.attention_forward(g.q, g.k, g.v, handle,
                                                                    g.causal, None),
            first=first))
    except Exception as exc:
        spec["error"] = g.error_text(exc)

    row["check"] = check_grads(g, tiles, firsts, row["flex"]) if check \
        else {"status": "skipped"}
    firsts.clear()
    return row


def compile_kernels(g, sieve, bmask, spec):
    """Compiles the training forward and the backward kernel up front, so
    their compile times are recorded apart from the first call (sieve's
    kernel_for memo then serves that call). Best effort: without
    kernel_for the first call compiles them."""
    try:
        from sieve._attention import kernel_for
    except ImportError:
        return
    q, k = g.q.detach(), g.k.detach()
    spec["compile_ms"], spec["variant"] = {}, {}
    for kind in ("forward_lse", "backward"):
        t0 = time.perf_counter()
        kernel = kernel_for(q, k, bmask, g.causal, None, kind)
        spec["compile_ms"][kind] = (time.perf_counter() - t0) * 1e3
        spec["variant"][kind] = " ".join(
            x for x in (getattr(kernel, "variant", None), getattr(kernel, "config", None)) if x)


def relative_error(a, b):
    """max|a - b| / max|b| in float32; NaN when a holds NaN; None for an
    all-zero b."""
    a, b = a.float(), b.float()
    scale = b.abs().max().item()
    diff = (a - b).abs().max().item()  # NaN propagates
    if scale == 0:
        return diff if diff != 0 else 0.0
    return diff / scale


def check_grads(g, tiles, firsts, flex):
    """Relative errors of out, dq, dk, dv: sieve (and Flex) against the
    float32 masked SDPA reference when S <= REFERENCE_MAX_SEQ, else sieve
    against Flex. Passes when every one is below TOLERANCE[dtype]."""
    import torch_peers
    tol = TOLERANCE[g.dtype_name]
    res = {"tol": tol, "rel": {}, "notes": [], "info": []}  # notes: why it failed
    _, h, s, _ = g.shape
    if flex.get("visited_tiles") is not None and flex["visited_tiles"] != int(tiles.sum()):
        res["notes"].append(f"flex block mask visits {flex['visited_tiles']} tiles, "
                            f"the mask keeps {int(tiles.sum())}")
    have = {n: f for n, f in firsts.items() if "grads" in f}
    if "sieve" not in have:
        res["info"].append("no sieve gradients (see its cell)")
    try:
        ref, names = None, []
        if s <= REFERENCE_MAX_SEQ:
            out, grads = torch_peers.reference_grads(g.q, g.k, g.v, g.dout, tiles, g.causal)
            ref, res["ref"] = {"out": out, "grads": grads}, "sdpa"
            names = [n for n in ("sieve", "flex") if n in have]
        elif "flex" in have:
            ref, res["ref"] = have["flex"], "flex"
            names = [n for n in ("sieve",) if n in have]
        elif "sieve" in have:
            res["info"].append(f"no Flex gradients and S > {REFERENCE_MAX_SEQ}: no reference")
        for n in names:
            errs = {"out": relative_error(have[n]["out"], ref["out"])}
            for label, a, b in zip(("dq", "dk", "dv"), have[n]["grads"], ref["grads"]):
                errs[label] = relative_error(a, b)
            res["rel"][n] = {k: (v if v == v else None) for k, v in errs.items()}  # no NaN
            bad = [f"{k} {v:.3g}" for k, v in errs.items() if not v < tol]
            if bad:
                res["notes"].append(f"{n} relative error {', '.join(bad)} >= {tol:g}")
        del ref
    except Exception as exc:
        res["notes"].append("check: " + g.error_text(exc))
    # The table shows sieve's worst error (the reference's own when only Flex was checked).
    worst = res["rel"].get("sieve") or next(iter(res["rel"].values()), {})
    values = list(worst.values())
    res["max_rel"] = max(values) if values and None not in values else None  # None: NaN
    res["status"] = "FAILED" if res["notes"] else "ok" if res["rel"] else "unchecked"
    return res


def import_sieve():
    try:
        import sieve
        import sieve.torch_op  # noqa: F401  (registers torch.ops.sieve.*)
    except ImportError as exc:
        raise SystemExit(
            f"--backward needs the sieve Python module ({exc}): put the folder holding "
            "sieve/ (with its _sieve extension) on PYTHONPATH, e.g. build/python, or give "
            "run.sh a --lib-dir holding _sieve*.so") from None
    return sieve


def run(args, save, error_text, tune_dynamo):
    import torch
    sieve = import_sieve()
    import torch_peers  # noqa: F401  (fail early if flex_attention is missing)
    start = time.monotonic()
    tune_dynamo(torch)
    try:
        import triton
        triton_version = triton.__version__
    except Exception:
        triton_version = None
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" \
        else f"host CPU ({platform.machine()})"
    results = {"meta": {
        "mode": "backward", "device_torch": device_name,
        "device_sieve": f"torch.ops.sieve (python module {sieve.__file__})",
        "torch": torch.__version__, "triton": triton_version, "cuda": torch.version.cuda,
        "sieve": getattr(sieve, "__version__", None), "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": METHOD if args.device == "cuda" else "CPU smoke test: wall-clock medians",
        "tolerance": TOLERANCE, "budget_s": args.budget_s, "seed": args.seed,
        "sieve_cache": {k: os.environ.get(k) for k in ("SIEVE_CACHE", "SIEVE_CACHE_DIR")},
        "args": {k: v for k, v in vars(args).items() if k != "self_test"},
        "skipped_rows": 0}, "rows": [], "groups": []}
    print(f"# {device_name}; torch {torch.__version__}, triton {triton_version}, "
          f"sieve {results['meta']['sieve']}; forward+backward", flush=True)
    print(report.table_header(report.BACKWARD_COLUMNS), flush=True)

    per_group = len(args.masks) * len(args.densities)
    groups = [(dt, c, sh) for dt in args.dtypes for c in args.causal for sh in args.shapes]
    for n, (dtype, causal, shape) in enumerate(groups):
        if time.monotonic() - start > args.budget_s:
            results["meta"]["skipped_rows"] += per_group * (len(groups) - n)
            break
        try:
            g = Group(torch, shape, causal, dtype, args.seed, args.device, error_text)
        except Exception as exc:  # e.g. out of memory for the inputs
            results["groups"].append({"shape": "x".join(map(str, shape)), "causal": causal,
                                      "dtype": dtype, "notes": [error_text(exc)]})
            print(f"<!-- group {shape} causal={causal} {dtype}: {error_text(exc)} -->",
                  flush=True)
            continue
        results["groups"].append(g.info)
        done = row_loop.run_group(
            g, args, results, start, shape, causal,
            lambda kind, density: run_row(g, sieve, kind, density, args.seed, args.check),
            save, error_text)
        results["meta"]["skipped_rows"] += per_group - done
        g.close()
        del g
        save(results, args.out, plots=True)
    results["meta"]["wall_s"] = time.monotonic() - start
    save(results, args.out, plots=True)
    measured = results["rows"]
    failed = sum(1 for r in measured if r["check"].get("status") == "FAILED")
    print(f"\n{len(measured)} rows, {failed} failed checks, {results['meta']['skipped_rows']} not "
          f"started; {report.backward_summary(measured)}; wrote {args.out} "
          f"in {results['meta']['wall_s']:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit("run compare.py --backward")
