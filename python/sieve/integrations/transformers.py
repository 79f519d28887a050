"""sieve as a Hugging Face transformers attention implementation.

    import sieve.integrations.transformers as sieve_hf
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path, attn_implementation="sieve").eval()
    sieve_hf.use_masks(model, "pruned.npy")      # a `sieve prune` file: one mask per layer
    with torch.no_grad():
        out = model(**tokenizer(sentences, padding=True, return_tensors="pt"))

or in one step: `sieve_hf.from_pretrained(path, masks="pruned.npy")`.

Importing this module registers the name "sieve" in transformers'
attention-function registry (`AttentionInterface`), and, for the masks
transformers builds, in its attention-mask registry the boolean masks SDPA
gets. Every attention call of a model loaded with
attn_implementation="sieve" then runs `torch.ops.sieve.attention`
(sieve.torch_op) with its layer's block mask:

- Masks. `use_masks(model, masks)` gives layer l the l-th mask of a
  [layers, heads, query_blocks, key_blocks] mask file (docs/mask-format.md),
  of a list of sieve.BlockMask, or one BlockMask for every layer;
  `use_masks(model, None)` goes back to the dense default (every tile kept,
  64x64 tiles). A mask is made for the longest sequence it covers; a call
  with S tokens runs its leading ceil(S / block) query and key blocks (the
  top-left crop, as the C++ encoder does), so masks are indexed by token
  position and inputs must be padded on the right (BERT tokenizers do).
- Kernels. One kernel per (mask crop, batch, sequence lengths, head dim,
  dtype, device), compiled on first use and kept by sieve (an in-process
  table in front of the kernel cache, memory then disk); layers whose
  masks are equal share theirs.
- Padding. See `_attention_with_padding`: padded keys get exactly zero
  weight, padded query rows get finite values nobody reads.
- Generation. A causal model's calls against a KV cache (more keys than
  queries: decode steps, chunked prefill) run one generation kernel per
  layer mask, batch and query count (docs/generation.md): the mask is over
  token positions, the step's position is passed at launch, and nothing is
  compiled per step. `model.generate(...)` works as with any attention
  implementation; padded batches are refused there (left padding moves a
  sequence's positions).
- Limits, each refused with a message: attention dropout (call
  model.eval()), head masks, additive biases or masks that hide more than
  padded keys (causal masks are taken when the model says it is causal),
  dtypes other than float32/float16/bfloat16, float32 on a GPU (sieve's GPU
  kernels take float16/bfloat16: load the model with dtype=torch.float16),
  devices other than the CPU and CUDA. attn_weights is always None.
"""

import math
import os
import threading

import torch
import transformers

from .. import _attention, _errors, torch_op
from .._mask import BlockMask

NAME = "sieve"

# Tiles of the dense default (no masks attached): any block size is exact;
# 64 suits every backend (docs/backends.md).
DENSE_BLOCK = 64

# Attribute that carries a layer's masks on an attention module.
_PLAN_ATTRIBUTE = "_sieve_layer_masks"

_lock = threading.Lock()


class LayerMasks:
    """The block mask of one attention layer and its crops per sequence
    length, each registered with sieve.torch_op (one handle per crop)."""

    def __init__(self, layer, mask):
        if not isinstance(mask, BlockMask):
            raise _errors.InvalidArgumentError(
                f"layer {layer}: mask must be a sieve.BlockMask, got {type(mask).__qualname__}")
        self.layer = layer
        self.mask = mask
        self._handles = {}

    def handle(self, heads, seq_q, seq_k):
        """The torch_op handle of the crop covering seq_q x seq_k tokens."""
        key = (heads, seq_q, seq_k)
        found = self._handles.get(key)
        if found is not None:
            return found
        m = self.mask
        if heads != m.heads:
            raise _errors.ShapeMismatchError(
                f"layer {self.layer}: the mask has {m.heads} heads, the model's attention has "
                f"{heads}")
        qb, kb = -(-seq_q // m.block_q), -(-seq_k // m.block_k)
        if qb > m.query_blocks or kb > m.key_blocks:
            raise _errors.ShapeMismatchError(
                f"layer {self.layer}: the mask covers {m.query_blocks * m.block_q} query and "
                f"{m.key_blocks * m.block_k} key tokens ({m.query_blocks}x{m.key_blocks} tiles of "
                f"{m.block_q}x{m.block_k}); this call has {seq_q} queries and {seq_k} keys: "
                "make the mask for longer sequences, or cut the input (the tokenizer's "
                f"max_length={min(m.query_blocks * m.block_q, m.key_blocks * m.block_k)})")
        return self._crop_handle(key, qb, kb)

    def _crop_handle(self, key, qb, kb):
        """The handle of the mask's leading qb x kb tiles, kept under `key`."""
        m = self.mask
        if (qb, kb) == (m.query_blocks, m.key_blocks):
            crop = m
        else:
            crop = BlockMask(m.to_numpy()[:, :qb, :kb], m.block_q, m.block_k)
        found = torch_op.register_mask(crop)
        with _lock:
            self._handles[key] = found
        return found


    def generation_handle(self, heads, seq_k):
        """The torch_op handle of the whole mask as a generation kernel's
        mask over positions (a call against a KV cache of seq_k keys)."""
        m = self.mask
        if heads != m.heads:
            raise _errors.ShapeMismatchError(
                f"layer {self.layer}: the mask has {m.heads} heads, the model's attention has "
                f"{heads}")
        positions = _attention.mask_positions(m)
        if seq_k > positions:
            raise _errors.ShapeMismatchError(
                f"layer {self.layer}: the mask covers {positions} positions; this call "
                f"attends to {seq_k} cached keys: make the mask for longer sequences, or "
                f"generate at most {positions} tokens in all (max_length={positions})")
        found = self._handles.get("generation")
        if found is None:
            found = self._crop_handle("generation", -(-positions // m.block_q),
                                      -(-positions // m.block_k))
        return found


class _DenseMasks(LayerMasks):
    """Every tile kept, for any head count and length: the model with no
    masks attached."""

    def __init__(self):
        self.layer = None
        self._handles = {}

    def generation_handle(self, heads, seq_k):
        # Positions in powers of two from 1024: a generation kernel serves
        # every step up to its positions, so a growing cache compiles a new
        # one only when it doubles.
        positions = max(1024, 1 << (seq_k - 1).bit_length())
        key = ("generation", heads, positions)
        found = self._handles.get(key)
        if found is None:
            import numpy as np

            blocks = positions // DENSE_BLOCK
            found = torch_op.register_mask(
                BlockMask(np.ones((heads, blocks, blocks), bool), DENSE_BLOCK, DENSE_BLOCK))
            with _lock:
                self._handles[key] = found
        return found

    def handle(self, heads, seq_q, seq_k):
        key = (heads, seq_q, seq_k)
        found = self._handles.get(key)
        if found is None:
            import numpy as np

            tiles = np.ones((heads, -(-seq_q // DENSE_BLOCK), -(-seq_k // DENSE_BLOCK)), bool)
            found = torch_op.register_mask(BlockMask(tiles, DENSE_BLOCK, DENSE_BLOCK))
            with _lock:
                self._handles[key] = found
        return found


_dense = _DenseMasks()


def register(name=NAME):
    """Registers `attention_forward` as attn_implementation=`name` (done
    when this module is imported; calling it again is harmless)."""
    interface = getattr(transformers, "AttentionInterface", None)
    if interface is None:
        raise _errors.UnsupportedError(
            f"transformers {transformers.__version__} has no AttentionInterface (its "
            "attention-function registry); sieve needs a release that has it "
            "(scripts/install-deps.sh pins one)")
    interface.register(name, attention_forward)
    # The mask transformers builds for this name: SDPA's (a boolean
    # [B, 1, Sq, Sk] mask, True where a key is attended, or None when no key
    # is hidden), which is the cheapest to read. Any other form a model
    # hands over (an additive float mask, a [B, Sk] padding mask) is read too.
    mask_interface = getattr(transformers, "AttentionMaskInterface", None)
    if mask_interface is not None:
        from transformers import masking_utils

        mask_interface.register(name, masking_utils.sdpa_mask)


def load_masks(masks):
    """A list of sieve.BlockMask from a mask file path (every layer of it),
    a list of BlockMask, or one BlockMask (returned as a one-element list)."""
    if isinstance(masks, (str, os.PathLike)):
        path = os.fspath(masks)
        if not os.path.exists(path):
            raise _errors.IoError(f"mask file {path} does not exist (sieve prune -o writes one)")
        return BlockMask.load_layers(path)
    if isinstance(masks, BlockMask):
        return [masks]
    if isinstance(masks, (list, tuple)):
        for i, m in enumerate(masks):
            if not isinstance(m, BlockMask):
                raise _errors.InvalidArgumentError(
                    f"masks[{i}] is a {type(m).__qualname__}; expected a sieve.BlockMask")
        return list(masks)
    raise _errors.InvalidArgumentError(
        f"masks must be a mask file path, a sieve.BlockMask or a list of them (one per layer); "
        f"got {type(masks).__qualname__}")


def attention_modules(model):
    """The model's self-attention modules in layer order: those that hand
    themselves to the attention function, recognised by the attributes
    transformers' attention modules carry: a query projection beside a
    `layer_idx`, `scaling` or `attention_head_size`. Cross-attention modules are
    left out (sieve masks here are for self-attention)."""
    found = []
    for name, module in model.named_modules():
        if not (hasattr(module, "layer_idx") or hasattr(module, "scaling")
                or hasattr(module, "attention_head_size")):
            continue
        if not any(hasattr(module, a) for a in ("q_proj", "query", "qkv_proj", "Wqkv",
                                                 "c_attn")):
            continue
        if getattr(module, "is_cross_attention", False) or "crossattention" in name:
            continue
        found.append(module)
    indices = [getattr(m, "layer_idx", None) for m in found]
    if found and all(isinstance(i, int) for i in indices) and len(set(indices)) == len(found):
        found = [m for _, m in sorted(zip(indices, found), key=lambda pair: pair[0])]
    return found


def _heads_of(module):
    for attribute in ("num_attention_heads", "num_heads"):
        value = getattr(module, attribute, None)
        if isinstance(value, int):
            return value
    return getattr(getattr(module, "config", None), "num_attention_heads", None)


def use_masks(model, masks):
    """Attaches one block mask per self-attention layer to `model` (loaded
    with attn_implementation="sieve") and returns the model.

    `masks`: a mask file path (a `sieve prune` .npy with its .json sidecar,
    [layers, heads, query_blocks, key_blocks]), a list of sieve.BlockMask
    (one per layer), one BlockMask (used by every layer), or None (every
    tile kept, the dense model). Layer and head counts are checked against
    the model here; sequence lengths at each call (a mask covers the
    lengths it was made for and any shorter)."""
    implementation = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if implementation != NAME:
        raise _errors.InvalidArgumentError(
            f"the model runs attn_implementation={implementation!r}; load it with "
            f"attn_implementation={NAME!r} (or call model.set_attn_implementation({NAME!r})) "
            "for the masks to be used")
    modules = attention_modules(model)
    if not modules:
        raise _errors.UnsupportedError(
            f"found no attention module in {type(model).__qualname__} to attach masks to")
    if masks is None:
        for module in modules:
            if hasattr(module, _PLAN_ATTRIBUTE):
                delattr(module, _PLAN_ATTRIBUTE)
        return model
    layers = load_masks(masks)
    if len(layers) == 1 and len(modules) > 1 and isinstance(masks, BlockMask):
        layers = layers * len(modules)
    if len(layers) != len(modules):
        raise _errors.ShapeMismatchError(
            f"the masks have {len(layers)} layers; {type(model).__qualname__} has "
            f"{len(modules)} self-attention layers")
    for layer, (module, mask) in enumerate(zip(modules, layers)):
        heads = _heads_of(module)
        if heads is not None and heads != mask.heads:
            raise _errors.ShapeMismatchError(
                f"layer {layer}: the mask has {mask.heads} heads; the model's attention has "
                f"{heads}")
    for layer, (module, mask) in enumerate(zip(modules, layers)):
        setattr(module, _PLAN_ATTRIBUTE, LayerMasks(layer, mask))
    return model


def masks_of(model):
    """The masks attached by use_masks (a list of BlockMask, layer order),
    or None when the model runs dense."""
    plans = [getattr(m, _PLAN_ATTRIBUTE, None) for m in attention_modules(model)]
    if not any(plans):
        return None
    return [p.mask if p is not None else None for p in plans]


def from_pretrained(path, masks=None, model_class=None, **kwargs):
    """`model_class` (transformers.AutoModel by default).from_pretrained(path,
    attn_implementation="sieve", **kwargs), in eval mode, with `masks`
    attached (see use_masks)."""
    model_class = model_class or transformers.AutoModel
    model = model_class.from_pretrained(path, attn_implementation=NAME, **kwargs).eval()
    if masks is not None:
        use_masks(model, masks)
    return model


_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _check_tensors(query, key, value):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.dim() != 4:
            raise _errors.ShapeMismatchError(
                f"{name} has shape {list(t.shape)}; expected [batch, heads, seq, head_dim]")
        if t.device.type not in ("cpu", "cuda"):
            raise _errors.WrongDeviceError(
                f"{name} is on {t.device}; sieve runs on the CPU and on CUDA GPUs")
        if t.dtype not in _DTYPES:
            raise _errors.DTypeMismatchError(
                f"{name} is {t.dtype}; sieve takes float32, float16 or bfloat16")
        if t.dtype != query.dtype or t.device != query.device:
            raise _errors.DTypeMismatchError(
                f"{name} is {t.dtype} on {t.device}, query {query.dtype} on {query.device}")
    if query.device.type == "cuda" and query.dtype == torch.float32:
        raise _errors.DTypeMismatchError(
            "sieve's GPU kernels take float16 or bfloat16, the query is float32: load the "
            "model with dtype=torch.float16 (or bfloat16), or run it on the CPU")


def _keys_kept(attention_mask, batch, seq_q, seq_k, causal):
    """From whatever mask transformers hands over, the keys each sequence
    attends to: a bool [batch, seq_k] tensor, or None when every key is
    kept. Refuses a mask that does more than hide keys (and, for a causal
    model, the keys after each query)."""
    if attention_mask is None:
        return None
    m = attention_mask
    if m.dim() == 2:
        if tuple(m.shape) != (batch, seq_k):
            raise _errors.ShapeMismatchError(
                f"the attention mask has shape {list(m.shape)}; expected [{batch}, {seq_k}]")
        keep = m != 0 if m.dtype != torch.bool else m
        return None if bool(keep.all()) else keep
    if m.dim() != 4 or m.shape[-2:] != (seq_q, seq_k) or m.shape[0] not in (1, batch):
        raise _errors.ShapeMismatchError(
            f"the attention mask has shape {list(m.shape)}; expected [{batch}, 1 or heads, "
            f"{seq_q}, {seq_k}]")
    if m.dtype == torch.bool:
        allowed = m
    else:
        # An additive mask: 0 where attended, a large negative value (the
        # dtype's minimum, or -inf) where hidden. Anything else is a bias,
        # which sieve does not add.
        allowed = m > torch.finfo(m.dtype).min / 2
        if bool(torch.where(allowed, m, torch.zeros_like(m)).any()):
            raise _errors.UnsupportedError(
                "the attention mask adds a bias to the scores (values other than 0 and -inf); "
                "sieve applies block masks and hides padded keys only")
    keep = allowed.any(dim=2).any(dim=1)  # [B or 1, Sk]: a key some query attends to
    expected = keep[:, None, None, :]
    if causal:
        rows = torch.arange(seq_q, device=m.device)[:, None] + (seq_k - seq_q)
        expected = expected & (torch.arange(seq_k, device=m.device)[None, :] <= rows)
    # A query row that attends to nothing (padding, in some mask builders)
    # may be computed like any other: its output is not read.
    empty_row = ~allowed.any(dim=-1, keepdim=True)
    if not bool(((allowed == expected) | empty_row).all()):
        raise _errors.UnsupportedError(
            "the attention mask hides more than padded keys (a sliding window, packed "
            "sequences, a custom pattern?): sieve takes the pattern as a block mask "
            "(use_masks) and the batch's padding")
    keep = keep.expand(batch, seq_k)
    return None if bool(keep.all()) else keep


def _gpu_ready(t):
    """t, or a contiguous copy where the GPU kernels' 16-byte row and stride
    rules do not hold (sieve.torch_op's rule for gradients)."""
    return torch_op._tma_ready(t) if t.is_cuda else t


def attention_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                      **kwargs):
    """transformers' attention-function signature: query [B, Hq, Sq, D],
    key and value [B, Hkv, Sk, D] -> (attn_output [B, Sq, Hq, D], None)."""
    if dropout:
        raise _errors.UnsupportedError(
            f"attention dropout ({dropout}) is not something sieve runs: call model.eval() "
            "(sieve's kernels are for inference and for training without attention dropout)")
    if kwargs.get("head_mask") is not None:
        raise _errors.UnsupportedError(
            "head_mask is not supported by sieve's attention; prune heads with an empty mask "
            "per head instead (sieve prune --keep-heads)")
    _check_tensors(query, key, value)
    batch, heads_q, seq_q, head_dim = query.shape
    seq_k = key.shape[2]
    model_causal = kwargs.get("is_causal")
    if model_causal is None:
        model_causal = bool(getattr(module, "is_causal", False))
    model_causal = bool(model_causal)
    scale = float(scaling) if scaling is not None else 1.0 / math.sqrt(head_dim)
    plan = getattr(module, _PLAN_ATTRIBUTE, None) or _dense
    if model_causal and seq_k > seq_q:
        out = _attention_with_cache(query, key, value, attention_mask, plan, scale)
        return out.transpose(1, 2).contiguous(), None
    if model_causal and seq_k < seq_q:
        raise _errors.ShapeMismatchError(
            f"causal attention with {seq_q} queries against only {seq_k} keys: a causal "
            "model's call has at least as many keys as queries")
    causal = model_causal and seq_q > 1
    handle = plan.handle(heads_q, seq_q, seq_k)
    keep = _keys_kept(attention_mask, batch, seq_q, seq_k, causal)
    if keep is None:
        out = torch.ops.sieve.attention(_gpu_ready(query), _gpu_ready(key), _gpu_ready(value),
                                        handle, causal, scale)
    else:
        out = _attention_with_padding(query, key, value, keep, handle, causal, scale)
    # transformers takes [B, Sq, Hq, D]; sieve writes out like q, which
    # transformers made as a [B, Hq, Sq, D] view of [B, Sq, Hq, D] memory,
    # so this transpose is usually a view already contiguous.
    return out.transpose(1, 2).contiguous(), None


def _attention_with_cache(query, key, value, attention_mask, plan, scale):
    """A causal call against a KV cache: the seq_q queries are the positions
    seq_k - seq_q .. seq_k - 1 (transformers' caches append the step's keys
    before attention), and the layer's mask is over positions. One
    generation kernel (docs/generation.md) per mask, batch and seq_q serves
    every step: the step's position is an argument of the launch, nothing
    is compiled per position, and the cache is read as it is (only its
    first seq_k positions exist and are read)."""
    batch, heads_q, seq_q, _ = query.shape
    seq_k = key.shape[2]
    if _keys_kept(attention_mask, batch, seq_q, seq_k, True) is not None:
        raise _errors.UnsupportedError(
            "padding with a KV cache: sieve's masks are over token positions, and a padded "
            "(left-padded) batch shifts each sequence's positions; generate one sequence at "
            "a time, or a batch of prompts of one length")
    handle = plan.generation_handle(heads_q, seq_k)
    return torch.ops.sieve.attention_generate(_gpu_ready(query), _gpu_ready(key),
                                              _gpu_ready(value), handle, seq_k - seq_q, seq_k,
                                              True, scale)


def _attention_with_padding(query, key, value, keep, handle, causal, scale):
    """Attention where sequence b attends only to the keys keep[b] marks.

    sieve's mask is per tile and shared by the batch, and its kernels take
    no additive bias, so a padded key cannot be dropped through the mask
    (a tile may hold real and padded keys, and each sequence pads
    differently). It is dropped exactly through one more head dimension:

        q' = [q, M, 0...]    k'_j = [k_j, 0, 0...]  (a real key)
                             k'_j = [0,  -M, 0...]  (a padded key)
        v'_j = [v_j, 0...] for real keys, 0 for padded ones

    so q'.k'_j is q.k_j for a real key (the extra products are exact zeros)
    and -M^2 for a padded one. With scale * M^2 >= 2^11 a padded key's
    exp(score - row max) underflows to exactly 0 in f32 whenever the row
    has any real key, so real rows are what the unpadded sequence gives
    (the C++ encoder's batch-1 runs). A row whose kept tiles hold only
    padded keys gets uniform weights over zero values: 0, as sieve gives a
    row with no kept key, never NaN. Padded query rows compute finite
    values that no real row reads. M is a power of two, exact in f16/bf16;
    the head dimension grows to the next multiple of 16 (what the GPU's
    tensor-core kernels take), e.g. 32 -> 48; the scale is passed
    explicitly so it stays 1/sqrt(D) of the model."""
    batch, heads_q, seq_q, head_dim = query.shape
    heads_kv, seq_k = key.shape[1], key.shape[2]
    width = (head_dim + 1 + 15) // 16 * 16
    big = 2.0 ** min(15, max(8, math.ceil(math.log2(2.0 ** 11 / scale) / 2)))
    kept = keep.to(device=query.device)[:, None, :, None]  # [B, 1, Sk, 1]
    zero = torch.zeros((), dtype=query.dtype, device=query.device)

    def widen(t, extra):
        pieces = [t]
        if extra is not None:
            pieces.append(extra)
        filled = t.shape[-1] + (0 if extra is None else 1)
        if width > filled:
            pieces.append(t.new_zeros(t.shape[:-1] + (width - filled,)))
        return torch.cat(pieces, dim=-1)

    q_extra = torch.full((batch, heads_q, seq_q, 1), big, dtype=query.dtype, device=query.device)
    k_extra = torch.where(kept, zero, torch.full((), -big, dtype=key.dtype, device=key.device))
    q_wide = widen(query, q_extra)
    k_wide = widen(torch.where(kept, key, zero), k_extra.expand(batch, heads_kv, seq_k, 1))
    v_wide = widen(torch.where(kept, value, zero), None)
    out = torch.ops.sieve.attention(q_wide, k_wide, v_wide, handle, causal, scale)
    return out[..., :head_dim]


register()
