#!/usr/bin/env python3
"""Greedy generation with a KV cache under a pruned mask, end to end
(issue 22 point 6, issue 26 point 1's causal model): the byte LM of
train_lm.py, exported to a transformers GPT-2 (hf_export.py), generates
through transformers' generate() with attn_implementation="sieve": the
prompt's prefill runs sieve's causal kernel, each decode step its
generation kernel (one per layer mask, the step's position given at
launch). The tokens are compared with a float reference: the same model in
float64 whose attention applies the same block mask expanded to elements
(and causality over positions) in PyTorch. With --time, tokens/s of sieve
against the same model with dense SDPA and with FlexAttention under the
same mask.

usage: generate.py (--work DIR [--seed 1] [--mask p90_head] | --toy)
                   [--prompt TEXT] [--new-tokens N] [--device auto|cpu|cuda]
                   [--dtype auto|float32|float16|bfloat16] [--time] [--json OUT]

--work reads train_lm.py's dense checkpoint sN-dense.*.pt and its masks
sN-masks.npz (key --mask); --toy trains a small model on a repeated text
for a few seconds (what the CPU tests run). Exit status 1 when the tokens
differ from the reference's.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_export import to_gpt2  # noqa: E402
from model import ByteLM, ModelConfig  # noqa: E402

REFERENCE = "sieve-element-reference"
FLEX = "sieve-flex-pruned"
_TILES = "_sieve_generate_tiles"  # on each attention module: (tiles [H, QB, KB], block)


def _layer_tiles(module):
    tiles = getattr(module, _TILES, None)
    if tiles is None:
        raise RuntimeError(f"attention layer {getattr(module, 'layer_idx', '?')} has no mask "
                           "attached (attach_tiles)")
    return tiles


def _allowed(tiles, block, seq_q, seq_k, device):
    """bool [H, seq_q, seq_k]: what the block mask and causality allow the
    queries at positions seq_k - seq_q .. seq_k - 1 (a KV cache's step, or
    the prompt when seq_q = seq_k)."""
    t = torch.from_numpy(np.ascontiguousarray(tiles, dtype=bool)).to(device)
    rows = torch.arange(seq_k - seq_q, seq_k, device=device)
    cols = torch.arange(seq_k, device=device)
    allowed = t[:, rows // block][:, :, cols // block]
    return allowed & (cols[None, :] <= rows[:, None])[None]


def element_reference(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                      **kwargs):
    """The float reference's attention: softmax over the keys the element
    mask allows, in the model's dtype (float64); a row with no allowed key
    gives zeros, as sieve defines it."""
    tiles, block = _layer_tiles(module)
    seq_q, seq_k = query.shape[2], key.shape[2]
    allowed = _allowed(tiles, block, seq_q, seq_k, query.device)
    scale = scaling if scaling is not None else 1.0 / math.sqrt(query.shape[-1])
    groups = query.shape[1] // key.shape[1]
    k = key.repeat_interleave(groups, 1)
    v = value.repeat_interleave(groups, 1)
    scores = (query @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~allowed[None], float("-inf"))
    weights = torch.softmax(scores, -1).nan_to_num(0.0)
    return (weights @ v).transpose(1, 2).contiguous(), None


def flex_pruned(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """FlexAttention under the same mask, as transformers' flex path runs a
    custom mask: a BlockMask built for each call's lengths and position."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    tiles, block = _layer_tiles(module)
    seq_q, seq_k = query.shape[2], key.shape[2]
    t = torch.from_numpy(np.ascontiguousarray(tiles, dtype=bool)).to(query.device)
    offset = seq_k - seq_q

    def mask_mod(b, h, q, kv):
        position = q + offset
        return t[h, position // block, kv // block] & (kv <= position)

    block_mask = create_block_mask(mask_mod, None, tiles.shape[0], seq_q, seq_k,
                                   device=query.device)
    out = _flex_kernel(query.is_cuda)(query, key, value, block_mask=block_mask, scale=scaling,
                                      enable_gqa=query.shape[1] != key.shape[1])
    return out.transpose(1, 2).contiguous(), None


_compiled_flex = None


def _flex_kernel(cuda):
    """flex_attention compiled once with dynamic shapes on a GPU (its fused
    Triton kernel, as Flex is meant to run; one compile for every step's
    length), eager on the CPU."""
    global _compiled_flex
    from torch.nn.attention.flex_attention import flex_attention

    if not cuda:
        return flex_attention
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention, dynamic=True)
    return _compiled_flex


def register_attention():
    from transformers import AttentionInterface

    AttentionInterface.register(REFERENCE, element_reference)
    AttentionInterface.register(FLEX, flex_pruned)
    try:
        from transformers import AttentionMaskInterface, masking_utils

        for name in (REFERENCE, FLEX):
            AttentionMaskInterface.register(name, masking_utils.sdpa_mask)
    except ImportError:
        pass


def attach_tiles(model, masks, block):
    """Gives each attention layer its [H, QB, KB] tiles, for the reference
    and Flex attention functions."""
    import sieve.integrations.transformers as sieve_hf

    modules = sieve_hf.attention_modules(model)
    if len(modules) != len(masks):
        raise ValueError(f"{len(masks)} layer masks for {len(modules)} attention layers")
    for module, tiles in zip(modules, masks):
        setattr(module, _TILES, (np.asarray(tiles, bool), block))


def with_attention(gpt2, name, masks, block):
    """`gpt2` running attention `name` under the masks: sieve's through
    use_masks, the reference's and Flex's through attach_tiles."""
    gpt2.set_attn_implementation(name)
    if name == "sieve":
        import sieve
        import sieve.integrations.transformers as sieve_hf

        sieve_hf.use_masks(gpt2, [sieve.BlockMask(np.ascontiguousarray(m, bool), block, block)
                                  for m in masks])
    elif name in (REFERENCE, FLEX):
        attach_tiles(gpt2, masks, block)
    return gpt2


def greedy(gpt2, prompt, new_tokens):
    """transformers' greedy search with its default (dynamic) KV cache:
    the generated tokens, [new_tokens]."""
    with torch.no_grad():
        out = gpt2.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                            do_sample=False, use_cache=True, pad_token_id=0)
    return out[0, prompt.shape[1]:].cpu()


def greedy_logits(gpt2, prompt, new_tokens):
    """(tokens [new_tokens], float64 logits [new_tokens, vocab]) of greedy
    search: each step's logits as the model computed them."""
    with torch.no_grad():
        out = gpt2.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                            do_sample=False, use_cache=True, pad_token_id=0,
                            output_logits=True, return_dict_in_generate=True)
    logits = torch.stack([step[0] for step in out.logits]).double().cpu()
    return out.sequences[0, prompt.shape[1]:].cpu(), logits


def reference_margin(gpt2_ref, tokens, at):
    """The reference's top-1 minus top-2 logit at generated position `at`."""
    with torch.no_grad():
        logits = gpt2_ref(tokens[None, :at]).logits[0, -1]
    top = torch.topk(logits.double(), 2).values
    return float(top[0] - top[1])


def toy_model(seed=0, steps=60):
    """A small model trained for a few seconds on a repeated text, so that
    greedy decoding follows clear maxima (a random model's near-ties would
    make any two float orders disagree)."""
    torch.manual_seed(seed)
    cfg = ModelConfig(layers=2, d_model=64, heads=2, context=256)
    model = ByteLM(cfg)
    text = (b"the quick brown fox jumps over the lazy dog; pack my box with five dozen "
            b"liquor jugs. ") * 8
    data = torch.tensor(list(text[:cfg.context + 1]), dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model.loss(data[None, :-1], data[None, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), text


def toy_masks(cfg, block, seed=0, density=0.6):
    """Per layer [H, QB, KB] tiles over the context: the diagonal and the
    first column kept, the other causal tiles kept at `density`."""
    rng = np.random.default_rng(seed)
    nb = cfg.context // block
    masks = []
    for _ in range(cfg.layers):
        tiles = rng.random((cfg.heads, nb, nb)) < density
        tiles[:, np.arange(nb), np.arange(nb)] = True
        tiles[:, :, 0] = True
        masks.append(tiles & np.tri(nb, dtype=bool)[None])
    return masks


def load_work(work, seed, mask_name, device):
    import glob

    with open(os.path.join(work, "results.json")) as f:
        cfg_dict = json.load(f)["config"]
    cfg = ModelConfig(layers=cfg_dict["layers"], d_model=cfg_dict["d_model"],
                      heads=cfg_dict["heads"], context=cfg_dict["context"])
    model = ByteLM(cfg)
    state = {}
    for shard in sorted(glob.glob(os.path.join(work, f"s{seed}-dense.*.pt"))):
        state.update(torch.load(shard, map_location="cpu"))
    if not state:
        raise SystemExit(f"generate: no s{seed}-dense checkpoint in {work} (train_lm.py pretrain)")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    with np.load(os.path.join(work, f"s{seed}-masks.npz")) as z:
        if mask_name not in z.files:
            raise SystemExit(f"generate: no mask {mask_name} in s{seed}-masks.npz: {z.files}")
        masks = z[mask_name]
    return model.eval(), list(masks.astype(bool)), int(cfg_dict["block"])


def timed(gpt2, prompt, new_tokens, repeats=3):
    """Median tokens/s of greedy generation (after one warm-up run)."""
    greedy(gpt2, prompt, new_tokens)
    rates = []
    for _ in range(repeats):
        if prompt.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        greedy(gpt2, prompt, new_tokens)
        if prompt.is_cuda:
            torch.cuda.synchronize()
        rates.append(new_tokens / (time.perf_counter() - t0))
    return float(np.median(rates))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--work", help="train_lm.py's work folder")
    src.add_argument("--toy", action="store_true", help="a small model trained here")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mask", default="p90_head", help="the mask's name in sN-masks.npz")
    p.add_argument("--prompt", help="prompt text (default: the corpus' or toy text's start)")
    p.add_argument("--prompt-file", help="read the prompt from this file (its first bytes)")
    p.add_argument("--prompt-bytes", type=int, default=300)
    p.add_argument("--new-tokens", type=int, default=200)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    p.add_argument("--time", action="store_true", help="tokens/s: sieve, dense SDPA, Flex")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)

    import sieve.integrations.transformers  # noqa: F401  (registers "sieve")

    register_attention()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    dtype = {"auto": torch.float16 if device.type == "cuda" else torch.float32,
             "float32": torch.float32, "float16": torch.float16,
             "bfloat16": torch.bfloat16}[args.dtype]
    if args.toy:
        model, text = toy_model()
        block = 32
        masks = toy_masks(model.cfg, block)
    else:
        model, masks, block = load_work(args.work, args.seed, args.mask, "cpu")
        text = None
    if args.prompt is not None:
        prompt_bytes = args.prompt.encode()
    elif args.prompt_file:
        with open(args.prompt_file, "rb") as f:
            prompt_bytes = f.read(args.prompt_bytes)
    elif text is not None:
        prompt_bytes = text[:args.prompt_bytes]
    else:
        raise SystemExit("generate: give --prompt or --prompt-file")
    total = len(prompt_bytes) + args.new_tokens
    if total > model.cfg.context:
        raise SystemExit(f"generate: prompt {len(prompt_bytes)} + {args.new_tokens} new tokens "
                         f"exceed the model's context of {model.cfg.context}")
    prompt = torch.tensor([list(prompt_bytes)], dtype=torch.long, device=device)

    reference = with_attention(to_gpt2(model, "eager", torch.float64).to(device), REFERENCE,
                               masks, block)
    expected = greedy(reference, prompt, args.new_tokens)
    runner = with_attention(to_gpt2(model, "eager", dtype).to(device), "sieve", masks, block)
    got = greedy(runner, prompt, args.new_tokens)
    differ = (got != expected).nonzero()
    first = int(differ[0]) if len(differ) else None
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "dtype": str(dtype).replace("torch.", ""), "prompt_tokens": prompt.shape[1],
              "new_tokens": args.new_tokens, "block": block,
              "mask_density": float(np.mean([m[np.tri(m.shape[-1], dtype=bool)[None]
                                                  .repeat(m.shape[0], 0)].mean()
                                              for m in masks])),
              "identical": first is None, "first_difference": first,
              "sieve_text": bytes(got.tolist()).decode("utf-8", "replace"),
              "reference_text": bytes(expected.tolist()).decode("utf-8", "replace")}
    if first is not None:
        sequence = torch.cat([prompt[0].cpu(), expected])
        result["reference_margin_there"] = reference_margin(
            reference, sequence.to(device), prompt.shape[1] + first)
    def report():
        if args.json:  # after each part, so a run stopped by a time limit keeps what it has
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(result, f, indent=1)
            os.replace(tmp, args.json)

    report()
    if args.time:
        result["tokens_per_s"] = rates = {}
        rates["sieve"] = timed(runner, prompt, args.new_tokens)
        report()
        dense = to_gpt2(model, "sdpa", dtype).to(device)
        rates["sdpa_dense"] = timed(dense, prompt, args.new_tokens)
        report()
        try:
            flex = with_attention(to_gpt2(model, "eager", dtype).to(device), FLEX, masks, block)
            rates["flex_pruned"] = timed(flex, prompt, args.new_tokens)
        except Exception as error:  # noqa: BLE001  (report why Flex did not run)
            rates["flex_pruned_error"] = f"{type(error).__name__}: {error}"[:300]
        report()
    print(json.dumps(result, indent=1))
    return 0 if first is None else 1


if __name__ == "__main__":
    sys.exit(main())
