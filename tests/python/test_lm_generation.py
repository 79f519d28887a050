"""Greedy generation with a KV cache through transformers and sieve
(scripts/lm/generate.py): the byte LM exported to GPT-2 generates with
attn_implementation="sieve", a prefill then one generation kernel per
layer mask for every decode step, and matches a float64 reference that
applies the same mask expanded to elements. On the CPU backend here; the
same script runs on the GPU (docs/lm-pruning-results.md)."""
import os
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "lm"))

import generate  # noqa: E402
import sieve  # noqa: E402
import sieve._attention as attention_module  # noqa: E402
import sieve.integrations.transformers as sieve_hf  # noqa: E402
from hf_export import to_gpt2  # noqa: E402
from model import ByteLM, ModelConfig  # noqa: E402

BLOCK = 32


@pytest.fixture(scope="module")
def toy():
    generate.register_attention()
    model, text = generate.toy_model()
    return model, text, generate.toy_masks(model.cfg, BLOCK)


def test_the_gpt2_export_computes_what_the_byte_lm_computes():
    torch.manual_seed(1)
    model = ByteLM(ModelConfig(layers=2, d_model=64, heads=2, context=128)).eval()
    tokens = torch.randint(0, 256, (2, 77))
    with torch.no_grad():
        ours = model(tokens)
        theirs = to_gpt2(model, "eager")(tokens).logits
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5), (ours - theirs).abs().max()


def test_greedy_generation_matches_the_element_masked_float64_reference(toy):
    model, text, masks = toy
    prompt = torch.tensor([list(text[:45])])  # not a block multiple
    new = 150  # decode steps cross four mask rows
    reference = generate.with_attention(to_gpt2(model, "eager", torch.float64),
                                        generate.REFERENCE, masks, BLOCK)
    want_tokens, want = generate.greedy_logits(reference, prompt, new)
    before = {k for k in attention_module._memo if "generation" in k}
    runner = generate.with_attention(to_gpt2(model, "eager"), "sieve", masks, BLOCK)
    got_tokens, got = generate.greedy_logits(runner, prompt, new)
    assert torch.equal(got_tokens, want_tokens), (
        f"first difference at step {int((got_tokens != want_tokens).nonzero()[0])}")
    assert (got - want).abs().max() < 2e-3, (got - want).abs().max()
    # Every decode step ran through generation kernels, one per distinct
    # layer mask (batch 1, one query): nothing compiled per step.
    generation = {k for k in attention_module._memo if "generation" in k} - before
    assert len(generation) == len(masks), generation
    # The mask matters: the dense model's logits on the same tokens differ.
    dense = to_gpt2(model, "eager", torch.float64)
    with torch.no_grad():
        sequence = torch.cat([prompt[0], want_tokens])[None]
        dense_logits = dense(sequence).logits[0, prompt.shape[1] - 1:-1]
        masked_logits = reference(sequence).logits[0, prompt.shape[1] - 1:-1]
    assert torch.allclose(masked_logits, want, atol=1e-9)
    assert (dense_logits - masked_logits).abs().max() > 0.05


def test_a_decode_step_matches_the_reference_at_every_position(toy):
    """The integration's cached call alone: one query at position p against
    p + 1 cached keys, for p across block boundaries, GQA-free and with
    two key heads for four query heads."""
    _, _, masks = toy
    rng = torch.Generator().manual_seed(7)
    for heads_q, heads_kv in ((2, 2), (4, 2)):
        tiles = np.repeat(masks[0], heads_q // 2, axis=0)
        layer = sieve_hf.LayerMasks(0, sieve.BlockMask(tiles, BLOCK, BLOCK))

        class Module:  # what transformers hands over: a causal attention module
            is_causal = True

        module = Module()
        setattr(module, sieve_hf._PLAN_ATTRIBUTE, layer)
        setattr(module, generate._TILES, (tiles, BLOCK))
        for position in (0, 31, 32, 100, 255):
            q = torch.randn(1, heads_q, 1, 32, generator=rng)
            k = torch.randn(1, heads_kv, position + 1, 32, generator=rng)
            v = torch.randn(1, heads_kv, position + 1, 32, generator=rng)
            got, _ = sieve_hf.attention_forward(module, q, k, v, None, scaling=0.25)
            want, _ = generate.element_reference(module, q.double(), k.double(), v.double(),
                                                 None, scaling=0.25)
            assert (got.double() - want).abs().max() < 1e-5, (heads_q, position)


def test_cached_calls_outside_the_mask_or_with_padding_are_refused(toy):
    _, _, masks = toy
    layer = sieve_hf.LayerMasks(3, sieve.BlockMask(masks[0], BLOCK, BLOCK))

    class Module:
        is_causal = True

    module = Module()
    setattr(module, sieve_hf._PLAN_ATTRIBUTE, layer)
    q = torch.randn(1, 2, 1, 32)
    long_k = torch.randn(1, 2, 257, 32)
    with pytest.raises(sieve.ShapeMismatchError, match="covers 256 positions"):
        sieve_hf.attention_forward(module, q, long_k, long_k, None)
    k = torch.randn(2, 2, 40, 32)
    padding = torch.ones(2, 40, dtype=torch.bool)
    padding[1, :5] = False  # left padding
    with pytest.raises(sieve.UnsupportedError, match="padding with a KV cache"):
        sieve_hf.attention_forward(module, torch.randn(2, 2, 1, 32), k, k, padding)
    with pytest.raises(sieve.ShapeMismatchError, match="at least as many keys"):
        sieve_hf.attention_forward(module, torch.randn(1, 2, 8, 32), k[:1, :, :4], k[:1, :, :4],
                                   None)


def test_the_torch_op_takes_a_cache_grown_or_allocated(toy):
    _, _, masks = toy
    handle = sieve.torch_op.register_mask(sieve.BlockMask(masks[1], BLOCK, BLOCK))
    rng = torch.Generator().manual_seed(3)
    full_k = torch.randn(1, 2, 256, 32, generator=rng)
    full_v = torch.randn(1, 2, 256, 32, generator=rng)
    q = torch.randn(1, 2, 1, 32, generator=rng)
    allocated = torch.ops.sieve.attention_generate(q, full_k, full_v, handle, 70)
    grown = torch.ops.sieve.attention_generate(q, full_k[:, :, :71].contiguous(),
                                               full_v[:, :, :71].contiguous(), handle, 70)
    assert torch.equal(allocated, grown)
    with pytest.raises(sieve.ShapeMismatchError, match="the key cache holds 71 positions"):
        torch.ops.sieve.attention_generate(q, full_k[:, :, :71], full_v[:, :, :71], handle, 71)


def test_without_masks_generation_is_the_dense_model(toy):
    """No masks attached: the dense default's generation kernels (every tile
    of 1024 positions kept) give transformers' own eager attention."""
    model, text, _ = toy
    prompt = torch.tensor([list(text[:30])])
    want_tokens, want = generate.greedy_logits(to_gpt2(model, "eager", torch.float64), prompt, 40)
    got_tokens, got = generate.greedy_logits(to_gpt2(model, "sieve"), prompt, 40)
    assert torch.equal(got_tokens, want_tokens)
    assert (got - want).abs().max() < 2e-3, (got - want).abs().max()
