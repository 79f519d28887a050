"""Greedy generation on a GPU through transformers and sieve
(scripts/lm/generate.py): this project's byte LM, trained here for a few
seconds and exported to GPT-2, generates with attn_implementation="sieve"
in float16 and bfloat16: the prompt's prefill runs sieve's causal kernel,
every decode step the generation kernel of its layer's mask (one kernel per
mask, the step's position given at launch). The tokens must equal those of
a float64 reference that applies the same block mask expanded to elements
(tests/python/test_lm_generation.py is the CPU backend's version).

Under SIEVE_REQUIRE_GPU=1 (tests/device/run.sh) a missing GPU or
transformers fails the test.

    PYTHONPATH=<package dir> python3 -m pytest -q tests/device/python/test_lm_generation_gpu.py
"""
import os
import sys

import pytest
import torch

from gpu_support import ROOT, add_transformers_path, skip as _skip

add_transformers_path()
sys.path.insert(0, os.path.join(ROOT, "scripts", "lm"))

BLOCK = 32


@pytest.fixture(scope="module")
def toy():
    if not torch.cuda.is_available():
        _skip("torch sees no CUDA device")
    try:
        import transformers  # noqa: F401
    except ImportError as error:
        _skip(f"transformers does not import ({error})")
    import generate

    generate.register_attention()
    model, text = generate.toy_model()
    return generate, model, text, generate.toy_masks(model.cfg, BLOCK)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_greedy_generation_on_the_gpu_matches_the_float64_reference(toy, dtype):
    generate, model, text, masks = toy
    import sieve._attention as attention_module
    from hf_export import to_gpt2

    prompt = torch.tensor([list(text[:45])], device="cuda")  # not a block multiple
    new = 150  # decode steps cross four mask rows
    reference = generate.with_attention(to_gpt2(model, "eager", torch.float64).cuda(),
                                        generate.REFERENCE, masks, BLOCK)
    want_tokens, want = generate.greedy_logits(reference, prompt, new)
    before = {k for k in attention_module._memo if "generation" in k}
    runner = generate.with_attention(to_gpt2(model, "eager", dtype).cuda(), "sieve", masks, BLOCK)
    got_tokens, got = generate.greedy_logits(runner, prompt, new)
    differ = (got_tokens != want_tokens).nonzero()
    assert len(differ) == 0, f"{dtype}: first difference at step {int(differ[0])}"
    # Half-precision weights and activations: the logits agree to the
    # rounding of a 16-bit model, far inside the margins greedy search uses.
    error = float((got - want).abs().max())
    print(f"{dtype}: {new} tokens identical, logits max error {error:.3g}")
    assert error < (0.1 if dtype == torch.float16 else 0.5), error
    generation = {k for k in attention_module._memo if "generation" in k} - before
    assert len(generation) == len(masks), generation
