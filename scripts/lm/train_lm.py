#!/usr/bin/env python3
"""Attention pruning on a small byte-level language model: the resumable
experiment driver (docs/lm-pruning-results.md is its report).

Stages, in order; a finished one is skipped when the command runs again:

  pretrain   dense causal training from scratch (SDPA), AdamW, warmup + cosine
  eval       validation perplexity of the dense checkpoint
  calibrate  the dense model over windows of the TRAIN split: per layer, head
             and (query block, key block) tile, the softmax mass summed over
             rows and batch (sieve's calibration kernel with --attention
             sieve, else the same statistic in PyTorch)
  prune      per sparsity p: per head, keep round((1 - p) x the causally
             allowed tiles), the diagonal always, the rest by mass; and a
             random mask with the same tiles per head and the same diagonal
  finetune   per p and mask kind (finetune/p40/pruned, finetune/p40/random):
             from the dense checkpoint, the same steps on the same batches
             with the mask fixed, then validation perplexity

Everything lands in WORK/results.json. A call stops cleanly before its
--budget-seconds: a stage whose estimated time does not fit is not
started, and a training stage that will not make the deadline at the
speed measured stops early and leaves a partial checkpoint in WORK,
which a later run on the same WORK resumes. --export DIR copies the files
a later call on another machine needs (results, stats, masks, the dense
weights in bf16 shards under 16 MiB); partial checkpoints (weights and
optimizer, several times larger) stay, so there each stage must fit one
call, and a stage that cannot is refused (exit status 2).
Exit status 0: every stage done; 3: stages left, run again.

usage: train_lm.py --work DIR --corpus DIR [--stages all|pretrain,eval,...]
                   [--budget-seconds S] [--export DIR] [--plan] [config flags]
"""
import argparse
import contextlib
import datetime
import glob
import json
import math
import os
import platform
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import block_masks  # noqa: E402
import corpus  # noqa: E402
from calibration import SieveTileMass, torch_tile_mass  # noqa: E402
from model import ByteLM, ModelConfig  # noqa: E402
from stages import BASE_STAGES, all_stages, sparsities  # noqa: E402

# Independent random streams, so that e.g. changing the calibration set
# does not change the training batches (block_masks.py draws stream 3).
STREAM_PRETRAIN, STREAM_FINETUNE, STREAM_CALIBRATE = range(3)
SHARD_BYTES = 15 << 20  # what comes back from the device: 16 MiB a file
STATE_FILES = ("results.json", "stats.npy", "stats.json", "masks.npz")
DENSE = "dense"  # the dense checkpoint's shard prefix: dense.0.pt, dense.1.pt, ...


# ---------------------------------------------------------------- config

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run = p.add_argument_group("the run (not part of the experiment's config)")
    run.add_argument("--work", required=True, help="work folder: checkpoints and results.json")
    run.add_argument("--corpus", required=True, help="folder with train.bin[.xz], val.bin[.xz]")
    run.add_argument("--stages", default="all",
                     help="comma list of " + ", ".join(BASE_STAGES) + " or finetune/pNN/KIND")
    run.add_argument("--budget-seconds", type=float, default=float("inf"),
                     help="stop cleanly before this much wall time has passed")
    run.add_argument("--margin-seconds", type=float, default=10.0,
                     help="time kept back at the deadline for checkpoints and the export")
    run.add_argument("--export", help="copy the state a later call needs into this folder")
    run.add_argument("--plan", action="store_true", help="print the stages and estimates; run none")
    run.add_argument("--sieve-cli", help="the `sieve` CLI: prune with `sieve prune` instead of "
                                         "the same rule in Python")
    run.add_argument("--assume-tokens-per-s", type=float, default=150e3,
                     help="training speed assumed until one is measured (for estimates)")
    run.add_argument("--log-every", type=int, default=50)
    run.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")

    m = p.add_argument_group("model")
    m.add_argument("--layers", type=int, default=6)
    m.add_argument("--d-model", type=int, default=384)
    m.add_argument("--heads", type=int, default=6)
    m.add_argument("--context", type=int, default=1024)
    m.add_argument("--dropout", type=float, default=0.0)

    t = p.add_argument_group("training")
    t.add_argument("--batch", type=int, default=16, help="windows of --context bytes a step")
    t.add_argument("--pretrain-steps", type=int, default=2400)
    t.add_argument("--pretrain-lr", type=float, default=1e-3)
    t.add_argument("--pretrain-warmup", type=int, default=100)
    t.add_argument("--finetune-steps", type=int, default=300)
    t.add_argument("--finetune-lr", type=float, default=3e-4)
    t.add_argument("--finetune-warmup", type=int, default=30)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--seed", type=int, default=1)

    k = p.add_argument_group("masks and evaluation")
    k.add_argument("--attention", default="sieve", choices=("sieve", "masked-reference"),
                   help="attention core under a mask (fine-tuning, calibration engine)")
    k.add_argument("--block", type=int, default=64, help="tile size (query rows = keys)")
    k.add_argument("--sparsities", default="0,20,40,60,80,90", help="p in percent")
    k.add_argument("--calib-windows", type=int, default=64)
    k.add_argument("--calib-batch", type=int, default=8)
    k.add_argument("--eval-windows", type=int, default=0,
                   help="validation windows (consecutive, not overlapping); 0: all")
    k.add_argument("--eval-batch", type=int, default=16)
    args = p.parse_args(argv)
    if any(not 0 <= int(s) < 100 for s in args.sparsities.split(",")):
        p.error("--sparsities are percentages in [0, 100)")
    if args.context % args.block or args.d_model % args.heads:
        p.error("--context must be a multiple of --block and --d-model of --heads")
    return args


CONFIG_KEYS = ("layers", "d_model", "heads", "context", "dropout", "batch", "pretrain_steps",
               "pretrain_lr", "pretrain_warmup", "finetune_steps", "finetune_lr",
               "finetune_warmup", "weight_decay", "seed", "attention", "block", "sparsities",
               "calib_windows", "calib_batch", "eval_windows", "eval_batch")


def experiment_config(args):
    return {key: getattr(args, key) for key in CONFIG_KEYS}


def model_config(cfg):
    return ModelConfig(layers=cfg["layers"], d_model=cfg["d_model"], heads=cfg["heads"],
                       context=cfg["context"], dropout=cfg["dropout"])


def selected_stages(cfg, spec):
    everything = all_stages(cfg)
    if spec == "all":
        return everything
    chosen = set()
    for name in spec.split(","):
        match = [s for s in everything if s == name or s.startswith(name + "/")]
        if not match:
            raise SystemExit(f"train_lm: unknown stage {name!r}; stages: {', '.join(everything)}")
        chosen.update(match)
    return [s for s in everything if s in chosen]


# ---------------------------------------------------------------- the work folder

class Work:
    """WORK/results.json, rewritten atomically after every stage."""

    def __init__(self, path, cfg):
        self.path = path
        self.file = os.path.join(path, "results.json")
        if os.path.exists(self.file):
            with open(self.file) as f:
                self.results = json.load(f)
            self._check_config(cfg)
        else:
            self.results = {"format": "sieve-lm-pruning", "version": 1, "config": cfg,
                            "stages": {}, "calls": []}

    def _check_config(self, cfg):
        # Resuming with other settings would mix two experiments in one table.
        old = self.results["config"]
        diff = [f"{k}: {old.get(k)!r} in results.json, {cfg[k]!r} now" for k in cfg
                if old.get(k) != cfg[k]]
        if diff:
            raise SystemExit(f"train_lm: {self.file} is another experiment's:\n  " +
                             "\n  ".join(diff) + "\nuse another --work folder or the same flags")

    def file_path(self, name):
        return os.path.join(self.path, name)

    def stage(self, name):
        return self.results["stages"].get(name, {})

    def done(self, name):
        return bool(self.stage(name).get("done"))

    def record(self, name, entry):
        self.results["stages"][name] = entry
        self.save()

    def save(self):
        os.makedirs(self.path, exist_ok=True)
        tmp = self.file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.file)

    def export(self, dest):
        """Copies the state a later call needs; partial checkpoints stay
        (with the optimizer they are several times the weights)."""
        os.makedirs(dest, exist_ok=True)
        names = [n for n in STATE_FILES if os.path.exists(self.file_path(n))]
        names += [os.path.basename(f) for f in sorted(glob.glob(self.file_path(DENSE + ".*.pt")))]
        for n in names:
            shutil.copyfile(self.file_path(n), os.path.join(dest, n))
        return names


# ---------------------------------------------------------------- device and data

class Context:
    """Device, precision and the corpus on the device."""

    def __init__(self, args, cfg):
        name = args.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(name)
        self.cuda = self.device.type == "cuda"
        self.cfg = cfg
        train, val = (corpus.load_split(args.corpus, s) for s in ("train", "val"))
        info = os.path.join(args.corpus, "corpus.json")
        self.corpus_info = json.load(open(info)) if os.path.exists(info) else None
        if len(train) <= cfg["context"] + 1 or len(val) <= cfg["context"] + 1:
            raise SystemExit(f"train_lm: the corpus in {args.corpus} is shorter than a window")
        self.train = torch.from_numpy(np.array(train)).to(self.device)
        self.val = torch.from_numpy(np.array(val)).to(self.device)
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def autocast(self):
        # bf16 on the GPU (what the sieve op runs); f32 on the CPU, where
        # sieve's backend is f32 only.
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def describe(self):
        if self.cuda:
            return torch.cuda.get_device_name(self.device)
        return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def windows(data, offsets, context):
    """(inputs, targets) [len(offsets), context] from byte offsets."""
    idx = torch.as_tensor(offsets, device=data.device)[:, None] + torch.arange(
        context + 1, device=data.device)
    win = data[idx].long()
    return win[:, :-1], win[:, 1:]


def random_offsets(length, count, context, *stream):
    rng = np.random.default_rng(list(stream))
    return rng.integers(0, length - context - 1, size=count)


def train_batch(ctx, stream, step):
    cfg = ctx.cfg
    offs = random_offsets(len(ctx.train), cfg["batch"], cfg["context"], cfg["seed"], stream, step)
    return windows(ctx.train, offs, cfg["context"])


def lr_at(step, steps, peak, warmup):
    """Linear warmup, then cosine down to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


# ---------------------------------------------------------------- checkpoints

def save_weights(model, work, prefix):
    """The weights in bf16, in shards under SHARD_BYTES (each written to a
    temporary name and renamed). Fine-tuning and the dense evaluation both
    start from these rounded weights, so a resumed run equals a straight one."""
    state = {k: v.detach().to(torch.bfloat16).cpu() for k, v in model.state_dict().items()}
    shards, current, size = [], {}, 0
    for key, value in state.items():
        nbytes = value.numel() * value.element_size()
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[key] = value
        size += nbytes
    shards.append(current)
    for old in glob.glob(work.file_path(prefix + ".*.pt")):
        os.remove(old)
    for i, shard in enumerate(shards):
        path = work.file_path(f"{prefix}.{i}.pt")
        torch.save(shard, path + ".tmp")
        os.replace(path + ".tmp", path)
    return len(shards)


def load_weights(model, work, prefix):
    files = sorted(glob.glob(work.file_path(prefix + ".*.pt")),
                   key=lambda f: int(f.rsplit(".", 2)[1]))
    if not files:
        raise SystemExit(f"train_lm: no {prefix} checkpoint in {work.path}; run pretrain first")
    state = {}
    for f in files:
        state.update(torch.load(f, map_location="cpu"))
    model.load_state_dict(state)


def partial_path(work, stage):
    return work.file_path("partial-" + stage.replace("/", "-") + ".pt")


# ---------------------------------------------------------------- training and evaluation

def make_optimizer(model, lr, weight_decay, cuda):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=cuda)


def save_partial(path, model, opt, step, log, wall_s):
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "log": log, "wall_s": wall_s, "rng": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_partial(path, model, opt, device):
    """(step, loss log, wall seconds so far) of a stopped run, its model,
    optimizer and random state restored (dropout draws from the latter)."""
    saved = torch.load(path, map_location=device)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    torch.random.set_rng_state(saved["rng"].cpu())
    if "cuda_rng" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in saved["cuda_rng"]])
    print(f"  resuming at step {saved['step']} from {os.path.basename(path)}")
    return saved["step"], saved["log"], saved["wall_s"]


def train(model, ctx, *, steps, lr, warmup, stream, should_stop, partial, log_every):
    """Trains `steps` steps on the batches of `stream` (the same batches for
    every run of that stream). Returns the stage record; `finished` is
    False when should_stop(step, eta) said so first (eta: the seconds the
    rest would take at the speed so far, or None before it is known), with
    the state saved in `partial`, from which a later run on the same WORK
    resumes. The first step is timed apart: it holds the kernels' compiles
    and autotuning."""
    cfg = ctx.cfg
    opt = make_optimizer(model, lr, cfg["weight_decay"], ctx.cuda)
    start, log, wall_before = 0, [], 0.0
    if os.path.exists(partial):
        start, log, wall_before = load_partial(partial, model, opt, ctx.device)
    model.train()
    t0 = time.monotonic()
    t_first, eta = None, None
    step = start
    while step < steps and not should_stop(step, eta):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup)
        x, y = train_batch(ctx, stream, step)
        with ctx.autocast():
            loss = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if t_first is None:
            ctx.sync()
            t_first = time.monotonic()
        if step % log_every == 0 or step == steps:
            log.append([step, round(loss.item(), 5)])  # the only other sync in the loop
            print(f"  step {step}/{steps} loss {log[-1][1]:.4f}", flush=True)
            if step - start > 1:
                eta = (steps - step) * (time.monotonic() - t_first) / (step - start - 1)
    ctx.sync()
    t_end = time.monotonic()
    record = {"steps": steps, "steps_done": step, "wall_s": round(wall_before + t_end - t0, 2),
              "loss_log": log, "finished": step >= steps}
    if t_first is not None:
        record["first_step_s"] = round(t_first - t0, 3)
        if step - start > 1:
            tokens = (step - start - 1) * cfg["batch"] * cfg["context"]
            record["tokens_per_s"] = round(tokens / (t_end - t_first))
    if record["finished"]:
        if os.path.exists(partial):
            os.remove(partial)
    else:
        save_partial(partial, model, opt, step, log, wall_before + t_end - t0)
    return record


def eval_offsets(cfg, val_len):
    """The fixed validation windows: consecutive, not overlapping, from the
    start of the split."""
    n = (val_len - 1) // cfg["context"]
    if cfg["eval_windows"]:
        n = min(n, cfg["eval_windows"])
    return np.arange(n) * cfg["context"]


@torch.no_grad()
def evaluate(model, ctx):
    """Validation perplexity: exp(mean byte-level cross-entropy)."""
    cfg = ctx.cfg
    model.eval()
    offs = eval_offsets(cfg, len(ctx.val))
    total = torch.zeros((), dtype=torch.float64, device=ctx.device)
    t0 = time.monotonic()
    for i in range(0, len(offs), cfg["eval_batch"]):
        x, y = windows(ctx.val, offs[i:i + cfg["eval_batch"]], cfg["context"])
        with ctx.autocast():
            logits = model(x)
        total += torch.nn.functional.cross_entropy(
            logits.float().view(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").double()
    tokens = len(offs) * cfg["context"]
    loss = total.item() / tokens
    return {"val_loss": round(loss, 6), "val_ppl": round(math.exp(loss), 5),
            "val_bits_per_byte": round(loss / math.log(2), 5), "val_windows": len(offs),
            "val_tokens": tokens, "eval_s": round(time.monotonic() - t0, 2)}


def new_model(ctx):
    torch.manual_seed(ctx.cfg["seed"])
    return ByteLM(model_config(ctx.cfg)).to(ctx.device)


def dense_model(ctx, work):
    model = new_model(ctx)
    load_weights(model, work, DENSE)
    return model


# ---------------------------------------------------------------- calibration

@torch.no_grad()
def calibrate(model, ctx, engine):
    """float64 [L, H, QB, KB] tile mass over the calibration windows, drawn
    from the train split; plus, with the sieve engine, how far its first
    batch's statistic is from PyTorch's."""
    cfg = ctx.cfg
    block, nb = cfg["block"], cfg["context"] // cfg["block"]
    stats = np.zeros((cfg["layers"], cfg["heads"], nb, nb), dtype=np.float64)
    offs = random_offsets(len(ctx.train), cfg["calib_windows"], cfg["context"], cfg["seed"],
                          STREAM_CALIBRATE)
    sieve_mass = SieveTileMass(cfg["heads"], cfg["context"], block) if engine == "sieve" else None
    # With the sieve engine, the first batch is also computed in PyTorch:
    # the largest difference per query row, over every layer's tiles.
    state = {"first_batch": True, "max_abs_diff_per_row": 0.0}

    def observe(layer, q, k, v):
        if sieve_mass is None:
            mass = torch_tile_mass(q, k, block)
        else:
            mass = sieve_mass(q, k, v)
            if state["first_batch"]:
                diff = (mass - torch_tile_mass(q, k, block)).abs().max().item()
                rows = q.shape[0] * block
                state["max_abs_diff_per_row"] = max(state["max_abs_diff_per_row"], diff / rows)
        stats[layer] += mass.double().cpu().numpy()

    model.eval()
    model.set_observer(observe)
    try:
        for i in range(0, len(offs), cfg["calib_batch"]):
            x, _ = windows(ctx.train, offs[i:i + cfg["calib_batch"]], cfg["context"])
            with ctx.autocast():
                model(x)
            state["first_batch"] = False
    finally:
        model.set_observer(None)
    check = {"max_abs_diff_per_row": state["max_abs_diff_per_row"]} if sieve_mass else None
    return stats, check


# ---------------------------------------------------------------- stages

def mask_key(p, kind):
    """The mask's name in WORK/masks.npz: p40_pruned, p40_random."""
    return f"p{p:02d}_{kind}"


def load_masks(work):
    with np.load(work.file_path("masks.npz")) as z:
        return {k: z[k] for k in z.files}


def stage_pretrain(ctx, work, args, should_stop):
    cfg = ctx.cfg
    model = new_model(ctx)
    record = train(model, ctx, steps=cfg["pretrain_steps"], lr=cfg["pretrain_lr"],
                   warmup=cfg["pretrain_warmup"], stream=STREAM_PRETRAIN,
                   should_stop=should_stop, partial=partial_path(work, "pretrain"),
                   log_every=args.log_every)
    if record["finished"]:
        record["shards"] = save_weights(model, work, DENSE)
        record["parameters"] = model.parameter_count()
    return record


def stage_eval(ctx, work, args, should_stop):
    model = dense_model(ctx, work)
    model.set_attention("dense")
    return {**evaluate(model, ctx), "finished": True}


def stage_calibrate(ctx, work, args, should_stop):
    cfg = ctx.cfg
    engine = "sieve" if cfg["attention"] == "sieve" else "torch"
    model = dense_model(ctx, work)
    t0 = time.monotonic()
    stats, check = calibrate(model, ctx, engine)
    calls = -(-cfg["calib_windows"] // cfg["calib_batch"])
    block_masks.write_stats(work.file_path("stats.npy"), stats, cfg["block"], cfg["context"],
                            cfg["calib_windows"], calls,
                            f"byte LM, {cfg['calib_windows']} train windows of "
                            f"{cfg['context']} bytes, engine {engine}, causal")
    record = {"engine": engine, "windows": cfg["calib_windows"], "finished": True,
              "wall_s": round(time.monotonic() - t0, 2),
              "rows_per_head": int(cfg["calib_windows"] * cfg["context"]),
              "mass_per_head_min": float(stats.sum((2, 3)).min()),
              "mass_per_head_max": float(stats.sum((2, 3)).max())}
    if check is not None:
        record["sieve_vs_torch"] = check
    return record


def stage_prune(ctx, work, args, should_stop):
    cfg = ctx.cfg
    stats = np.load(work.file_path("stats.npy"))
    masks, summary = {}, {}
    for p in sparsities(cfg):
        if args.sieve_cli:
            pruned = block_masks.prune_cli(args.sieve_cli, work.file_path("stats.npy"),
                                           work.file_path(f"sieve-prune-p{p:02d}.npy"), p,
                                           stats.shape[-1])
        else:
            pruned = block_masks.prune(stats, p)
        masks[mask_key(p, "pruned")] = pruned
        summary[f"p{p:02d}"] = {"pruned": block_masks.summary(pruned, stats)}
        if p > 0:
            rand = block_masks.random_like(pruned, cfg["seed"], p)
            masks[mask_key(p, "random")] = rand
            summary[f"p{p:02d}"]["random"] = block_masks.summary(rand, stats)
    np.savez_compressed(work.file_path("masks.npz"), **masks)
    return {"engine": "sieve prune CLI" if args.sieve_cli else "python (sieve prune's rule)",
            "masks": summary, "finished": True}


def stage_finetune(ctx, work, args, should_stop, name):
    cfg = ctx.cfg
    _, tag, kind = name.split("/")
    found = load_masks(work)
    mask = found[f"{tag}_{kind}"]
    twin = f"finetune/{tag}/pruned"
    if kind == "random" and np.array_equal(mask, found[f"{tag}_pruned"]) and work.done(twin):
        # Where the diagonal alone exceeds the budget both masks are the
        # diagonal: the same run, so its numbers stand for both.
        return {**work.stage(twin), "same_mask_as": twin, "finished": True}
    model = dense_model(ctx, work)
    model.set_attention(cfg["attention"], mask, cfg["block"])
    record = train(model, ctx, steps=cfg["finetune_steps"], lr=cfg["finetune_lr"],
                   warmup=cfg["finetune_warmup"], stream=STREAM_FINETUNE,
                   should_stop=should_stop, partial=partial_path(work, name),
                   log_every=args.log_every)
    if not record["finished"]:
        return record
    record.update(evaluate(model, ctx))
    if cfg["attention"] != "masked-reference":
        # The same weights under the SDPA reference of the same mask: a
        # check on the kernel the fine-tuning ran.
        model.set_attention("masked-reference", mask, cfg["block"])
        record["val_ppl_reference"] = evaluate(model, ctx)["val_ppl"]
    record["mask"] = block_masks.summary(mask, np.load(work.file_path("stats.npy")))
    return record


def run_stage(name, ctx, work, args, should_stop):
    if name.startswith("finetune/"):
        return stage_finetune(ctx, work, args, should_stop, name)
    return {"pretrain": stage_pretrain, "eval": stage_eval, "calibrate": stage_calibrate,
            "prune": stage_prune}[name](ctx, work, args, should_stop)


def steps_left(work, name, steps):
    """Steps a training stage still has: all of them unless its partial
    checkpoint is here (it does not travel with an export)."""
    if os.path.exists(partial_path(work, name)):
        return steps - work.stage(name).get("steps_done", 0)
    return steps


def estimate_seconds(name, work, args):
    """A stage's expected wall time, from what earlier stages measured
    (the training speed of a stopped stage counts too)."""
    cfg = work.results["config"]
    tokens_per_step = cfg["batch"] * cfg["context"]
    pre = work.stage("pretrain")
    rate = pre.get("tokens_per_s") or args.assume_tokens_per_s
    if name == "pretrain":
        return 10 + steps_left(work, name, cfg["pretrain_steps"]) * tokens_per_step / rate
    if name.startswith("finetune/"):
        done = [s for k, s in work.results["stages"].items()
                if k.startswith("finetune/") and s.get("done") and not s.get("same_mask_as")]
        if done:
            return max(s["stage_wall_s"] for s in done) + 5
        # The first fine-tuning also compiles the masks' kernels.
        return 30 + steps_left(work, name, cfg["finetune_steps"]) * tokens_per_step / rate
    return 20  # eval, calibrate, prune: seconds


def versions():
    out = {"torch": torch.__version__, "python": platform.python_version()}
    try:
        import sieve

        out["sieve"] = sieve.__version__
    except ImportError:
        out["sieve"] = None
    return out


def require_sieve(todo):
    """Fails before any work when stages that need sieve cannot import it."""
    if not any(s == "calibrate" or s.startswith("finetune/") for s in todo):
        return
    try:
        import sieve.torch_op  # noqa: F401
    except ImportError as error:
        raise SystemExit(f"train_lm: --attention sieve needs the sieve module ({error}); put "
                         "its folder on PYTHONPATH (scripts/lm-table.sh: SIEVE_PYTHONPATH) or "
                         "use --attention masked-reference")


def fits(need, left, args):
    """None when a stage of `need` seconds can start with `left` seconds to
    go, else (why not, whether a later call could run it). A stage must fit
    one call: its partial checkpoint stays on the machine it ran on, so no
    number of calls would finish one longer than a whole budget."""
    if need > args.budget_seconds - args.margin_seconds:
        return (f"it needs ~{need:.0f} s, more than a whole call's budget "
                f"({args.budget_seconds:.0f} s): lower its steps or raise --budget-seconds",
                False)
    if need > left:
        return f"it needs ~{need:.0f} s, {max(0, left):.0f} s are left", True
    return None


def past_deadline(deadline):
    """should_stop for train(): at the deadline, or as soon as the speed
    measured says the stage cannot end before it (a stopped stage's
    partial checkpoint does not travel, so running on would waste the call)."""
    def should_stop(step, eta):
        now = time.monotonic()
        return now > deadline or (eta is not None and now + eta > deadline)
    return should_stop


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()  # after the imports: --margin-seconds covers them
    deadline = started + args.budget_seconds - args.margin_seconds
    cfg = experiment_config(args)
    work = Work(args.work, cfg)
    stages = selected_stages(cfg, args.stages)
    todo = [s for s in stages if not work.done(s)]
    if args.plan:
        for s in stages:
            state = "done" if work.done(s) else f"~{estimate_seconds(s, work, args):.0f} s"
            print(f"{s:24s} {state}")
        return 0 if all(work.done(s) for s in all_stages(cfg)) else 3
    if cfg["attention"] == "sieve":
        require_sieve(todo)
    ctx = Context(args, cfg)
    work.results.update(corpus=ctx.corpus_info, device=ctx.describe(), versions=versions())
    now = datetime.datetime.now(datetime.timezone.utc)
    call = {"started": now.isoformat(timespec="seconds"), "device": ctx.describe(),
            "budget_s": None if math.isinf(args.budget_seconds) else args.budget_seconds,
            "ran": []}
    work.results["calls"].append(call)
    stopped, status = None, None
    for name in todo:
        need = estimate_seconds(name, work, args)
        refused = fits(need, deadline - time.monotonic(), args)
        if refused:
            why, later = refused
            stopped, status = f"before {name}: {why}", (None if later else 2)
            break
        print(f"== {name} (~{need:.0f} s)", flush=True)
        t0 = time.monotonic()
        record = run_stage(name, ctx, work, args, past_deadline(deadline))
        record["stage_wall_s"] = round(time.monotonic() - t0, 2)
        record["done"] = record.pop("finished")
        call["ran"].append(name)
        work.record(name, record)
        if not record["done"]:
            stopped = (f"stopped in {name}: it would not end before the deadline (partial "
                       f"checkpoint kept in {work.path})")
            break
        if "val_ppl" in record:
            print(f"  val ppl {record['val_ppl']:.4f}", flush=True)
    remaining = [s for s in all_stages(cfg) if not work.done(s)]
    call["stopped"] = stopped or ("all stages done" if not remaining else "stages asked done")
    call["wall_s"] = round(time.monotonic() - started, 2)
    work.save()
    if args.export:
        names = work.export(args.export)
        print(f"train_lm: exported {', '.join(names)} to {args.export}")
    print(f"train_lm: {call['stopped']}; {len(remaining)} stage(s) left"
          + (f" (next: {remaining[0]})" if remaining else ""))
    return status or (0 if not remaining else 3)


if __name__ == "__main__":
    sys.exit(main())
