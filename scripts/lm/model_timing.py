#!/usr/bin/env python3
"""The whole language model's forward time, pruned against dense (issue 25
point 6): embeddings, every block (attention, MLP, norms) and the output
layer, at several input lengths, on the GPU or the CPU.

The model is the experiment's (WORK/results.json's config). Its weights are
seed's dense checkpoint when WORK holds one. Otherwise they are a seeded
random initialization: a forward's time does not depend on the weights'
values, only on the shapes and the masks, and the result says which was
used. The masks are the experiment's pruned masks (WORK/sN-masks.npz, by
name: p90_head, p50_layer, p90_position, ...). At a length L shorter than
the context, each mask is cropped to its top-left L/block tiles, which is
what those L tokens run.

Each timed configuration is first checked: the sieve model's logits
against the same model with the masked float reference (SDPA with the
mask expanded to elements), so a time is never that of a wrong
computation. Medians of --repeats forwards (no gradient; bf16 autocast on
the GPU, CUDA events; f32 and the wall clock on the CPU), the
configurations measured in turn inside each repeat.

usage: model_timing.py WORK [--seed 1] [--masks p90_head,p50_head]
                       [--lengths 256,512,1024] [--batch 4] [--device auto]
                       [--repeats 10] [--json OUT]
"""
import argparse
import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attention_timing  # noqa: E402
import train_lm  # noqa: E402
from model import ByteLM  # noqa: E402

# bf16 activations on the GPU against a float reference of the same model;
# f32 on the CPU.
LOGIT_TOLERANCE = {"cuda": 5e-2, "cpu": 1e-3}


def int_list(text):
    return [int(x) for x in text.split(",") if x]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("work", help="the experiment's work folder (results.json, sN-masks.npz)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--masks", default="p90_head,p50_head",
                   help="names in WORK/sN-masks.npz, comma-separated")
    p.add_argument("--lengths", type=int_list, default=[256, 512, 1024])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json")
    return p.parse_args(argv)


def load_model(work, cfg, seed, device):
    """(model, what its weights are)."""
    torch.manual_seed(seed)
    model = ByteLM(train_lm.model_config(cfg))
    try:
        train_lm.load_weights(model, work, f"s{seed}-{train_lm.DENSE}")
        weights = f"s{seed} dense checkpoint"
    except SystemExit:
        weights = f"random initialization (seed {seed}): no s{seed} dense checkpoint in WORK"
    return model.to(device).eval(), weights


def main(argv=None):
    args = parse_args(argv)
    with open(os.path.join(args.work, train_lm.RESULTS)) as f:
        cfg = json.load(f)["config"]
    work = train_lm.Work(args.work, cfg)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if args.device == "auto" else args.device)
    block, context = cfg["block"], cfg["context"]
    bad = [n for n in args.lengths if n % block or not 0 < n <= context]
    if bad:
        raise SystemExit(f"model_timing: lengths {bad} are not multiples of the block ({block}) "
                         f"up to the context ({context})")
    masks = train_lm.load_masks(work, args.seed)
    names = [n for n in args.masks.split(",") if n]
    missing = [n for n in names if n not in masks]
    if missing:
        raise SystemExit(f"model_timing: no mask {missing} in s{args.seed}-masks.npz "
                         f"(it has {sorted(masks)})")
    model, weights = load_model(work, cfg, args.seed, device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    gen = torch.Generator().manual_seed(args.seed)
    result = {"device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                         else f"CPU ({torch.get_num_threads()} threads)"),
              "sieve_cpu_threads": os.environ.get("SIEVE_CPU_THREADS", "one per core"),
              "weights": weights, "seed": args.seed, "batch": args.batch,
              "repeats": args.repeats, "config": cfg, "lengths": {}}

    for length in args.lengths:
        tokens = torch.randint(0, 256, (args.batch, length), generator=gen).to(device)
        nb = length // block
        setups = {"dense": ("dense", None)}
        for name in names:
            setups[name] = ("sieve", masks[name][:, :, :nb, :nb])

        def forward():
            with torch.no_grad(), autocast:
                return model(tokens)

        # Check each pruned setup against the masked float reference first.
        row = {"tokens": args.batch * length}
        for name in names:
            model.set_attention("masked-reference", masks[name], block)
            want = forward().float()
            model.set_attention(*setups[name], block)
            got = forward().float()
            error = float((got - want).abs().max() / want.abs().max())
            row[name] = {"density": float(setups[name][1].mean()), "logit_error": error}
            if not error < LOGIT_TOLERANCE[device.type]:
                raise SystemExit(f"model_timing: {name} at {length} tokens: sieve's logits are "
                                 f"{error:.2e} off the masked reference's")
        times = {name: [] for name in setups}
        for _ in range(args.repeats + 2):  # two warm-ups, then the timed repeats
            for name, (kind, tiles) in setups.items():
                model.set_attention(kind, tiles, block)
                times[name].append(attention_timing.seconds(forward, device))
        dense = statistics.median(times["dense"][2:])
        row["dense_s"] = dense
        for name in names:
            seconds = statistics.median(times[name][2:])
            row[name].update(seconds=seconds, speedup=dense / seconds)
        result["lengths"][str(length)] = row
        print(f"{length:5d} tokens x {args.batch}: dense {dense * 1e3:8.2f} ms  " + "  ".join(
            f"{n} {row[n]['seconds'] * 1e3:8.2f} ms ({row[n]['speedup']:.2f}x)" for n in names),
            flush=True)
    if args.json:
        train_lm.write_json_atomically(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
