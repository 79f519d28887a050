"""ctypes binding of sieve's C API (runtime/capi/include/sieve/sieve.h).

Only what the peer benchmark needs: a CUDA context, kernels compiled for a
problem and a packed tile mask, run-time masks for the generic kernel, and
launches on a PyTorch stream. Structs mirror the header field for field; a
non-zero status becomes a SieveError carrying sieve_status_name and
sieve_last_error. torch is imported lazily so masks/report code can import
this module on a machine without it.
"""
import ctypes
import os

# sieve_backend / sieve_dtype values, as in sieve.h.
BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2
DTYPE_F16, DTYPE_BF16, DTYPE_F32 = 0, 1, 2


class SieveError(RuntimeError):
    def __init__(self, func, status, name, message):
        super().__init__(f"{func}: {name}: {message}")
        self.func, self.status, self.name, self.message = func, status, name, message


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("sizes", ctypes.c_int64 * 4), ("strides", ctypes.c_int64 * 4)]


class Problem(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("heads_q", ctypes.c_int64),
                ("heads_kv", ctypes.c_int64), ("seq_q", ctypes.c_int64),
                ("seq_k", ctypes.c_int64), ("head_dim", ctypes.c_int64),
                ("dtype", ctypes.c_int), ("causal", ctypes.c_int), ("scale", ctypes.c_double)]


class BlockMaskDesc(ctypes.Structure):
    _fields_ = [("heads", ctypes.c_int64), ("query_blocks", ctypes.c_int64),
                ("key_blocks", ctypes.c_int64), ("block_q", ctypes.c_int64),
                ("block_k", ctypes.c_int64), ("bits", ctypes.POINTER(ctypes.c_uint8)),
                ("bits_size", ctypes.c_size_t)]


class KernelOptions(ctypes.Structure):
    _fields_ = [("variant", ctypes.c_char_p), ("query_tile", ctypes.c_int64),
                ("key_tile", ctypes.c_int64), ("stages", ctypes.c_int64)]


_VP = ctypes.c_void_p
_PROTOTYPES = {
    # name: (restype, argtypes); every sieve_status function returns int.
    "sieve_api_version": (ctypes.c_int, []),
    "sieve_version": (ctypes.c_char_p, []),
    "sieve_last_error": (ctypes.c_char_p, []),
    "sieve_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "sieve_context_create": (ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_VP)]),
    "sieve_context_destroy": (ctypes.c_int, [_VP]),
    "sieve_context_backend": (ctypes.c_int, [_VP, ctypes.POINTER(ctypes.c_int)]),
    "sieve_context_device_name": (ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_size_t]),
    "sieve_kernel_compile": (ctypes.c_int, [_VP, ctypes.POINTER(Problem),
                                            ctypes.POINTER(BlockMaskDesc),
                                            ctypes.POINTER(KernelOptions), ctypes.POINTER(_VP)]),
    "sieve_kernel_load": (ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.POINTER(_VP)]),
    "sieve_kernel_destroy": (ctypes.c_int, [_VP]),
    "sieve_kernel_describe": (ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_size_t]),
    "sieve_kernel_needs_mask": (ctypes.c_int, [_VP, ctypes.POINTER(ctypes.c_int)]),
    "sieve_mask_create": (ctypes.c_int, [_VP, ctypes.POINTER(BlockMaskDesc), ctypes.c_int64,
                                         ctypes.c_int, ctypes.POINTER(_VP)]),
    "sieve_mask_destroy": (ctypes.c_int, [_VP]),
    "sieve_attention": (ctypes.c_int, [_VP, ctypes.POINTER(Tensor), ctypes.POINTER(Tensor),
                                       ctypes.POINTER(Tensor), ctypes.POINTER(Tensor), _VP, _VP]),
}

_lib = None


def find_library(path=None):
    """--lib, then $SIEVE_LIB, then libsieve_c.so beside this script, then
    the bare name (the dynamic loader searches LD_LIBRARY_PATH)."""
    if path:
        return path
    if os.environ.get("SIEVE_LIB"):
        return os.environ["SIEVE_LIB"]
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libsieve_c.so")
    return beside if os.path.exists(beside) else "libsieve_c.so"


def load(path=None):
    """Loads the library once per process and declares every prototype, so
    a 64-bit handle or size is never truncated to a C int."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(find_library(path))
        for name, (res, args) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        _lib = lib
    return _lib


def _call(name, *args):
    status = getattr(_lib, name)(*args)
    if status != 0:
        raise SieveError(name, status, (_lib.sieve_status_name(status) or b"?").decode(),
                         (_lib.sieve_last_error() or b"").decode())


def _string(fn, handle, size=512):
    buf = ctypes.create_string_buffer(size)
    _call(fn, handle, buf, size)
    return buf.value.decode()


def version():
    return load().sieve_version().decode()


class Mask:
    """Packed tile bits plus the sieve_block_mask that points at them; keeps
    the bytes alive as long as the descriptor may be read."""

    def __init__(self, heads, query_blocks, key_blocks, block_q, block_k, packed):
        self._buf = (ctypes.c_uint8 * max(1, len(packed))).from_buffer_copy(
            bytes(packed) or b"\0")
        self.desc = BlockMaskDesc(heads, query_blocks, key_blocks, block_q, block_k,
                                  ctypes.cast(self._buf, ctypes.POINTER(ctypes.c_uint8)),
                                  len(packed))


class DeviceMask:
    """A mask uploaded for generic kernels (sieve_mask_create)."""

    def __init__(self, ctx, mask, seq_q, causal):
        self.handle = _VP()
        self._mask = mask  # its bits must outlive the call; kept for clarity
        _call("sieve_mask_create", ctx.handle, ctypes.byref(mask.desc), seq_q, int(bool(causal)),
              ctypes.byref(self.handle))

    def close(self):
        if self.handle:
            _call("sieve_mask_destroy", self.handle)
            self.handle = _VP()


class Context:
    def __init__(self, handle):
        self.handle = handle

    @classmethod
    def create(cls, backend=BACKEND_CUDA, device=0, lib=None):
        load(lib)
        handle = _VP()
        _call("sieve_context_create", backend, device, ctypes.byref(handle))
        return cls(handle)

    def device_name(self):
        return _string("sieve_context_device_name", self.handle)

    def close(self):
        if self.handle:
            _call("sieve_context_destroy", self.handle)
            self.handle = _VP()


def _dtype_code(torch_dtype):
    import torch
    codes = {torch.bfloat16: DTYPE_BF16, torch.float16: DTYPE_F16, torch.float32: DTYPE_F32}
    if torch_dtype not in codes:
        raise ValueError(f"sieve has no dtype for {torch_dtype}")
    return codes[torch_dtype]


def tensor_view(t):
    """A sieve_tensor borrowing a 4-d torch tensor: sizes and strides in
    elements, exactly as torch reports them (BHSD or BSHD both work)."""
    if t.dim() != 4:
        raise ValueError(f"sieve tensors are [B, H, S, D]; got {tuple(t.shape)}")
    return Tensor(t.data_ptr(), _dtype_code(t.dtype), (ctypes.c_int64 * 4)(*t.shape),
                  (ctypes.c_int64 * 4)(*t.stride()))


class Kernel:
    def __init__(self, handle):
        self.handle = handle

    @classmethod
    def compile(cls, ctx, *, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, dtype, causal,
                mask, scale=0.0, variant=None, query_tile=0, key_tile=0, stages=0):
        """dtype is a sieve code (DTYPE_*) or a torch dtype; mask a Mask;
        causal a bool (top-left when true) or a sieve_causal code (0 none,
        1 top-left, 2 bottom-right). variant None lets the compiler choose
        (same as "auto")."""
        if not isinstance(dtype, int):
            dtype = _dtype_code(dtype)
        if isinstance(causal, bool) or causal not in (0, 1, 2):
            causal = int(bool(causal))
        problem = Problem(batch, heads_q, heads_kv, seq_q, seq_k, head_dim, dtype,
                          causal, float(scale))
        options = KernelOptions(variant.encode() if variant else None, query_tile, key_tile,
                                stages)
        handle = _VP()
        _call("sieve_kernel_compile", ctx.handle, ctypes.byref(problem), ctypes.byref(mask.desc),
              ctypes.byref(options), ctypes.byref(handle))
        return cls(handle)

    def describe(self):
        return _string("sieve_kernel_describe", self.handle)

    def needs_mask(self):
        out = ctypes.c_int()
        _call("sieve_kernel_needs_mask", self.handle, ctypes.byref(out))
        return bool(out.value)

    def attention(self, q, k, v, out, mask=None, stream=None):
        """out = attention(q, k, v) on `stream` (a CUstream as an int;
        default: torch's current stream for CUDA tensors, NULL for host
        ones, as CPU contexts require). Does not synchronize."""
        if stream is None and q.is_cuda:
            import torch
            stream = torch.cuda.current_stream().cuda_stream
        views = [tensor_view(t) for t in (q, k, v, out)]
        _call("sieve_attention", self.handle, *[ctypes.byref(x) for x in views],
              mask.handle if mask is not None else None, _VP(stream))

    def close(self):
        if self.handle:
            _call("sieve_kernel_destroy", self.handle)
            self.handle = _VP()
