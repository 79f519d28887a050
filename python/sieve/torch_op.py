"""torch.ops.sieve.attention: sieve as a PyTorch custom operator.

    import sieve, sieve.torch_op
    attn = sieve.torch_op.SieveAttention(mask, causal=True)   # an nn.Module
    out = attn(q, k, v)          # q [B, Hq, Sq, D], k/v [B, Hkv, Sk, D], non-negative strides

    mask_id = sieve.torch_op.register_mask(mask)
    out = torch.ops.sieve.attention(q, k, v, mask_id, True, None)
    out = torch.ops.sieve.attention(q, k, v, mask_id, True, None, "bottom_right")  # KV cache

The ops take PyTorch's `causal` flag and, after the scale, `causal_align`: "top_left"
(query i sees keys j <= i, as is_causal) or "bottom_right" (j <= i + Sk -
Sq: the queries are the last Sq positions, as with a KV cache). The Python
functions below take both in one argument: causal=False, True,
"top_left" or "bottom_right".

The mask reaches the op as an integer handle from register_mask(): to
torch.compile a module attribute holding it is a constant, so a compiled
graph (fullgraph=True) calls the op with no Python in between, while the
kernel itself stays cached per mask. Handles live as long as the process.
The fake implementations return what the real ones do (empty_like(q) and
the f32 lse), so tracing never runs a kernel.

Autograd: `sieve::attention` is a composite of two ops. When q, k or
v requires a gradient it runs `sieve::attention_forward` (the training
forward, which also saves each row's log-sum-exp) whose registered backward
is `sieve::attention_backward` (dq, dk, dv for a fixed mask, GQA summed
over the query heads of a key head); otherwise the plain inference kernel
`sieve::attention_inference`. So `loss.backward()` works through
`torch.ops.sieve.attention` and the module below, and inference pays
nothing for it.

Threshold mode: every op takes an optional `thresholds`, an f32 [Hq]
tensor on q's device (learned per-head score thresholds: a score
scale * q . k under its head's threshold is dropped like a masked key).
The gradient goes through the hard threshold (dropped scores get none)
and the thresholds, constants of it, get none.

Generation with a fixed mask over positions (docs/generation.md), inference only:

    out = torch.ops.sieve.attention_generate(q, k_cache, v_cache, mask_id, q_pos)

q holds the step's queries (positions q_pos ..), k_cache and v_cache the
keys so far (a cache allocated for the mask's positions, or grown token by
token): one kernel serves every step, nothing is compiled per position.

Ragged batches and paged KV (docs/ragged-paged.md), inference only:

    out = torch.ops.sieve.attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, mask_id,
                                           causal, scale, causal_align, page_table)

q [total_q, Hq, D] and k, v [total_k, Hkv, D] hold B sequences packed as
FlashAttention's varlen functions take them, cu_seqlens_q and cu_seqlens_k
int32 [B + 1] their offsets; with `page_table` (int32 [B, pages per
sequence]) k and v are a page pool [pages, page_size, Hkv, D] instead. Each
sequence sees the mask cropped to its lengths; one kernel per mask, B and
page size serves every set of lengths the mask's grid covers. On the GPU
(the mma body, f16 or bf16) the offsets and table may be CUDA tensors: they
are copied to the host for the launch's checks, which synchronizes.

This module imports PyTorch; `import sieve` alone does not import it.
"""

import threading

import torch

from . import _checks, _errors
from ._attention import kernel_for as _kernel_for
from ._attention import attention_varlen as _attention_varlen
from ._attention import generation_kernel_for as _generation_kernel_for
from ._attention import _memoized
from ._mask import BlockMask

# The ops are defined with torch.library.Library and their implementations
# registered for CompositeExplicitAutograd (every device), not through
# torch.library.custom_op: custom_op wraps each call in Python layers (a
# dynamo-disable frame, an autograd wrapper that redispatches, an aliasing
# check) that cost ~14 us a call on this project's CPU, more than the rest
# of an inference call's host work (bench/peers/op_host_cost.py,
# docs/perf-notes.md p1). The fake implementations (register_fake) serve
# torch.compile as before; the training forward's gradient is an Autograd
# kernel (_TrainingForward below).
_library = torch.library.Library("sieve", "DEF")


def _op(schema, fake):
    """Defines sieve::<schema's name> and registers the decorated function
    as its implementation on every device, `fake` as its fake one."""
    name = schema.split("(", 1)[0]

    def register(fn):
        _library.define(schema)
        _library.impl(name, fn, "CompositeExplicitAutograd")
        torch.library.register_fake(f"sieve::{name}", fake, lib=_library)
        return fn

    return register


_lock = threading.Lock()
_masks = []  # handle -> BlockMask
_handles = {}  # BlockMask -> handle (equal masks share one)


def register_mask(mask):
    """The integer handle torch.ops.sieve.attention takes for `mask`."""
    if not isinstance(mask, BlockMask):
        raise _errors.InvalidArgumentError(
            f"mask must be a sieve.BlockMask, got {type(mask).__qualname__}")
    with _lock:
        handle = _handles.get(mask)
        if handle is None:
            handle = len(_masks)
            _masks.append(mask)
            _handles[mask] = handle
        return handle


def registered_mask(handle):
    """The mask behind a handle from register_mask()."""
    if not 0 <= handle < len(_masks):
        raise _errors.InvalidArgumentError(
            f"mask handle {handle} was not made by sieve.torch_op.register_mask in this process")
    return _masks[handle]


def _kernel(q, k, mask, causal, causal_align, scale, kind, thresholds):
    # Memoized on the op's own arguments: a hit skips the handle lookup and
    # every check (the same arguments passed them on the miss), ~2 us of a
    # call's host time.
    key = ("op", mask, q.shape, k.shape, q.dtype, q.device, causal, causal_align, scale, kind,
           thresholds is None)
    return _memoized(key, lambda: _kernel_for(
        q, k, registered_mask(mask), _checks.causal_of(causal, causal_align), scale, kind,
        thresholds is not None))


def _like_q(q, *_args, **_kwargs):
    return torch.empty_like(q)


@_op("attention_inference(Tensor q, Tensor k, Tensor v, int mask, bool causal=False, "
     "float? scale=None, str causal_align=\"top_left\", Tensor? thresholds=None) -> Tensor",
     _like_q)
def attention_inference(q, k, v, mask, causal=False, scale=None, causal_align="top_left",
                        thresholds=None):
    """Block-sparse attention over the registered mask `mask` (a handle),
    on q's device and current stream; the output is allocated like q."""
    out = torch.empty_like(q)
    _kernel(q, k, mask, causal, causal_align, scale, "forward", thresholds)(
        q, k, v, out=out, thresholds=thresholds)
    return out


@_op("attention_generate(Tensor q, Tensor k_cache, Tensor v_cache, int mask, int q_pos, "
     "int seq_k_live=0, bool causal=True, float? scale=None, Tensor? thresholds=None) -> Tensor",
     _like_q)
def attention_generate(q, k_cache, v_cache, mask, q_pos, seq_k_live=0, causal=True, scale=None,
                       thresholds=None):
    """One step of generation (docs/generation.md), inference only: q
    [B, Hq, Sq, D] holds the queries at positions q_pos .. q_pos + Sq - 1,
    k_cache and v_cache [B, Hkv, S, D] the cache, of which the first
    seq_k_live positions (0: q_pos + Sq) are read; S may be anything from
    seq_k_live to the mask's positions (a cache allocated once, or grown
    token by token). The mask is over positions; `causal` is causal over
    positions. One kernel per mask, batch, Sq and dtype serves every step."""
    out = torch.empty_like(q)
    key = ("op-generate", mask, q.shape, k_cache.shape[1], q.dtype, q.device, causal, scale,
           thresholds is None)
    kernel = _memoized(key, lambda: _generation_kernel_for(
        q, k_cache, registered_mask(mask), causal, scale, thresholds is not None))
    kernel(q, k_cache, v_cache, out=out, q_pos=q_pos, seq_k_live=seq_k_live,
           thresholds=thresholds)
    return out


@_op("attention_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, "
     "int mask, bool causal=False, float? scale=None, str causal_align=\"top_left\", "
     "Tensor? page_table=None) -> Tensor", _like_q)
def attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, mask, causal=False, scale=None,
                     causal_align="top_left", page_table=None):
    """A ragged batch's attention (inference): q [total_q, Hq, D], k and v
    [total_k, Hkv, D] or, with page_table, [pages, page_size, Hkv, D]."""
    # The launch checks the offsets and the page table on the host and copies
    # them to the GPU itself: CUDA tensors come over (a synchronizing copy).
    host = [None if t is None else t.cpu() for t in (cu_seqlens_q, cu_seqlens_k, page_table)]
    return _attention_varlen(q, k, v, host[0], host[1], registered_mask(mask),
                             _checks.causal_of(causal, causal_align), scale,
                             out=torch.empty_like(q), page_table=host[2])


def _lse_like(q):
    batch, heads, seq, _ = q.shape
    return torch.empty((batch, heads, seq), dtype=torch.float32, device=q.device)


@_op("attention_forward(Tensor q, Tensor k, Tensor v, int mask, bool causal=False, "
     "float? scale=None, str causal_align=\"top_left\", Tensor? thresholds=None) "
     "-> (Tensor, Tensor)",
     lambda q, *_args, **_kwargs: (torch.empty_like(q), _lse_like(q)))
def attention_forward(q, k, v, mask, causal=False, scale=None, causal_align="top_left",
                      thresholds=None):
    """The training forward: (out, lse), lse the f32 [B, Hq, Sq] natural-log
    log-sum-exp of each query row's kept scores (-inf where none is kept)."""
    out, lse = torch.empty_like(q), _lse_like(q)
    _kernel(q, k, mask, causal, causal_align, scale, "forward_lse", thresholds)(
        q, k, v, out=out, lse=lse, thresholds=thresholds)
    return out, lse


def _tma_ready(t):
    # The GPU kernels load 16-byte rows, the Hopper ones through TMA, which
    # needs every outer stride a positive multiple of 16 bytes: autograd may
    # hand an expanded (stride 0) or otherwise strided gradient.
    ready = (t.stride(-1) == 1 and t.storage_offset() % 8 == 0
             and all(s > 0 and s % 8 == 0 for s in t.stride()[:-1]))
    return t if ready else t.contiguous()


@_op("attention_backward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, "
     "int mask, bool causal=False, float? scale=None, str causal_align=\"top_left\", "
     "Tensor? thresholds=None) -> (Tensor, Tensor, Tensor)",
     lambda dout, q, k, v, *_args, **_kwargs: (torch.empty_like(q), torch.empty_like(k),
                                               torch.empty_like(v)))
def attention_backward(dout, q, k, v, out, lse, mask, causal=False, scale=None,
                       causal_align="top_left", thresholds=None):
    """(dq, dk, dv) of attention_forward's out for the upstream gradient dout
    (with the forward's thresholds, in threshold mode)."""
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    kernel = _kernel(q, k, mask, causal, causal_align, scale, "backward", thresholds)
    kernel.backward(q, k, v, out, _tma_ready(dout.to(q.dtype)), lse, dq=dq, dk=dk, dv=dv,
                    thresholds=thresholds)
    return dq, dk, dv


class _TrainingForward(torch.autograd.Function):
    """attention_forward's gradient: its Autograd kernel runs the op below
    autograd and records attention_backward for (dq, dk, dv). Written out
    rather than through torch.library.register_autograd, whose wrapper
    re-fills the schema's defaults and checks functorch on every call
    (~50 us a training step on this project's CPU,
    bench/peers/op_host_cost.py)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, causal_align, thresholds):
        with torch._C._AutoDispatchBelowAutograd():
            out, lse = torch.ops.sieve.attention_forward(q, k, v, mask, causal, scale,
                                                         causal_align, thresholds)
        ctx.save_for_backward(q, k, v, out, lse, thresholds)
        ctx.mask, ctx.causal, ctx.scale, ctx.causal_align = mask, causal, scale, causal_align
        ctx.mark_non_differentiable(lse)
        # lse gets no gradient: without this autograd would allocate zeros
        # for it every step.
        ctx.set_materialize_grads(False)
        return out, lse

    @staticmethod
    def backward(ctx, dout, _dlse):
        if dout is None:  # out did not reach the loss
            return None, None, None, None, None, None, None, None
        q, k, v, out, lse, thresholds = ctx.saved_tensors
        dq, dk, dv = torch.ops.sieve.attention_backward(dout, q, k, v, out, lse, ctx.mask,
                                                        ctx.causal, ctx.scale, ctx.causal_align,
                                                        thresholds)
        # The thresholds are constants of the gradient (a hard threshold has none).
        return dq, dk, dv, None, None, None, None, None


def _attention_forward_autograd(q, k, v, mask, causal=False, scale=None,
                                causal_align="top_left", thresholds=None):
    return _TrainingForward.apply(q, k, v, mask, causal, scale, causal_align, thresholds)


_library.impl("attention_forward", _attention_forward_autograd, "Autograd")

# sieve::attention, the op users call: the training forward when a gradient
# is wanted, the inference kernel otherwise. CompositeImplicitAutograd runs
# above autograd, so the branch sees requires_grad, and torch.compile traces
# through it to the two ops.
_library.define("attention(Tensor q, Tensor k, Tensor v, int mask, bool causal=False, "
                "float? scale=None, str causal_align=\"top_left\", Tensor? thresholds=None) "
                "-> Tensor")


def _attention_composite(q, k, v, mask, causal=False, scale=None, causal_align="top_left",
                         thresholds=None):
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return torch.ops.sieve.attention_forward(q, k, v, mask, causal, scale, causal_align,
                                                 thresholds)[0]
    return torch.ops.sieve.attention_inference(q, k, v, mask, causal, scale, causal_align,
                                               thresholds)


_library.impl("attention", _attention_composite, "CompositeImplicitAutograd")


def attention(q, k, v, mask, causal=False, scale=None, thresholds=None):
    """torch.ops.sieve.attention: differentiable with respect to q, k, v
    (not the thresholds, f32 [Hq] on q's device, of threshold mode).
    `causal`: False, True or "top_left", or "bottom_right"."""
    flag, align = _checks.causal_parts(_checks.causal(causal))
    return torch.ops.sieve.attention(q, k, v, mask, flag, scale, align, thresholds)


class SieveAttention(torch.nn.Module):
    """forward(q, k, v, thresholds=None) -> attention under a fixed block
    mask, through the custom op: a drop-in for the score-softmax-value part
    of a block (with `thresholds`, f32 [Hq], in threshold mode)."""

    def __init__(self, mask, causal=False, scale=None):
        super().__init__()
        self.mask = mask
        self.mask_handle = register_mask(mask)
        self.causal = _checks.causal(causal)  # False, True (top-left) or "bottom_right"
        self.scale = None if scale is None else float(scale)

    def forward(self, q, k, v, thresholds=None):
        flag, align = _checks.causal_parts(self.causal)
        return torch.ops.sieve.attention(q, k, v, self.mask_handle, flag, self.scale, align,
                                         thresholds)

    def extra_repr(self):
        return f"{self.mask!r}, causal={self.causal}, scale={self.scale}"
