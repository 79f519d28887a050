"""torch.ops.sieve.attention: sieve as a PyTorch custom operator.

    import sieve, sieve.torch_op
    attn = sieve.torch_op.SieveAttention(mask, causal=True)   # an nn.Module
    out = attn(q, k, v)          # q [B, Hq, Sq, D], k/v [B, Hkv, Sk, D], any strides

    mask_id = sieve.torch_op.register_mask(mask)
    out = torch.ops.sieve.attention(q, k, v, mask_id, True, None)

The mask reaches the op as an integer handle from register_mask(): to
torch.compile a module attribute holding it is a constant, so a compiled
graph (fullgraph=True) calls the op with no Python in between, while the
kernel itself stays cached per mask. Handles live as long as the process.
The fake implementation returns empty_like(q), which is what the real one
returns (same shape, dtype, device and strides), so tracing never runs the
kernel. Forward only: the op has no autograd formula.

This module imports PyTorch; `import sieve` alone does not import it.
"""

import threading
from typing import Optional

import torch

from . import _errors
from ._attention import attention as _attention
from ._mask import BlockMask

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


@torch.library.custom_op("sieve::attention", mutates_args=())
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: int,
              causal: bool = False, scale: Optional[float] = None) -> torch.Tensor:
    """Block-sparse attention over the registered mask `mask` (a handle),
    on q's device and current stream; the output is allocated like q."""
    out = torch.empty_like(q)
    _attention(q, k, v, registered_mask(mask), causal=causal, scale=scale, out=out)
    return out


@attention.register_fake
def _attention_fake(q, k, v, mask, causal=False, scale=None):
    return torch.empty_like(q)


class SieveAttention(torch.nn.Module):
    """forward(q, k, v) -> attention under a fixed block mask, through the
    custom op: a drop-in for the score-softmax-value part of a block."""

    def __init__(self, mask, causal=False, scale=None):
        super().__init__()
        self.mask = mask
        self.mask_handle = register_mask(mask)
        self.causal = bool(causal)
        self.scale = None if scale is None else float(scale)

    def forward(self, q, k, v):
        return torch.ops.sieve.attention(q, k, v, self.mask_handle, self.causal, self.scale)

    def extra_repr(self):
        return f"{self.mask!r}, causal={self.causal}, scale={self.scale}"
