"""Every way a CPU caller can get it wrong: a Python exception that is both
a sieve.Error (carrying the C++ code and message) and the builtin a caller
expects, with a message naming the tensor and what was expected."""

import pickle

import numpy as np
import pytest

import sieve

B, HQ, HKV, SQ, SK, D = 1, 4, 2, 64, 64, 16


@pytest.fixture(scope="module")
def mask():
    return sieve.BlockMask.random(HQ, 2, 2, 32, 32, 0.5, seed=21)


@pytest.fixture(scope="module")
def kernel(mask):
    return sieve.compile(mask, batch=B, heads_q=HQ, heads_kv=HKV, seq_q=SQ, seq_k=SK, head_dim=D,
                         dtype="f32", device="cpu")


def arrays(dtype=np.float32):
    rng = np.random.default_rng(22)
    q = rng.standard_normal((B, HQ, SQ, D)).astype(dtype)
    k = rng.standard_normal((B, HKV, SK, D)).astype(dtype)
    v = rng.standard_normal((B, HKV, SK, D)).astype(dtype)
    return q, k, v


def test_errors_carry_code_and_message(mask):
    q, k, v = arrays()
    with pytest.raises(sieve.ShapeMismatchError) as caught:
        sieve.attention(q, k, v[:, :1], mask)
    error = caught.value
    assert isinstance(error, sieve.Error) and isinstance(error, ValueError)
    assert error.code == "shape mismatch"
    assert "tensor 'value' has shape [1, 1, 64, 16], expected [1, 2, 64, 16]" in error.message
    assert str(error) == f"shape mismatch: {error.message}"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)


@pytest.mark.parametrize("which", ["q", "k", "v", "out"])
def test_float64_is_a_dtype_error_naming_the_tensor(kernel, which):
    tensors = dict(zip("qkv", arrays()))
    tensors["out"] = np.zeros_like(tensors["q"])
    tensors[which] = tensors[which].astype(np.float64)
    with pytest.raises(sieve.DTypeMismatchError, match=rf"^dtype mismatch: {which} is float64; "
                       "sieve takes float32") as caught:
        kernel(tensors["q"], tensors["k"], tensors["v"], out=tensors["out"])
    assert isinstance(caught.value, TypeError)


def test_attention_float64_and_integers(mask):
    q, k, v = arrays(np.float64)
    with pytest.raises(TypeError, match="q is float64"):
        sieve.attention(q, k, v, mask)
    with pytest.raises(sieve.DTypeMismatchError, match="q is int32"):
        sieve.attention(*arrays(np.int32), mask)


def test_wrong_ndim(mask, kernel):
    q, k, v = arrays()
    with pytest.raises(sieve.ShapeMismatchError, match=r"q has 3 dimensions.*expected 4"):
        sieve.attention(q[0], k, v, mask)
    with pytest.raises(sieve.ShapeMismatchError, match=r"k has 5 dimensions.*expected 4"):
        kernel(q, k[None], v)
    with pytest.raises(sieve.ShapeMismatchError, match=r"out has 2 dimensions"):
        kernel(q, k, v, out=np.empty((4, 4), dtype=np.float32))


def test_mismatched_shapes(kernel):
    q, k, v = arrays()
    with pytest.raises(sieve.ShapeMismatchError, match=r"tensor 'query' has shape \[1, 4, 32, "
                       r"16\], expected \[1, 4, 64, 16\]"):
        kernel(q[:, :, :32], k, v)
    with pytest.raises(sieve.ShapeMismatchError, match=r"tensor 'key' has shape .* expected "
                       r"\[1, 2, 64, 16\]"):
        kernel(q, k[..., :8], v)
    with pytest.raises(sieve.ShapeMismatchError, match=r"tensor 'out' has shape"):
        kernel(q, k, v, out=np.empty((1, 4, 64, 8), dtype=np.float32))
    with pytest.raises(sieve.DTypeMismatchError, match="out is float64"):
        kernel(q, k, v, out=np.empty(q.shape))


def test_heads_not_a_multiple(mask):
    q, _, _ = arrays()
    k = np.zeros((B, 3, SK, D), dtype=np.float32)
    with pytest.raises(sieve.ShapeMismatchError,
                       match=r"heads_q \(4\) must be a multiple of heads_kv \(3\)"):
        sieve.attention(q, k, k, mask)


def test_mask_that_does_not_cover_the_shape(mask):
    q, k, v = arrays()
    with pytest.raises(sieve.ShapeMismatchError, match=r"mask is \[4, 2, 2\] but heads=4, "
                       r"Sq=128, Sk=64 with 32x32 tiles need \[4, 4, 2\]"):
        sieve.attention(np.concatenate([q, q], axis=2), k, v, mask)
    two_heads = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.5, seed=1)
    with pytest.raises(sieve.ShapeMismatchError, match="mask is"):
        sieve.attention(q, k, v, two_heads)
    with pytest.raises(sieve.ShapeMismatchError):
        mask.check_covers(HQ, SQ, 2 * SK)


def test_mask_must_be_a_block_mask():
    q, k, v = arrays()
    with pytest.raises(sieve.InvalidArgumentError, match="mask must be a sieve.BlockMask, got "
                       "ndarray"):
        sieve.attention(q, k, v, np.ones((HQ, 2, 2), dtype=bool))


def test_not_arrays(kernel, mask):
    q, k, v = arrays()
    with pytest.raises(TypeError, match="v is a list; sieve takes arrays that support DLPack"):
        kernel(q, k, v.tolist())
    with pytest.raises(TypeError, match="k is a str"):
        sieve.attention(q, "k", v, mask)


def test_read_only_out(kernel):
    q, k, v = arrays()
    out = np.empty_like(q)
    out.setflags(write=False)
    with pytest.raises(sieve.InvalidArgumentError, match="out is read-only"):
        kernel(q, k, v, out=out)


def test_negative_strides(kernel):
    q, k, v = arrays()
    with pytest.raises(sieve.InvalidArgumentError, match=r"q has stride -16 in dimension 2 \(a "
                       r"reversed view\); sieve takes non-negative strides"):
        kernel(q[:, :, ::-1], k, v)


def test_no_output_framework_to_allocate_from(kernel):
    q, k, v = arrays()
    with pytest.raises(sieve.InvalidArgumentError, match="cannot allocate an output like q"):
        kernel(memoryview(q), k, v)
    out = np.empty_like(q)
    kernel(memoryview(q), memoryview(k), memoryview(v), out=out)  # buffers work given out=


def test_stream_on_the_cpu(kernel):
    q, k, v = arrays()
    with pytest.raises(sieve.InvalidArgumentError, match="stream was given to a kernel of the "
                       "CPU backend"):
        kernel(q, k, v, stream=1234)
    with pytest.raises(sieve.InvalidArgumentError, match="stream must be an int"):
        kernel(q, k, v, stream="default")


def test_compile_arguments(mask):
    shape = dict(batch=B, heads_q=HQ, heads_kv=HKV, seq_q=SQ, seq_k=SK, head_dim=D)
    with pytest.raises(sieve.InvalidArgumentError, match="device must be 'auto', 'cpu', 'cuda' or "
                       "'cuda:N'; got 'tpu'"):
        sieve.compile(mask, **shape, dtype="f32", device="tpu")
    with pytest.raises(sieve.InvalidArgumentError, match="device must be"):
        sieve.compile(mask, **shape, dtype="f32", device="cpu:1")
    with pytest.raises(sieve.DTypeMismatchError, match="dtype 'f64' is not one sieve runs"):
        sieve.compile(mask, **shape, dtype="f64", device="cpu")
    with pytest.raises(sieve.UnsupportedError, match="kernel variant 'wgmma' is a GPU kernel"):
        sieve.compile(mask, **shape, dtype="f32", device="cpu", variant="wgmma")
    with pytest.raises(sieve.InvalidArgumentError, match="batch must be positive, got 0"):
        sieve.compile(mask, **dict(shape, batch=0), dtype="f32", device="cpu")
    with pytest.raises(sieve.InvalidArgumentError, match="scale must be finite and non-zero"):
        sieve.compile(mask, **shape, dtype="f32", device="cpu", scale=0.0)
    with pytest.raises(TypeError):
        sieve.compile(mask, **dict(shape, seq_q=64.5), dtype="f32", device="cpu")
