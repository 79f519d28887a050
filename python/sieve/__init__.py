"""sieve: block-sparse attention compiled for a fixed block mask.

    mask = sieve.BlockMask(tiles, block_q=64, block_k=64)   # numpy bool [H, QB, KB]
    out = sieve.attention(q, k, v, mask, causal=True)      # numpy, PyTorch or CuPy

or compile once and call many times:

    kernel = sieve.compile(mask, batch=2, heads_q=8, heads_kv=8, seq_q=512, seq_k=512,
                           head_dim=64, dtype="bf16", device="cuda")
    kernel(q, k, v, out=out)

A batch of sequences of different lengths, packed as varlen kernels take
them (docs/ragged-paged.md):

    out = sieve.attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, mask, causal=True)

Tensors are exchanged through DLPack, never copied. `sieve.torch_op`
registers the PyTorch custom op `torch.ops.sieve.attention`; it is imported
on first use, so `import sieve` does not import PyTorch.
"""

from ._errors import (CompileError, CorruptArtifactError, CudaError, DTypeMismatchError, Error,
                      InternalError, InvalidArgumentError, IoError, MalformedMaskError,
                      NoGpuError, ShapeMismatchError, UnsupportedError, WrongDeviceError)
from ._mask import BlockMask
from ._kernel import Kernel, compile, session
from ._attention import attention, attention_varlen
from ._sieve import __version__

__all__ = ["BlockMask", "Kernel", "compile", "attention", "attention_varlen", "session", "Error",
           "InvalidArgumentError", "ShapeMismatchError", "DTypeMismatchError", "WrongDeviceError",
           "MalformedMaskError", "IoError", "NoGpuError", "CudaError", "CompileError",
           "CorruptArtifactError", "UnsupportedError", "InternalError"]


def __getattr__(name):
    # `sieve.torch_op` without importing PyTorch at `import sieve`.
    if name == "torch_op":
        import importlib

        return importlib.import_module(".torch_op", __name__)
    raise AttributeError(f"module 'sieve' has no attribute {name!r}")
