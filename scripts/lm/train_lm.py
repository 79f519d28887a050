#!/usr/bin/env python3
"""Attention pruning on a small byte-level language model: the resumable
experiment driver (docs/lm-pruning-results.md is its report).

Stages, seed after seed (stages.py lists them; sN/ is training seed N, which
sets the initial weights, the batches and the random masks):

  pretrain    dense causal training from scratch (SDPA), AdamW, warmup + cosine
  eval        validation perplexity of the dense checkpoint
  calibrate   the dense model over windows of the TRAIN split: per layer, head
              and (query block, key block) tile, the softmax mass summed over
              rows and batch (sieve's calibration kernel with --attention
              sieve, else the same statistic in PyTorch)
  prune       per sparsity p: the calibrated mask per head (each head keeps
              round((1 - p) x causal tiles), the diagonal always, the rest by
              mass) and per layer (a layer's heads share their budget); a
              random mask and a position-only mask (sink + local window), both
              with the head mask's tiles per head
  finetune    per p and mask: from the dense checkpoint, the same steps on the
              same batches with the mask fixed, then validation perplexity
  scratch     per p and mask (head, position): from the initial weights, the
              pretraining steps and batches under the mask (the dense
              checkpoint is its reference)
  thresholds  per target dropped fraction: learned per-head thresholds with
              the soft gate and regularizer (soft_threshold.py), then theta
              fixed and the model fine-tuned in sieve's threshold mode;
              perplexity, the fraction of scores and tiles dropped, and the
              measured attention time against the plain kernel
  heads       per head budget: importances learned through the exact-K gate
              (head_selection.py), then fine-tuned under the sieve mask whose
              pruned heads are empty; perplexity and measured attention time

Everything lands in WORK/results.json. A call stops cleanly before its
--budget-seconds: a stage whose estimated time does not fit is not
started, and a training stage that will not make the deadline at the
speed measured stops early and leaves a partial checkpoint in WORK,
which a later run on the same WORK resumes. --export DIR copies the files
a later call on another machine needs (results, every seed's stats and
masks, and the dense weights, in bf16 shards under 16 MiB, of the seeds
with stages left); partial checkpoints stay, so there each stage must
fit one call, and a stage that cannot is refused (exit status 2).
--plan lists the stages with their estimated seconds and how they pack
into calls of --budget-seconds, and runs none.
Exit status 0: every stage done; 3: stages left, run again.

usage: train_lm.py --work DIR --corpus DIR [--stages all|s1,s2/finetune,...]
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
import attention_timing  # noqa: E402
import block_masks  # noqa: E402
import corpus  # noqa: E402
import head_selection  # noqa: E402
import soft_threshold  # noqa: E402
import stages as stage_names  # noqa: E402
from calibration import SieveTileMass, torch_tile_mass  # noqa: E402
from model import ByteLM, ModelConfig  # noqa: E402
from stages import all_stages, parse, sparsities  # noqa: E402

# Independent random streams, so that e.g. changing the calibration set
# does not change the training batches (block_masks.py draws stream 3).
STREAM_PRETRAIN, STREAM_FINETUNE, STREAM_CALIBRATE = range(3)
STREAM_GATES = 4  # the head gates' Gumbel noise
STREAM_SECOND_PHASE = 5  # a method's fine-tuning after its selection phase
SHARD_BYTES = 15 << 20  # what comes back from the device: 16 MiB a file
RESULTS = "results.json"
SEED_FILES = ("stats.npy", "stats.json", "masks.npz")  # per seed: s1-stats.npy, ...
DENSE = "dense"  # the dense checkpoint's shard prefix: s1-dense.0.pt, s1-dense.1.pt, ...
EVAL_TIMING_FACTOR = 3  # evaluation runs about this much faster than training, per token


# ---------------------------------------------------------------- config

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run = p.add_argument_group("the run (not part of the experiment's config)")
    run.add_argument("--work", required=True, help="work folder: checkpoints and results.json")
    run.add_argument("--corpus", required=True, help="folder with train.bin[.xz], val.bin[.xz]")
    run.add_argument("--stages", default="all",
                     help="comma list of stage names or prefixes (s1, s2/finetune, ...)")
    run.add_argument("--budget-seconds", type=float, default=float("inf"),
                     help="stop cleanly before this much wall time has passed")
    run.add_argument("--margin-seconds", type=float, default=10.0,
                     help="time kept back at the deadline for checkpoints and the export")
    run.add_argument("--call-overhead-seconds", type=float, default=20.0,
                     help="--plan: a call's own time (imports, corpus, CUDA) before stages")
    run.add_argument("--export", help="copy the state a later call needs into this folder")
    run.add_argument("--plan", action="store_true", help="print the stages and estimates; run none")
    run.add_argument("--sieve-cli", help="the `sieve` CLI: prune the head masks with `sieve "
                                         "prune` instead of the same rule in Python")
    # Until a stage has measured them: the H200's speeds (docs/lm-pruning-results.md).
    run.add_argument("--assume-tokens-per-s", type=float, default=1.0e6,
                     help="dense (SDPA) training speed assumed until one is measured")
    run.add_argument("--assume-sieve-tokens-per-s", type=float, default=0.5e6,
                     help="training speed under a sieve mask assumed until one is measured")
    run.add_argument("--assume-soft-tokens-per-s", type=float, default=0.25e6,
                     help="training speed with the soft threshold gate (explicit scores)")
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
    t.add_argument("--pretrain-steps", type=int, default=1200)
    t.add_argument("--pretrain-lr", type=float, default=1e-3)
    t.add_argument("--pretrain-warmup", type=int, default=100)
    t.add_argument("--finetune-steps", type=int, default=200)
    t.add_argument("--finetune-lr", type=float, default=3e-4)
    t.add_argument("--finetune-warmup", type=int, default=30)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--seeds", default="1,2,3", help="training seeds, one full run each")

    k = p.add_argument_group("masks and evaluation")
    k.add_argument("--attention", default="sieve", choices=("sieve", "masked-reference"),
                   help="attention core under a mask (fine-tuning, calibration engine)")
    k.add_argument("--block", type=int, default=32, help="tile size (query rows = keys)")
    k.add_argument("--sparsities", default="0,50,90", help="p in percent")
    k.add_argument("--scratch-sparsities", default="90",
                   help="p at which head and position masks are also trained from scratch")
    k.add_argument("--calib-windows", type=int, default=32)
    k.add_argument("--calib-batch", type=int, default=8)
    k.add_argument("--eval-windows", type=int, default=0,
                   help="validation windows (consecutive, not overlapping); 0: all")
    k.add_argument("--eval-batch", type=int, default=16)
    k.add_argument("--check-windows", type=int, default=16,
                   help="windows on which the sieve runs are also scored with the SDPA reference")

    s = p.add_argument_group("learned thresholds and head budgets")
    s.add_argument("--sweep-seeds", type=int, default=1,
                   help="how many of the seeds (the first) run the thresholds and heads stages")
    s.add_argument("--threshold-targets", default="50,80,90",
                   help="dropped fractions of the causal scores to train for, percent")
    # Soft + hard steps, and select + fine-tune steps, are --finetune-steps by
    # default: the same training as the p = 0 run they are compared with.
    s.add_argument("--threshold-steps", type=int, default=150, help="with the soft gate")
    s.add_argument("--threshold-hard-steps", type=int, default=50,
                   help="then with theta fixed, in sieve's threshold mode")
    s.add_argument("--threshold-lr", type=float, default=0.02,
                   help="theta's peak LR, in units of each head's score sd")
    s.add_argument("--threshold-weight", type=float, default=1.0, help="the regularizer's weight")
    s.add_argument("--threshold-tau-start", type=float, default=1.0,
                   help="the gate's temperature, in units of each head's score sd")
    s.add_argument("--threshold-tau-end", type=float, default=0.02)
    s.add_argument("--head-budgets", default="layer-k1,layer-k2,layer-k4,total-k12",
                   help="SCOPE-kK: K heads per layer (layer) or in all (total)")
    s.add_argument("--head-select-steps", type=int, default=120,
                   help="with the exact-K gate learning the importances")
    s.add_argument("--head-finetune-steps", type=int, default=80,
                   help="then under the sieve mask with the pruned heads empty")
    s.add_argument("--head-lr", type=float, default=0.05, help="the importances' peak LR")
    s.add_argument("--head-tau-start", type=float, default=1.0)
    s.add_argument("--head-tau-end", type=float, default=0.1)
    s.add_argument("--time-windows", type=int, default=4,
                   help="validation windows whose attention is timed")
    args = p.parse_args(argv)
    if any(not 0 <= x < 100 for x in stage_names.int_list(args.sparsities) +
           stage_names.int_list(args.scratch_sparsities)):
        p.error("--sparsities and --scratch-sparsities are percentages in [0, 100)")
    if not set(stage_names.int_list(args.scratch_sparsities)) <= set(
            stage_names.int_list(args.sparsities)) - {0}:
        p.error("--scratch-sparsities must be among the nonzero --sparsities (their masks)")
    if any(not 0 < x < 100 for x in stage_names.int_list(args.threshold_targets)):
        p.error("--threshold-targets are percentages in (0, 100)")
    if not stage_names.int_list(args.seeds):
        p.error("--seeds: at least one")
    if args.context % args.block or args.d_model % args.heads:
        p.error("--context must be a multiple of --block and --d-model of --heads")
    for scope, k in stage_names.head_budgets(vars(args)):
        limit = {"layer": args.heads, "total": args.heads * args.layers}.get(scope)
        if limit is None or not 1 <= k < limit:
            p.error(f"--head-budgets: {scope}-k{k}: the scope is layer or total, and K below "
                    "the heads there")
    return args


CONFIG_KEYS = ("layers", "d_model", "heads", "context", "dropout", "batch", "pretrain_steps",
               "pretrain_lr", "pretrain_warmup", "finetune_steps", "finetune_lr",
               "finetune_warmup", "weight_decay", "seeds", "attention", "block", "sparsities",
               "scratch_sparsities", "calib_windows", "calib_batch", "eval_windows",
               "eval_batch", "check_windows", "sweep_seeds", "threshold_targets",
               "threshold_steps", "threshold_hard_steps", "threshold_lr", "threshold_weight",
               "threshold_tau_start", "threshold_tau_end", "head_budgets", "head_select_steps",
               "head_finetune_steps", "head_lr", "head_tau_start", "head_tau_end",
               "time_windows")


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

def write_json_atomically(path, data):
    """JSON into a temporary name beside `path`, then renamed over it: a
    call stopped mid-write leaves the last complete file."""
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def _extends(old_seeds, new_seeds):
    """Whether the seed list new_seeds begins with old_seeds (and is longer)."""
    old, new = stage_names.int_list(old_seeds or ""), stage_names.int_list(new_seeds)
    return len(new) > len(old) and new[:len(old)] == old


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
            self.results = {"format": "sieve-lm-pruning", "version": 2, "config": cfg,
                            "stages": {}, "calls": []}

    def _check_config(self, cfg):
        # Resuming with other settings would mix two experiments in one table.
        # More training seeds after the recorded ones extend the same
        # experiment (its error bars), so that one difference is allowed.
        old = self.results["config"]
        diff = [f"{k}: {old.get(k)!r} in results.json, {cfg[k]!r} now" for k in cfg
                if old.get(k) != cfg[k] and not (k == "seeds" and _extends(old.get(k), cfg[k]))]
        if not diff and old.get("seeds") != cfg["seeds"]:
            old["seeds"] = cfg["seeds"]
        if diff:
            raise SystemExit(f"train_lm: {self.file} is another experiment's:\n  " +
                             "\n  ".join(diff) + "\nuse another --work folder or the same flags")

    def file_path(self, name):
        return os.path.join(self.path, name)

    def seed_path(self, seed, name):
        """A seed's own file: s1-stats.npy, s1-dense.0.pt, ..."""
        return self.file_path(f"s{seed}-{name}")

    def stage(self, name):
        return self.results["stages"].get(name, {})

    def done(self, name):
        return bool(self.stage(name).get("done"))

    def record(self, name, entry):
        self.results["stages"][name] = entry
        self.save()

    def save(self):
        os.makedirs(self.path, exist_ok=True)
        write_json_atomically(self.file, self.results)

    def export(self, dest, seeds_with_stages_left):
        """Copies the state a later call needs: results, every seed's stats
        and masks, and the dense weights of the seeds with stages left (a
        finished seed's need not travel: three would pass the carry's
        limit). Partial checkpoints stay (with the optimizer they are
        several times the weights)."""
        os.makedirs(dest, exist_ok=True)
        names = [RESULTS] + sorted(os.path.basename(f) for n in SEED_FILES
                                   for f in glob.glob(self.file_path("s*-" + n)))
        for seed in seeds_with_stages_left:
            names += [os.path.basename(f)
                      for f in sorted(glob.glob(self.seed_path(seed, DENSE + ".*.pt")))]
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


def train_batch(ctx, seed, stream, step):
    cfg = ctx.cfg
    offs = random_offsets(len(ctx.train), cfg["batch"], cfg["context"], seed, stream, step)
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

def make_optimizer(model, lr, weight_decay, cuda, special=None):
    """AdamW; matrices decay, vectors do not; `special` maps parameters
    (thresholds, importances) to their own peak LR, without decay."""
    special = special or {}
    ids = {id(p) for p in special}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay,
               "peak": lr},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0, "peak": lr}]
    groups += [{"params": [p], "weight_decay": 0.0, "peak": peak} for p, peak in special.items()]
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


def train(model, ctx, *, seed, steps, lr, warmup, stream, should_stop, partial, log_every,
          special=None, before_step=None, extra_loss=None):
    """Trains `steps` steps on the batches of (seed, `stream`) (the same
    batches for every run of that stream). `special`: parameters with their
    own peak LR; before_step(step) sets schedules (temperatures);
    extra_loss() is added to the loss (a regularizer). Returns the stage record; `finished` is
    False when should_stop(step, eta) said so first (eta: the seconds the
    rest would take at the speed so far, or None before it is known), with
    the state saved in `partial`, from which a later run on the same WORK
    resumes. The first step is timed apart: it holds the kernels' compiles
    and autotuning."""
    cfg = ctx.cfg
    opt = make_optimizer(model, lr, cfg["weight_decay"], ctx.cuda, special)
    start, log, wall_before = 0, [], 0.0
    if os.path.exists(partial):
        start, log, wall_before = load_partial(partial, model, opt, ctx.device)
    model.train()
    t0 = time.monotonic()
    t_first, eta = None, None
    step = start
    while step < steps and not should_stop(step, eta):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, group["peak"], warmup)
        if before_step is not None:
            before_step(step)
        x, y = train_batch(ctx, seed, stream, step)
        with ctx.autocast():
            loss = model.loss(x, y)
            if extra_loss is not None:
                loss = loss + extra_loss()
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
def evaluate(model, ctx, windows_limit=None):
    """Validation perplexity: exp(mean byte-level cross-entropy), over the
    first `windows_limit` windows when given."""
    cfg = ctx.cfg
    model.eval()
    offs = eval_offsets(cfg, len(ctx.val))
    if windows_limit:
        offs = offs[:windows_limit]
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


def new_model(ctx, seed):
    torch.manual_seed(seed)
    return ByteLM(model_config(ctx.cfg)).to(ctx.device)


def dense_model(ctx, work, seed):
    model = new_model(ctx, seed)
    load_weights(model, work, f"s{seed}-{DENSE}")
    return model


# ---------------------------------------------------------------- calibration

@torch.no_grad()
def calibrate(model, ctx, engine, seed):
    """float64 [L, H, QB, KB] tile mass over the calibration windows, drawn
    from the train split; plus, with the sieve engine, how far its first
    batch's statistic is from PyTorch's."""
    cfg = ctx.cfg
    block, nb = cfg["block"], cfg["context"] // cfg["block"]
    stats = np.zeros((cfg["layers"], cfg["heads"], nb, nb), dtype=np.float64)
    offs = random_offsets(len(ctx.train), cfg["calib_windows"], cfg["context"], seed,
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
    """The mask's name in WORK/sN-masks.npz: p40_head, p40_random, ..."""
    return f"p{p:02d}_{kind}"


def load_masks(work, seed):
    with np.load(work.seed_path(seed, "masks.npz")) as z:
        return {k: z[k] for k in z.files}


def seed_stats(work, seed):
    return np.load(work.seed_path(seed, "stats.npy"))


def stage_pretrain(ctx, work, args, should_stop, seed):
    cfg = ctx.cfg
    model = new_model(ctx, seed)
    record = train(model, ctx, seed=seed, steps=cfg["pretrain_steps"], lr=cfg["pretrain_lr"],
                   warmup=cfg["pretrain_warmup"], stream=STREAM_PRETRAIN,
                   should_stop=should_stop, partial=partial_path(work, f"s{seed}/pretrain"),
                   log_every=args.log_every)
    if record["finished"]:
        record["shards"] = save_weights(model, work, f"s{seed}-{DENSE}")
        record["parameters"] = model.parameter_count()
    return record


def stage_eval(ctx, work, args, should_stop, seed):
    model = dense_model(ctx, work, seed)
    model.set_attention("dense")
    return {**evaluate(model, ctx), "finished": True}


def stage_calibrate(ctx, work, args, should_stop, seed):
    cfg = ctx.cfg
    engine = "sieve" if cfg["attention"] == "sieve" else "torch"
    model = dense_model(ctx, work, seed)
    t0 = time.monotonic()
    stats, check = calibrate(model, ctx, engine, seed)
    calls = -(-cfg["calib_windows"] // cfg["calib_batch"])
    block_masks.write_stats(work.seed_path(seed, "stats.npy"), stats, cfg["block"],
                            cfg["context"], cfg["calib_windows"], calls,
                            f"byte LM seed {seed}, {cfg['calib_windows']} train windows of "
                            f"{cfg['context']} bytes, engine {engine}, causal")
    record = {"engine": engine, "windows": cfg["calib_windows"], "finished": True,
              "wall_s": round(time.monotonic() - t0, 2),
              "rows_per_head": int(cfg["calib_windows"] * cfg["context"]),
              "mass_per_head_min": float(stats.sum((2, 3)).min()),
              "mass_per_head_max": float(stats.sum((2, 3)).max())}
    if check is not None:
        record["sieve_vs_torch"] = check
    return record


def stage_prune(ctx, work, args, should_stop, seed):
    cfg = ctx.cfg
    stats = seed_stats(work, seed)
    nb = stats.shape[-1]
    masks, summary = {}, {}
    for p in sparsities(cfg):
        if args.sieve_cli:
            head = block_masks.prune_cli(args.sieve_cli, work.seed_path(seed, "stats.npy"),
                                         work.seed_path(seed, f"sieve-prune-p{p:02d}.npy"), p,
                                         nb)
        else:
            head = block_masks.prune(stats, p)
        found = {"head": head}
        if p > 0:
            found["layer"] = block_masks.prune_scope(stats, p, "layer")
            found["random"] = block_masks.random_like(head, seed, p)
            found["position"] = block_masks.position_only(head.sum((2, 3)), nb)
        summary[f"p{p:02d}"] = {}
        for kind, mask in found.items():
            masks[mask_key(p, kind)] = mask
            summary[f"p{p:02d}"][kind] = block_masks.summary(mask, stats)
    np.savez_compressed(work.seed_path(seed, "masks.npz"), **masks)
    return {"engine": "sieve prune CLI" if args.sieve_cli else "python (sieve prune's rule)",
            "masks": summary, "finished": True}


def reference_check(model, ctx, mask, record, thresholds=None):
    """The same weights under the SDPA reference of the same mask (and
    thresholds) on the first --check-windows windows: a check on the
    kernel the run used."""
    cfg = ctx.cfg
    if cfg["attention"] == "masked-reference" or not cfg["check_windows"]:
        return
    kernel = evaluate(model, ctx, cfg["check_windows"])["val_ppl"]
    model.set_attention("masked-reference", mask, cfg["block"], thresholds)
    reference = evaluate(model, ctx, cfg["check_windows"])["val_ppl"]
    record["check"] = {"windows": cfg["check_windows"], "val_ppl_kernel": kernel,
                       "val_ppl_reference": reference,
                       "relative_gap": abs(kernel - reference) / reference}


def train_under_mask(ctx, work, args, should_stop, name, seed, mask, *, scratch):
    """From the dense checkpoint (or, scratch, the initial weights with the
    pretraining schedule and batches) under a fixed mask; evaluated."""
    cfg = ctx.cfg
    model = new_model(ctx, seed) if scratch else dense_model(ctx, work, seed)
    model.set_attention(cfg["attention"], mask, cfg["block"])
    if scratch:
        schedule = dict(steps=cfg["pretrain_steps"], lr=cfg["pretrain_lr"],
                        warmup=cfg["pretrain_warmup"], stream=STREAM_PRETRAIN)
    else:
        schedule = dict(steps=cfg["finetune_steps"], lr=cfg["finetune_lr"],
                        warmup=cfg["finetune_warmup"], stream=STREAM_FINETUNE)
    record = train(model, ctx, seed=seed, should_stop=should_stop,
                   partial=partial_path(work, name), log_every=args.log_every, **schedule)
    if not record["finished"]:
        return record
    record.update(evaluate(model, ctx))
    record["mask"] = block_masks.summary(mask, seed_stats(work, seed))
    reference_check(model, ctx, mask, record)
    return record


def stage_masked(ctx, work, args, should_stop, name, seed, rest, scratch):
    tag, kind = rest
    mask = load_masks(work, seed)[f"{tag}_{kind}"]
    return train_under_mask(ctx, work, args, should_stop, name, seed, mask, scratch=scratch)


def full_causal(cfg):
    nb = cfg["context"] // cfg["block"]
    return np.broadcast_to(block_masks.causal_tiles(nb),
                           (cfg["layers"], cfg["heads"], nb, nb)).copy()


def timing_batch(ctx, model):
    """Each layer's q, k, v for the first --time-windows validation windows."""
    cfg = ctx.cfg
    x, _ = windows(ctx.val, eval_offsets(cfg, len(ctx.val))[:cfg["time_windows"]],
                   cfg["context"])
    return attention_timing.capture_qkv(model, x, ctx.autocast)


def second_phase_warmup(cfg):
    """A method's second phase (hard thresholds, the kept heads) warms its
    fresh optimizer up over a tenth of its steps."""
    return max(1, min(cfg["threshold_hard_steps"], cfg["head_finetune_steps"]) // 10)


def stage_thresholds(ctx, work, args, should_stop, name, seed, rest):
    """Learned per-head thresholds for one target dropped fraction: the soft
    gate with tau annealed and the regularizer (theta starts at each head's
    target quantile of the first batch's scores), then theta fixed and the
    model fine-tuned in sieve's threshold mode (hard), then scored."""
    cfg = ctx.cfg
    target = int(rest[0][1:]) / 100
    model = dense_model(ctx, work, seed)
    x, _ = train_batch(ctx, seed, STREAM_FINETUNE, 0)
    qkv = attention_timing.capture_qkv(model, x[:4], ctx.autocast)
    gen = torch.Generator(device=ctx.device).manual_seed(seed)
    thetas = [soft_threshold.quantile_thresholds(q, k, target, generator=gen) for q, k, _ in qkv]
    spreads = [soft_threshold.score_spread(q, k) for q, k, _ in qkv]
    model.set_cores(lambda i: soft_threshold.ThresholdAttention(cfg["heads"], cfg["context"],
                                                                thetas[i], spreads[i]))
    cores = [b.core for b in model.blocks]
    steps = cfg["threshold_steps"]

    def before_step(step):
        tau = soft_threshold.tau_at(step, steps, cfg["threshold_tau_start"],
                                    cfg["threshold_tau_end"])
        for c in cores:
            c.tau = tau

    def regularizer():
        return soft_threshold.regularizer([c.dropped for c in cores], target,
                                          cfg["threshold_weight"])

    soft = train(model, ctx, seed=seed, steps=steps, lr=cfg["finetune_lr"],
                 warmup=cfg["finetune_warmup"], stream=STREAM_FINETUNE, should_stop=should_stop,
                 partial=partial_path(work, name + "/soft"), log_every=args.log_every,
                 special={c.offset: cfg["threshold_lr"] for c in cores}, before_step=before_step,
                 extra_loss=regularizer)
    if not soft["finished"]:
        return {"soft": soft, "finished": False, "steps_done": soft["steps_done"]}
    theta = torch.stack([c.theta.detach().float() for c in cores])
    full = full_causal(cfg)
    # Threshold mode from here on: theta fixed, the hard rule in sieve's kernel.
    model.set_attention(cfg["attention"], full, cfg["block"], theta)
    hard = train(model, ctx, seed=seed, steps=cfg["threshold_hard_steps"],
                 lr=cfg["finetune_lr"], warmup=second_phase_warmup(cfg),
                 stream=STREAM_SECOND_PHASE, should_stop=should_stop,
                 partial=partial_path(work, name + "/hard"),
                 log_every=args.log_every)
    record = {"soft": soft, "hard": hard, "target": target, "theta": theta.tolist(),
              "finished": hard["finished"], "steps_done": hard["steps_done"]}
    if not hard["finished"]:
        return record
    record.update(evaluate(model, ctx))
    reference_check(model, ctx, full, record, theta)
    model.set_attention("dense")
    qkv = timing_batch(ctx, model)
    scores, tiles = zip(*(soft_threshold.drop_fractions(q, k, theta[i], cfg["block"])
                          for i, (q, k, _) in enumerate(qkv)))
    record["scores_dropped"] = float(torch.stack(scores).mean())
    record["tiles_dropped"] = float(torch.stack(tiles).mean())
    record["scores_dropped_per_head"] = torch.stack(scores).tolist()
    record["timing"] = threshold_timing(qkv, full, cfg["block"], theta)
    return record


def threshold_timing(qkv, full, block, theta):
    """Seconds for every layer's attention: the plain kernel, threshold
    mode dropping nothing (theta = -inf: the mode's own cost) and with the
    learned theta; and SDPA."""
    nothing = torch.full_like(theta, -math.inf)
    out = {"plain_s": attention_timing.sieve_layers_seconds(qkv, full, block),
           "threshold_none_s": attention_timing.sieve_layers_seconds(qkv, full, block, nothing),
           "threshold_s": attention_timing.sieve_layers_seconds(qkv, full, block, theta),
           "sdpa_s": attention_timing.sdpa_layers_seconds(qkv)}
    out["speedup_vs_plain"] = out["plain_s"] / out["threshold_s"]
    return out


def stage_heads(ctx, work, args, should_stop, name, seed, rest):
    """A head budget: importances learned through the exact-K gate with the
    model, then the kept heads as a sieve mask (pruned heads empty),
    fine-tuned under it, scored and timed."""
    cfg = ctx.cfg
    scope, _, k = rest[0].partition("-k")
    model = dense_model(ctx, work, seed)
    budget = head_selection.HeadBudget(cfg["layers"], cfg["heads"], int(k), scope)
    model.head_budget = budget.to(ctx.device)
    steps = cfg["head_select_steps"]
    budget.generator = torch.Generator(device=ctx.device).manual_seed(seed * 1000 + STREAM_GATES)

    def before_step(step):
        budget.tau = soft_threshold.tau_at(step, steps, cfg["head_tau_start"],
                                           cfg["head_tau_end"])
        budget.noise = max(0.0, 1 - step / max(1, steps - 1) * 1.25)  # none in the last fifth

    select = train(model, ctx, seed=seed, steps=steps, lr=cfg["finetune_lr"],
                   warmup=cfg["finetune_warmup"], stream=STREAM_FINETUNE,
                   should_stop=should_stop, partial=partial_path(work, name + "/select"),
                   log_every=args.log_every, special={budget.importance: cfg["head_lr"]},
                   before_step=before_step)
    if not select["finished"]:
        return {"select": select, "finished": False, "steps_done": select["steps_done"]}
    keep = budget.selection().cpu().numpy()
    record = {"select": select, "scope": scope, "k": int(k), "kept": keep.tolist(),
              "importance": budget.importance.detach().cpu().tolist()}
    model.head_budget = None
    nb = cfg["context"] // cfg["block"]
    mask = block_masks.head_mask(keep, nb)
    model.set_attention(cfg["attention"], mask, cfg["block"])
    record["val_ppl_selected"] = evaluate(model, ctx)["val_ppl"]
    tune = train(model, ctx, seed=seed, steps=cfg["head_finetune_steps"], lr=cfg["finetune_lr"],
                 warmup=second_phase_warmup(cfg), stream=STREAM_SECOND_PHASE,
                 should_stop=should_stop, partial=partial_path(work, name + "/tune"),
                 log_every=args.log_every)
    record.update(finetune=tune, finished=tune["finished"], steps_done=tune["steps_done"])
    if not tune["finished"]:
        return record
    record.update(evaluate(model, ctx))
    reference_check(model, ctx, mask, record)
    model.set_attention("dense")
    qkv = timing_batch(ctx, model)
    full = full_causal(cfg)
    timing = {"all_heads_s": attention_timing.sieve_layers_seconds(qkv, full, cfg["block"]),
              "kept_heads_s": attention_timing.sieve_layers_seconds(qkv, mask, cfg["block"]),
              "sdpa_s": attention_timing.sdpa_layers_seconds(qkv)}
    timing["speedup"] = timing["all_heads_s"] / timing["kept_heads_s"]
    record["timing"] = timing
    record["heads_kept"] = int(keep.sum())
    return record


def run_stage(name, ctx, work, args, should_stop):
    seed, kind, rest = parse(name)
    if kind in ("finetune", "scratch"):
        return stage_masked(ctx, work, args, should_stop, name, seed, rest, kind == "scratch")
    if kind == "thresholds":
        return stage_thresholds(ctx, work, args, should_stop, name, seed, rest)
    if kind == "heads":
        return stage_heads(ctx, work, args, should_stop, name, seed, rest)
    return {"pretrain": stage_pretrain, "eval": stage_eval, "calibrate": stage_calibrate,
            "prune": stage_prune}[kind](ctx, work, args, should_stop, seed)


# ---------------------------------------------------------------- estimates and the plan

def measured_rate(work, kinds):
    """The training speed (tokens/s) the newest done stage of these kinds
    measured, or None."""
    for name in reversed(list(work.results["stages"])):
        s = work.stage(name)
        if s.get("done") and parse(name)[1] in kinds and s.get("tokens_per_s"):
            return s["tokens_per_s"]
    return None


def estimate_seconds(name, work, args):
    """A stage's expected wall time: what the same kind of stage took when
    it last ran (same config, so the same work), else from the training
    speeds measured or assumed (--assume-*-tokens-per-s)."""
    cfg = work.results["config"]
    _, kind, rest = parse(name)
    same = [s["stage_wall_s"] for k, s in work.results["stages"].items()
            if s.get("done") and "stage_wall_s" in s and parse(k)[1:] == (kind, rest)]
    if same:
        return max(same) + 3
    step = cfg["batch"] * cfg["context"]
    dense = measured_rate(work, ("pretrain",)) or args.assume_tokens_per_s
    masked = measured_rate(work, ("finetune", "scratch")) or args.assume_sieve_tokens_per_s
    soft = args.assume_soft_tokens_per_s
    val_windows = cfg["eval_windows"] or 2200  # a 2.2 MB validation split
    evaluation = 2 + val_windows * cfg["context"] / (EVAL_TIMING_FACTOR * dense)
    check = 1 if cfg["check_windows"] else 0
    # Loading the weights and the kernels' compiles: the 10.4 s a 200-step
    # fine-tune took on the H200 (docs/lm-pruning-results.md) is about this
    # plus 200 steps at --assume-sieve-tokens-per-s.
    setup = 3

    def steps_of(key):
        return steps_left(work, name, cfg[key]) * step

    if kind == "pretrain":
        return 10 + steps_of("pretrain_steps") / dense
    if kind == "eval":
        return setup + evaluation
    if kind in ("calibrate", "prune"):
        return 8
    if kind == "finetune":
        return setup + steps_of("finetune_steps") / masked + evaluation + check
    if kind == "scratch":
        return setup + steps_of("pretrain_steps") / masked + evaluation + check
    if kind == "thresholds":
        return (2 * setup + cfg["threshold_steps"] * step / soft
                + cfg["threshold_hard_steps"] * step / masked + evaluation + check + 8)
    if kind == "heads":
        return (2 * setup + cfg["head_select_steps"] * step / dense
                + cfg["head_finetune_steps"] * step / masked + 2 * evaluation + check + 5)
    raise ValueError(name)


def steps_left(work, name, steps):
    """Steps a training stage still has: all of them unless its partial
    checkpoint is here (it does not travel with an export)."""
    if os.path.exists(partial_path(work, name)):
        return steps - work.stage(name).get("steps_done", 0)
    return steps


def plan(stages, work, args):
    """Prints each stage's estimate and the call it would run in, packing
    stages in order into calls of --budget-seconds (less the margin and a
    call's own overhead); returns the total estimated device seconds."""
    usable = args.budget_seconds - args.margin_seconds - args.call_overhead_seconds
    calls, used, total = 0, None, 0.0
    for s in stages:
        if work.done(s):
            print(f"{s:28s} done")
            continue
        need = estimate_seconds(s, work, args)
        if used is None or used + need > usable:
            calls, used = calls + 1, 0.0
            total += args.call_overhead_seconds
        used += need
        total += need
        print(f"{s:28s} {f'~{need:.0f}':>5s} s   call {calls}")
    if calls:
        print(f"plan: {calls} call(s) of at most {args.budget_seconds:.0f} s, about "
              f"{total:.0f} s of device time in all (with {args.call_overhead_seconds:.0f} s "
              "a call for imports, the corpus and CUDA; the machine's start is extra)")
    return total


def versions():
    out = {"torch": torch.__version__, "python": platform.python_version()}
    try:
        import sieve

        out["sieve"] = sieve.__version__
    except ImportError:
        out["sieve"] = None
    return out


def require_sieve(todo):
    """Fails before any work when stages that need sieve cannot import it
    (every stage past eval uses it, the timing included)."""
    if all(parse(s)[1] in ("pretrain", "eval", "prune") for s in todo):
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
        plan(stages, work, args)
        return 0 if all(work.done(s) for s in all_stages(cfg)) else 3
    if cfg["attention"] == "sieve":
        require_sieve(todo)
    ctx = Context(args, cfg)
    os.makedirs(work.path, exist_ok=True)
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
        record["estimate_s"] = round(need, 1)
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
        left = sorted({parse(s)[0] for s in remaining})
        names = work.export(args.export, left)
        print(f"train_lm: exported {', '.join(names)} to {args.export}")
    print(f"train_lm: {call['stopped']}; {len(remaining)} stage(s) left"
          + (f" (next: {remaining[0]})" if remaining else ""))
    return status or (0 if not remaining else 3)


if __name__ == "__main__":
    sys.exit(main())
