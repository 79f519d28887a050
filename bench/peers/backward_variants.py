"""sieve's backward by kernel variant, on the peer comparison's shapes and
masks (bench/peers/masks.py, random tiles of 128): the training forward
alone, then the backward alone per variant (auto: wgmma on sm_90a; mma:
the mma.sync kernels), medians of CUDA-event times (timing.time_gpu), and
the largest difference between the variants' gradients relative to the
gradient's largest magnitude (both are checked against the float64
reference by the GPU suite; this shows they agree at full size too).

    python3 bench/peers/backward_variants.py [--shapes 1x32x16384x128,...]
        [--densities 1.0,0.5,0.1] [--variants auto,mma]

No peers are timed: the side-by-side comparison with FlexAttention is
compare.py --backward.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import masks  # noqa: E402
import timing  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="1x32x16384x128,4x16x8192x64")
    ap.add_argument("--densities", default="1.0,0.5,0.1")
    ap.add_argument("--variants", default="auto,mma")
    ap.add_argument("--target-s", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()

    import torch
    import sieve

    variants = args.variants.split(",")
    rows = []
    print(f"device: {torch.cuda.get_device_name()}")
    header = ["shape", "density", "fwd ms"] + [f"bwd {v} ms" for v in variants] + \
        ["bwd TFLOP/s (first)", "grad diff", "configs"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for shape in args.shapes.split(","):
        b, h, s, d = (int(x) for x in shape.split("x"))
        gen = torch.Generator(device="cuda").manual_seed(0)
        q, k, v, dout = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16,
                                     generator=gen) for _ in range(4))
        for density in (float(x) for x in args.densities.split(",")):
            tiles = masks.make_mask("random", h, s, density, False)
            bmask = sieve.BlockMask(tiles, block_q=masks.BLOCK, block_k=masks.BLOCK)
            common = dict(batch=b, heads_q=h, heads_kv=h, seq_q=s, seq_k=s, head_dim=d,
                          dtype="bf16")
            fwd = sieve.compile(bmask, save_lse=True, **common)
            out = torch.empty_like(q)
            lse = torch.empty(b, h, s, device="cuda", dtype=torch.float32)
            fwd_ms, _ = timing.time_gpu(lambda: fwd(q, k, v, out=out, lse=lse),
                                        target_s=args.target_s)
            fwd(q, k, v, out=out, lse=lse)
            row = {"shape": shape, "density": density, "fwd_ms": fwd_ms, "bwd_ms": {},
                   "config": {}}
            grads = {}
            for variant in variants:
                kern = sieve.compile(bmask, backward=True, variant=variant, **common)
                dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
                ms, _ = timing.time_gpu(
                    lambda: kern.backward(q, k, v, out, dout, lse, dq=dq, dk=dk, dv=dv),
                    target_s=args.target_s)
                torch.cuda.synchronize()
                row["bwd_ms"][variant] = ms
                row["config"][variant] = f"{kern.variant}: {kern.config}"
                grads[variant] = (dq.float(), dk.float(), dv.float())
            # NaN propagates (Python's max would drop it): a non-finite
            # gradient shows as nan, not as agreement.
            diff = 0.0
            if len(variants) > 1:
                for a, c in zip(grads[variants[0]], grads[variants[1]]):
                    d = ((a - c).abs().max() / c.abs().max().clamp_min(1e-30)).item()
                    diff = d if d != d or d > diff else diff
            if any(not torch.isfinite(t).all() for g in grads.values() for t in g):
                diff = float("nan")
            row["grad_diff"] = diff
            pairs = masks.kept_pairs(tiles, s, False)
            # 5 products of 2 D flops per kept (q, k) pair: the useful backward work.
            tflops = 5 * 2 * d * pairs * b / (row["bwd_ms"][variants[0]] * 1e-3) / 1e12
            rows.append(row)
            cells = [shape, f"{density:g}", f"{fwd_ms:.3f}"] + \
                [f"{row['bwd_ms'][v]:.3f}" for v in variants] + \
                [f"{tflops:.0f}", f"{diff:.2e}", "; ".join(row["config"].values())]
            print("| " + " | ".join(cells) + " |", flush=True)
            del grads
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
