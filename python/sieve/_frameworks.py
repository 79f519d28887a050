"""What sieve needs from the framework that owns a tensor: an output like it
and the stream it is working on.

A framework is recognised by the tensor's type and imported only then, so
`import sieve` never pulls in PyTorch or CuPy, and numpy only where a numpy
array (or a mask table) is handed over.
"""

import sys

from . import _errors


def framework_of(x):
    """"torch", "numpy", "cupy", "jax", ... from the module of x's type."""
    return type(x).__module__.partition(".")[0]


def empty_like(x, name="q"):
    """An uninitialized array of x's shape, dtype and device, from x's own
    framework (torch.empty_like keeps a BSHD view's strides; any do)."""
    framework = framework_of(x)
    if framework == "torch":
        return sys.modules["torch"].empty_like(x)
    if framework == "numpy":
        import numpy

        return numpy.empty(x.shape, x.dtype)
    if framework == "cupy":
        return sys.modules["cupy"].empty_like(x)
    raise _errors.InvalidArgumentError(
        f"cannot allocate an output like {name} ({type(x).__module__}.{type(x).__qualname__}); "
        "pass out= (a writable array of q's shape and dtype)")


def stream_handle(stream):
    """A CUstream as an integer, from an integer, a torch.cuda.Stream
    (.cuda_stream) or a cupy.cuda.Stream (.ptr)."""
    if isinstance(stream, int):
        return stream
    for attribute in ("cuda_stream", "ptr"):
        handle = getattr(stream, attribute, None)
        if isinstance(handle, int):
            return handle
    raise _errors.InvalidArgumentError(
        f"stream must be an int (a CUstream), a torch.cuda.Stream or a cupy.cuda.Stream; got "
        f"{type(stream).__qualname__}")


def current_stream(x):
    """The stream x's framework is enqueuing work on, so a launch is ordered
    after what produced x; 0 (the legacy default stream) for frameworks
    that have no such notion."""
    framework = framework_of(x)
    if framework == "torch":
        if not x.is_cuda:
            return 0  # a host tensor: the launch then fails on its device
        torch = sys.modules["torch"]
        # torch.cuda.current_stream() builds a Stream object (~6 us); the raw
        # handle is what inductor's generated code reads.
        raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
        if raw is not None:
            return raw(x.get_device())
        return torch.cuda.current_stream(x.device).cuda_stream
    if framework == "cupy":
        return sys.modules["cupy"].cuda.get_current_stream().ptr
    return 0


def as_dlpack(x):
    """x in the form the extension imports fastest. For a PyTorch tensor
    that is its DLPack capsule made in C++ (torch.utils.dlpack.to_dlpack):
    Tensor.__dlpack__ spends ~5 us in Python per call and makes the default
    stream wait on the current one, which sieve does not need since it
    launches on the current stream itself. Anything else goes as it is."""
    if framework_of(x) == "torch":
        try:
            return sys.modules["torch"].utils.dlpack.to_dlpack(x)
        except Exception:  # a layout DLPack cannot describe: the import names it
            return x
    return x
