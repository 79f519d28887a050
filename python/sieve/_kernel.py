"""sieve.compile and sieve.Kernel: a kernel made for one mask and shape."""

from . import _checks, _errors, _frameworks, _sieve
from ._mask import BlockMask

# One session per device: a backend and its loaded kernels. The kernel
# cache behind them is the process's (memory, then $SIEVE_CACHE_DIR).
_sessions = {}

_DTYPES = {"f32": "f32", "float32": "f32", "float": "f32",
           "f16": "f16", "float16": "f16", "half": "f16",
           "bf16": "bf16", "bfloat16": "bf16"}


def session(device="auto"):
    """The session for "auto" (the GPU when there is one, else the CPU),
    "cpu", "cuda" or "cuda:N" (a torch.device works too)."""
    name = "auto" if device is None else str(device)
    found = _sessions.get(name)
    if found is not None:
        return found
    backend, _, ordinal = name.partition(":")
    if backend not in ("auto", "cpu", "cuda") or (ordinal and (backend != "cuda" or
                                                               not ordinal.isdigit())):
        raise _errors.InvalidArgumentError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    made = _sieve.Session(backend, int(ordinal or 0))
    _sessions[name] = made
    return _sessions.setdefault(made.device, made)


def dtype_name(dtype):
    """"f32", "f16" or "bf16" from a string ("float16", "bf16"), a numpy
    dtype or scalar type, or a torch dtype."""
    if isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, type):
        name = dtype.__name__
    else:
        name = str(dtype)
    found = _DTYPES.get(name.removeprefix("torch."))
    if found is None:
        raise _errors.DTypeMismatchError(
            f"dtype {dtype!r} is not one sieve runs: float32, float16 or bfloat16")
    return found


class Kernel:
    """A compiled kernel: call it as kernel(q, k, v, out=None, stream=None).

    q is [batch, heads_q, seq_q, head_dim], k and v [batch, heads_kv, seq_k,
    head_dim], in any non-negative strides (a BSHD tensor transposed to BHSD is a view,
    not a copy), on the kernel's device; out is written in place and
    returned, allocated like q when not given. GPU launches go on `stream`
    (an int CUstream, a torch.cuda.Stream or a cupy.cuda.Stream), by default
    the current stream of q's framework, and are not synchronized.

    Kernels for training and calibration (compile(..., save_lse=True),
    backward=True, calibrate=True) take more arrays:
      kernel(q, k, v, out=out, lse=lse)          lse: f32 [B, Hq, Sq], written
      kernel.backward(q, k, v, out, dout, lse)   -> (dq, dk, dv)
      kernel(q, k, v, out=out, stats=stats)      stats: f32 [Hq, QB, KB], added to
    and threshold-mode kernels (compile(..., thresholds=True), with any of
    the first two) take thresholds=theta in every call, theta an f32 [Hq]
    array on the kernel's device: each score scale * q . k under its head's
    threshold is dropped (the backward's theta must be the forward's).

    Ragged and paged kernels (compile(..., ragged=True) and/or page_size=N;
    docs/ragged-paged.md) take the batch's layout in every call:
      kernel(q, k, v, cu_seqlens_q=cq, cu_seqlens_k=ck)   ragged: q, out
          [total_q, Hq, D], k, v [total_k, Hkv, D], cq, ck int32 [B + 1]
      kernel(q, k_pages, v_pages, page_table=t)           paged: k, v
          [pages, page_size, Hkv, D], t int32 [B, ceil(seq_k / page_size)]
    (both together: the key lengths are ck's, the keys in the pages).
    """

    __slots__ = ("_native", "_gpu", "mask", "shape", "dtype", "causal")

    def __init__(self, native, mask, shape, dtype, causal):
        self._native = native
        self._gpu = native.session.backend == "cuda"
        self.mask = mask
        self.shape = shape  # dict: batch, heads_q, heads_kv, seq_q, seq_k, head_dim
        self.dtype = dtype
        self.causal = causal

    def _stream(self, q, stream):
        if stream is not None:
            return _frameworks.stream_handle(stream)
        return _frameworks.current_stream(q) if self._gpu else 0

    def _check_thresholds(self, thresholds):
        if (thresholds is not None) != self._native.thresholds:
            raise _errors.InvalidArgumentError(
                "thresholds (f32 [heads_q], one score threshold per query head) is missing: "
                "this kernel was compiled with thresholds=True" if self._native.thresholds else
                "thresholds given to a kernel compiled without thresholds=True")
        return None if thresholds is None else _frameworks.as_dlpack(thresholds)

    def __call__(self, q, k, v, out=None, stream=None, lse=None, stats=None, thresholds=None,
                 q_pos=None, seq_k_live=0, cu_seqlens_q=None, cu_seqlens_k=None,
                 page_table=None):
        kind = self._native.kind
        batched = self._native.ragged or self._native.page_size > 0
        if not batched and not (cu_seqlens_q is None and cu_seqlens_k is None
                                and page_table is None):
            raise _errors.InvalidArgumentError(
                "cu_seqlens_q, cu_seqlens_k and page_table go with kernels compiled with "
                "ragged=True or a page_size; this one is neither")
        if (q_pos is not None) != (kind == "generation"):
            raise _errors.InvalidArgumentError(
                "q_pos (the step's first query position) goes with, and only with, a kernel "
                f"compiled with generation=True; this one is a {kind} kernel")
        if (lse is not None) != (kind == "forward_lse"):
            raise _errors.InvalidArgumentError(
                "lse (f32 [B, Hq, Sq]) goes with, and only with, a kernel compiled with "
                f"save_lse=True; this one is a {kind} kernel")
        if (stats is not None) != (kind == "calibrate"):
            raise _errors.InvalidArgumentError(
                "stats (f32 [Hq, QB, KB]) goes with, and only with, a kernel compiled with "
                f"calibrate=True; this one is a {kind} kernel")
        if kind == "backward":
            raise _errors.InvalidArgumentError(
                "a backward kernel is called as kernel.backward(q, k, v, out, dout, lse)")
        _require(q=q, k=k, v=v)
        theta = self._check_thresholds(thresholds)
        if out is None:
            out = _frameworks.empty_like(q)
        handle = self._stream(q, stream)
        exported = _frameworks.as_dlpack
        try:
            if batched:
                self._native.run_batch(
                    exported(q), exported(k), exported(v), exported(out),
                    *(None if value is None else exported(value)
                      for value in (cu_seqlens_q, cu_seqlens_k, page_table)), handle, theta)
            elif kind == "forward_lse":
                self._native.forward(exported(q), exported(k), exported(v), exported(out),
                                     exported(lse), handle, theta)
            elif kind == "generation":
                self._native.generate(exported(q), exported(k), exported(v), exported(out),
                                      int(q_pos), int(seq_k_live), handle, theta)
            elif kind == "calibrate":
                self._native.calibrate(exported(q), exported(k), exported(v), exported(out),
                                       exported(stats), handle)
            else:
                self._native.run(exported(q), exported(k), exported(v), exported(out), handle,
                                 theta)
        except TypeError as error:
            if isinstance(error, _errors.Error):
                raise
            _raise_not_arrays(error, dict(q=q, k=k, v=v, thresholds=thresholds,
                                          cu_seqlens_q=cu_seqlens_q, cu_seqlens_k=cu_seqlens_k,
                                          page_table=page_table),
                              dict(out=out, lse=lse, stats=stats))
        return out

    def backward(self, q, k, v, out, dout, lse, dq=None, dk=None, dv=None, stream=None,
                 thresholds=None):
        """(dq, dk, dv) of the attention whose forward gave out and lse, for
        the upstream gradient dout; dq is allocated like q, dk and dv like k
        and v when not given. A threshold-mode kernel takes the forward's
        thresholds (constants of the gradient: they get none)."""
        if self._native.kind != "backward":
            raise _errors.InvalidArgumentError(
                f"backward() needs a kernel compiled with backward=True; this one is a "
                f"{self._native.kind} kernel")
        _require(q=q, k=k, v=v, out=out, dout=dout, lse=lse)
        theta = self._check_thresholds(thresholds)
        dq = _frameworks.empty_like(q, "q") if dq is None else dq
        dk = _frameworks.empty_like(k, "k") if dk is None else dk
        dv = _frameworks.empty_like(v, "v") if dv is None else dv
        handle = self._stream(q, stream)
        exported = _frameworks.as_dlpack
        try:
            self._native.backward(exported(q), exported(k), exported(v), exported(out),
                                  exported(dout), exported(lse), exported(dq), exported(dk),
                                  exported(dv), handle, theta)
        except TypeError as error:
            if isinstance(error, _errors.Error):
                raise
            _raise_not_arrays(error, dict(q=q, k=k, v=v, out=out, dout=dout, lse=lse,
                                          thresholds=thresholds),
                              dict(dq=dq, dk=dk, dv=dv))
        return dq, dk, dv

    kind = property(lambda self: self._native.kind,
                    doc='"forward", "forward_lse", "backward" or "calibrate"')
    thresholds = property(lambda self: self._native.thresholds,
                          doc="whether it is a threshold-mode kernel (calls take thresholds=)")
    ragged = property(lambda self: self._native.ragged,
                      doc="whether calls take a ragged batch (cu_seqlens_q=, cu_seqlens_k=)")
    page_size = property(lambda self: self._native.page_size,
                         doc="keys per page of a paged kernel (calls take page_table=), or 0")

    backend = property(lambda self: self._native.session.backend, doc='"cpu" or "cuda"')
    device = property(lambda self: self._native.session.device, doc='"cpu" or "cuda:N"')
    variant = property(lambda self: self._native.variant,
                       doc='the body that runs it: "wgmma", "mma", "simt" or "generic" on a '
                           'GPU, "vector" on the CPU')
    config = property(lambda self: self._native.config)
    warnings = property(lambda self: list(self._native.warnings),
                        doc="what the compiler warned of when it built the kernel (on a GPU: "
                            'variant "auto" running f16/bf16 on the scalar simt body, and why '
                            "each tensor-core body declined); also printed on stderr")
    cache_key = property(lambda self: self._native.cache_key)
    source = property(lambda self: self._native.source,
                      doc='where compile() found it: "memory", "disk" or "compiled"')
    scale = property(lambda self: self._native.scale)

    def __repr__(self):
        s = self.shape
        return (f"sieve.Kernel({s['batch']}x{s['heads_q']}/{s['heads_kv']}x{s['seq_q']}x"
                f"{s['seq_k']}x{s['head_dim']} {self.dtype}{_causal_text(self.causal)} "
                f"on {self.device}, {self.variant})")


def _causal_text(causal):
    return "" if not causal else " causal" if causal is True else " causal bottom-right"


def compile(mask, *, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, dtype, causal=False,
            scale=None, device="auto", variant="auto", save_lse=False, backward=False,
            calibrate=False, thresholds=False, pack_gqa="auto", generation=False, ragged=False,
            page_size=0):
    """Compiles (or finds in the kernel cache) the kernel for this problem
    and mask on `device`. `causal`: False, True or "top_left" (query i sees
    keys j <= i, PyTorch's is_causal), or "bottom_right" (j <= i + Sk - Sq:
    the queries are the last seq_q positions, as with a KV cache). The
    scale defaults to 1/sqrt(head_dim); `variant`
    picks the GPU kernel body (auto, wgmma, mma, simt, generic). At most one
    of: save_lse (the training forward, which also writes each row's
    log-sum-exp), backward (dq, dk, dv), calibrate (adds each row's
    probability mass per key block to a stats table). thresholds=True is
    threshold mode (learned run-time pruning): every call takes per-head
    score thresholds, and scores under them are dropped; with save_lse or
    backward too, not with calibrate. pack_gqa="on" packs a key head's
    query heads into one tile's rows when decoding (seq_q <= 64 with fewer
    key heads than query heads: K and V are read once per key head;
    docs/decode.md); "auto" (the default) too, except a generation kernel
    on a GPU where its unsplit rows would not fill the GPU
    (docs/generation.md); "off" keeps a row per query head. generation=True
    compiles one kernel for every step of generation (docs/generation.md):
    the mask is over seq_k positions (the KV cache's length), and each
    call takes the step, kernel(q, k_cache, v_cache, q_pos=P + t), reading
    the first seq_k_live keys (default q_pos + seq_q); on the CPU backend
    and on a CUDA device (the mma and wgmma bodies, the step passed by value
    at launch). ragged=True compiles one kernel for a batch of `batch`
    sequences of different lengths (at most seq_q queries and seq_k keys
    each) packed along the tokens, as varlen kernels take them: each call
    gives cu_seqlens_q and cu_seqlens_k, and each sequence sees the mask
    cropped to its own lengths. page_size=N (a multiple of the mask's
    block_k) reads K and V through a page table given in each call
    (docs/ragged-paged.md); on the CPU backend, and on a CUDA device on the
    mma body (f16 or bf16), the offsets and table given as host arrays."""
    if sum(map(bool, (save_lse, backward, calibrate, generation))) > 1:
        raise _errors.InvalidArgumentError(
            "save_lse, backward, calibrate and generation are different kernels: pass at most "
            "one")
    kind = ("forward_lse" if save_lse else "backward" if backward else
            "calibrate" if calibrate else "generation" if generation else "forward")
    if not isinstance(mask, BlockMask):
        raise _errors.InvalidArgumentError(
            f"mask must be a sieve.BlockMask, got {type(mask).__qualname__}")
    shape = {name: _checks.size(name, value, limit) for name, value, limit in (
        ("batch", batch, "batch"), ("heads_q", heads_q, "heads"), ("heads_kv", heads_kv, "heads"),
        ("seq_q", seq_q, "sequence"), ("seq_k", seq_k, "sequence"),
        ("head_dim", head_dim, "head_dim"))}
    causal = _checks.causal(causal)
    causal_flag, causal_align = _checks.causal_parts(causal)
    thresholds = _checks.flag("thresholds", thresholds)
    ragged = _checks.flag("ragged", ragged)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 0:
        raise _errors.InvalidArgumentError(
            f"page_size must be 0 (contiguous K and V) or a positive int, got {page_size!r}")
    dtype = dtype_name(dtype)
    native = _sieve.compile(session(device), **shape, dtype=dtype, mask=mask._native,
                            causal=causal_flag, causal_align=causal_align,
                            scale=None if scale is None else float(scale),
                            variant=str(variant), kind=kind, thresholds=thresholds,
                            pack_gqa=str(pack_gqa), ragged=ragged, page_size=page_size)
    return Kernel(native, mask, shape, dtype, causal)


def _require(**arrays):
    """Each array given (not None), or an error naming the first missing."""
    for name, value in arrays.items():
        if value is None:
            raise _errors.InvalidArgumentError(f"{name} is None; pass an array")


def _raise_not_arrays(error, inputs, outputs):
    """Turns nanobind's 'incompatible function arguments' into a message
    naming the argument that is not an array, or the output that is
    read-only (inputs are taken read-only, outputs must be writable)."""
    for name, value in {**inputs, **outputs}.items():
        if value is None:
            continue
        try:
            _sieve.tensor_info(value)
        except TypeError:
            raise TypeError(f"{name} is a {type(value).__qualname__}; sieve takes arrays that "
                            "support DLPack (numpy, PyTorch, CuPy, ...)") from None
    for name, value in outputs.items():
        if value is None:
            continue
        try:
            _sieve.check_writable(value)
        except TypeError:
            raise _errors.InvalidArgumentError(
                f"{name} is read-only; sieve writes the result into it (pass a writable "
                "array)") from error
    raise error
