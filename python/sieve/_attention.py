"""sieve.attention: one call, shapes taken from the tensors."""

import collections
import threading

from . import _checks, _errors, _frameworks, _sieve
from ._kernel import compile
from ._mask import BlockMask

# Kernels by (mask, shape, dtype, options, device). compile() would find
# them in the C++ kernel cache too, but building the spec and its identity
# there costs a pass over the mask bits; this dict costs one hash lookup.
_MEMO_SIZE = 256
_memo = collections.OrderedDict()
_memo_lock = threading.Lock()

_DLPACK_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def attention(q, k, v, mask, causal=False, scale=None, out=None, thresholds=None):
    """out = softmax(q k^T * scale + mask) v, computed only on the mask's
    kept tiles. q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D] (Hq a multiple of
    Hkv), any non-negative strides, numpy/PyTorch/CuPy arrays on the CPU
    (float32, float16, bfloat16: computed in float32) or a CUDA GPU
    (float16/bfloat16). `causal`: False, True or "top_left" (query i sees
    keys j <= i, PyTorch's is_causal), or "bottom_right" (j <= i + Sk - Sq,
    for queries that are the last Sq positions: a KV cache). With
    `thresholds` (f32 [Hq] on q's device: threshold mode) a score
    scale * q . k under its head's threshold is dropped too. The kernel is
    compiled on first use and reused; GPU work goes on the current stream
    of q's framework."""
    kernel = kernel_for(q, k, mask, causal, scale, "forward", thresholds is not None)
    return kernel(q, k, v, out=out, thresholds=thresholds)


def kernel_for(q, k, mask, causal, scale, kind, thresholds=False):
    """The kernel of `kind` (forward, forward_lse, backward, calibrate) for
    q's and k's shapes, dtype and device under `mask`, in threshold mode
    when `thresholds`, compiled on first use."""
    _require_mask(mask)
    q_dtype, q_shape, q_device, q_ordinal = _info(q, "q")
    k_shape = _info(k, "k")[1]
    dtype, device = _dtype_and_device(q_dtype, q_device, q_ordinal)
    batch, heads_q, seq_q, head_dim = q_shape
    heads_kv, seq_k = k_shape[1], k_shape[2]
    causal = _checks.causal(causal)
    key = (mask, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, dtype, causal, scale,
           device, kind, thresholds)
    return _memoized(key, lambda: compile(
        mask, batch=batch, heads_q=heads_q, heads_kv=heads_kv, seq_q=seq_q, seq_k=seq_k,
        head_dim=head_dim, dtype=dtype, causal=causal, scale=scale, device=device,
        save_lse=kind == "forward_lse", backward=kind == "backward",
        calibrate=kind == "calibrate", thresholds=thresholds))


def attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, mask, causal=False, scale=None,
                     out=None, page_table=None, thresholds=None):
    """attention() for a ragged batch (docs/ragged-paged.md): B sequences
    packed as varlen kernels take them, q [total_q, Hq, D] and k, v
    [total_k, Hkv, D], with cu_seqlens_q and cu_seqlens_k (int32 [B + 1])
    their offsets; with page_table (int32 [B, ceil(seq_k / page_size)]) k
    and v are a page pool [pages, page_size, Hkv, D] instead. Each sequence
    sees the mask cropped to its own lengths (`causal` as attention()'s,
    bottom-right by each sequence's lengths). One kernel per mask, B and
    page size serves every set of lengths the mask's grid covers. The
    offsets and the page table are host (CPU) arrays on either backend: the
    launch checks them there, and a GPU launch copies them to the device on
    its stream (the GPU runs it on the mma body, f16 or bf16)."""
    batch = _info(cu_seqlens_q, "cu_seqlens_q", 1, "int32 [batch + 1] offsets")[1][0] - 1
    page_size = 0
    if page_table is not None:
        page_size = _info(k, "k", 4, "[pages, page_size, heads_kv, head_dim]")[1][1]
    kernel = varlen_kernel_for(q, k, mask, causal, scale, batch, page_size,
                               thresholds is not None)
    return kernel(q, k, v, out=out, cu_seqlens_q=cu_seqlens_q, cu_seqlens_k=cu_seqlens_k,
                  page_table=page_table, thresholds=thresholds)


def mask_positions(mask):
    """The positions a mask covers as a generation kernel's mask
    (docs/generation.md): M with ceil(M / block_q) query blocks and
    ceil(M / block_k) key blocks, the smaller of the two extents (compile()
    names a mask whose blocks do not cover M that way)."""
    return min(mask.query_blocks * mask.block_q, mask.key_blocks * mask.block_k)


def generation_kernel_for(q, k, mask, causal, scale, thresholds=False):
    """The generation kernel (docs/generation.md) for q's shape (the step's
    queries), dtype and device, k's key heads, under `mask` over its
    positions (mask_positions): one kernel per mask, batch, Sq and dtype
    serves every step and every prompt length up to those positions."""
    _require_mask(mask)
    q_dtype, q_shape, q_device, q_ordinal = _info(q, "q")
    heads_kv = _info(k, "k")[1][1]
    dtype, device = _dtype_and_device(q_dtype, q_device, q_ordinal)
    batch, heads_q, seq_q, head_dim = q_shape
    causal = _checks.causal(causal)
    positions = mask_positions(mask)
    key = (mask, "generation", batch, heads_q, heads_kv, seq_q, head_dim, dtype, causal, scale,
           device, thresholds)
    return _memoized(key, lambda: compile(
        mask, batch=batch, heads_q=heads_q, heads_kv=heads_kv, seq_q=seq_q, seq_k=positions,
        head_dim=head_dim, dtype=dtype, causal=causal, scale=scale, device=device,
        generation=True, thresholds=thresholds))


def varlen_kernel_for(q, k, mask, causal, scale, batch, page_size=0, thresholds=False):
    """The ragged kernel (docs/ragged-paged.md) for `batch` sequences
    packed in q [total_q, Hq, D] and k [total_k, Hkv, D] (or, with
    `page_size`, a page pool [pages, page_size, Hkv, D]) under `mask`: one
    kernel per mask, batch count and page size, for every length the mask's
    grid covers (seq_q and seq_k are its query and key blocks' extents), so
    no length compiles anything."""
    _require_mask(mask)
    q_dtype, q_shape, q_device, q_ordinal = _info(q, "q", 3, "[total_q, heads_q, head_dim]")
    k_shape = _info(k, "k", 4 if page_size else 3,
                    "[pages, page_size, heads_kv, head_dim]" if page_size
                    else "[total_k, heads_kv, head_dim]")[1]
    dtype, device = _dtype_and_device(q_dtype, q_device, q_ordinal)
    _, heads_q, head_dim = q_shape
    heads_kv = k_shape[-2]
    causal = _checks.causal(causal)
    seq_q, seq_k = mask.query_blocks * mask.block_q, mask.key_blocks * mask.block_k
    key = (mask, "varlen", batch, heads_q, heads_kv, head_dim, dtype, causal, scale, device,
           page_size, thresholds)
    return _memoized(key, lambda: compile(
        mask, batch=batch, heads_q=heads_q, heads_kv=heads_kv, seq_q=seq_q, seq_k=seq_k,
        head_dim=head_dim, dtype=dtype, causal=causal, scale=scale, device=device, ragged=True,
        page_size=page_size, thresholds=thresholds))


def _require_mask(mask):
    if not isinstance(mask, BlockMask):
        raise _errors.InvalidArgumentError(
            f"mask must be a sieve.BlockMask, got {type(mask).__qualname__}")


def _dtype_and_device(q_dtype, q_device, q_ordinal):
    """sieve's dtype name and device string for q's DLPack dtype and device."""
    dtype = _DLPACK_DTYPES.get(q_dtype)
    if dtype is None:
        raise _errors.DTypeMismatchError(
            f"q is {q_dtype}; sieve takes float32, float16 or bfloat16")
    if q_device in ("cpu", "cuda_host"):
        return dtype, "cpu"
    if q_device in ("cuda", "cuda_managed"):
        return dtype, f"cuda:{q_ordinal}"
    raise _errors.WrongDeviceError(f"q is in {q_device} memory; sieve runs on the CPU or on "
                                   "CUDA GPUs")


def _memoized(key, make):
    """The kernel memoized under `key`, made by make() on first use (the
    least recently made beyond _MEMO_SIZE dropped)."""
    kernel = _memo.get(key)
    if kernel is None:
        kernel = make()
        with _memo_lock:
            _memo[key] = kernel
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)
    return kernel


def _info(x, name, rank=4, layout="[batch, heads, seq, head_dim], any non-negative strides"):
    """(dtype, shape, device type, ordinal) of an array of `rank`
    dimensions, read through DLPack without a copy (a PyTorch tensor's
    from its attributes: a DLPack export costs more than the lookup it
    serves; the call that follows exports it and checks its layout)."""
    if _frameworks.framework_of(x) == "torch":
        device = x.device
        info = (str(x.dtype).rpartition(".")[2], tuple(x.shape), device.type, device.index or 0)
    else:
        try:
            info = _sieve.tensor_info(_frameworks.as_dlpack(x))
        except TypeError:
            raise TypeError(f"{name} is a {type(x).__qualname__}; sieve takes arrays that "
                            "support DLPack (numpy, PyTorch, CuPy, ...)") from None
    if len(info[1]) != rank:
        raise _errors.ShapeMismatchError(
            f"{name} has {len(info[1])} dimensions, shape {list(info[1])}; expected {rank} "
            f"({layout})")
    return info
