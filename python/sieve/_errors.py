"""sieve's exceptions: one class per C++ sieve::ErrorCode.

Each is a `sieve.Error` and also the builtin exception a Python caller would
expect (a shape mismatch is a ValueError, a wrong dtype a TypeError), so code
that knows nothing of sieve still catches them. The extension raises them
through `make`, with the C++ code name and message unchanged.
"""


class Error(Exception):
    """Base of every sieve error. `code` is the C++ ErrorCode's name
    ("shape mismatch", ...), `message` its message; str() shows both."""

    code = "internal error"

    def __init__(self, message, code=None):
        # One argument for the base: OSError reads two as (errno, strerror).
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self):
        return f"{self.code}: {self.message}"

    def __reduce__(self):  # pickles (multiprocessing) with code and message
        return (type(self), (self.message, self.code))


class InvalidArgumentError(Error, ValueError):
    code = "invalid argument"


class ShapeMismatchError(Error, ValueError):
    code = "shape mismatch"


class DTypeMismatchError(Error, TypeError):
    code = "dtype mismatch"


class WrongDeviceError(Error, ValueError):
    code = "wrong device"


class MalformedMaskError(Error, ValueError):
    code = "malformed mask"


class IoError(Error, OSError):
    code = "i/o error"


class NoGpuError(Error, RuntimeError):
    code = "no GPU"


class CudaError(Error, RuntimeError):
    code = "CUDA error"


class CompileError(Error, RuntimeError):
    code = "compile error"


class CorruptArtifactError(Error, RuntimeError):
    code = "corrupt artifact"


class UnsupportedError(Error, NotImplementedError):
    code = "unsupported"


class InternalError(Error, RuntimeError):
    code = "internal error"


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgumentError, ShapeMismatchError, DTypeMismatchError, WrongDeviceError,
    MalformedMaskError, IoError, NoGpuError, CudaError, CompileError, CorruptArtifactError,
    UnsupportedError, InternalError)}


def make(code, message):
    """The exception for a C++ error (called by the extension)."""
    return _BY_CODE.get(code, Error)(message, code)
