"""What a Python caller is told when an argument is wrong: the argument by
its name and what it should be, never nanobind's overload signature nor a
message about another argument.

Each case was wrong before: a missing lse was reported as "out is
read-only", seq_q=2**70 printed compile()'s whole signature, causal="no"
compiled a causal kernel, and a reversed (negative-stride) view was
refused in the runtime's words ('query') while the README promised any
strides."""

import numpy as np
import pytest

import sieve

SHAPE = dict(batch=1, heads_q=2, heads_kv=2, seq_q=32, seq_k=32, head_dim=8, dtype="f32",
             device="cpu")


@pytest.fixture(scope="module")
def mask():
    return sieve.BlockMask(np.ones((2, 2, 2), bool), 16, 16)


def tensor(seed=0):
    return np.random.default_rng(seed).standard_normal((1, 2, 32, 8)).astype(np.float32)


def test_a_missing_array_is_named(mask):
    backward = sieve.compile(mask, backward=True, **SHAPE)
    q = tensor()
    with pytest.raises(sieve.InvalidArgumentError, match=r"^invalid argument: lse is None; "
                       "pass an array$"):
        backward.backward(q, q, q, q, q, None)
    with pytest.raises(sieve.InvalidArgumentError, match="dout is None"):
        backward.backward(q, q, q, q, None, np.zeros((1, 2, 32), np.float32))
    forward = sieve.compile(mask, **SHAPE)
    with pytest.raises(sieve.InvalidArgumentError, match="v is None"):
        forward(q, q, None)


def test_the_read_only_output_is_the_one_named(mask):
    forward = sieve.compile(mask, save_lse=True, **SHAPE)
    q = tensor()
    lse = np.zeros((1, 2, 32), np.float32)
    lse.setflags(write=False)
    with pytest.raises(sieve.InvalidArgumentError, match="^invalid argument: lse is read-only"):
        forward(q, q, q, out=np.empty_like(q), lse=lse)
    out = np.empty_like(q)
    out.setflags(write=False)
    with pytest.raises(sieve.InvalidArgumentError, match="^invalid argument: out is read-only"):
        forward(q, q, q, out=out, lse=np.zeros((1, 2, 32), np.float32))


@pytest.mark.parametrize("name,value,limit", [
    ("seq_q", 2**70, "16777216 (sequence)"), ("seq_k", 2**63, "16777216 (sequence)"),
    ("batch", 70000, "65536 (batch)"), ("heads_q", 5000, "4096 (heads)"),
    ("head_dim", 2**40, "1024 (head_dim)")])
def test_sizes_beyond_the_limits_are_named(mask, name, value, limit):
    with pytest.raises(sieve.InvalidArgumentError) as caught:
        sieve.compile(mask, **dict(SHAPE, **{name: value}))
    assert str(caught.value) == (f"invalid argument: {name}={value} is over sieve's limit of "
                                 f"{limit}")


def test_sizes_must_be_integers(mask):
    with pytest.raises(TypeError, match=r"^seq_q must be an integer, got 64\.5 \(float\)$"):
        sieve.compile(mask, **dict(SHAPE, seq_q=64.5))
    with pytest.raises(sieve.InvalidArgumentError, match="seq_k must be positive, got -1"):
        sieve.compile(mask, **dict(SHAPE, seq_k=-1))


CAUSAL_VALUES = 'causal must be False, True, "top_left" or "bottom_right", got '


@pytest.mark.parametrize("value", ["no", "false", 0, 1, None, "bottom-right", "BOTTOM_RIGHT",
                                   "causal"])
def test_causal_must_be_a_bool_or_an_alignment(mask, value):
    with pytest.raises(sieve.InvalidArgumentError) as caught:
        sieve.compile(mask, causal=value, **SHAPE)
    assert str(caught.value).startswith("invalid argument: " + CAUSAL_VALUES + repr(value))
    q = tensor()
    with pytest.raises(sieve.InvalidArgumentError) as caught:
        sieve.attention(q, q, q, mask, causal=value)
    assert CAUSAL_VALUES in str(caught.value)


def test_causal_accepts_bools_and_alignments(mask):
    assert sieve.compile(mask, causal=True, **SHAPE).causal is True
    assert sieve.compile(mask, causal=np.bool_(False), **SHAPE).causal is False
    assert sieve.compile(mask, causal="top_left", **SHAPE).causal is True
    kernel = sieve.compile(mask, causal="bottom_right", **SHAPE)
    assert kernel.causal == "bottom_right" and "causal bottom-right" in repr(kernel)


def test_a_negative_stride_is_named_with_its_fix(mask):
    kernel = sieve.compile(mask, **SHAPE)
    q = tensor()
    with pytest.raises(sieve.InvalidArgumentError) as caught:
        kernel(q, q[:, :, ::-1], q)
    assert str(caught.value) == (
        "invalid argument: k has stride -8 in dimension 2 (a reversed view); sieve takes "
        "non-negative strides: pass a copy (numpy.ascontiguousarray(k), x.copy())")
    # The copy works, as the message says.
    out = kernel(q, np.ascontiguousarray(q[:, :, ::-1]), q)
    assert np.isfinite(out).all()


def test_mask_sizes_beyond_64_bits_are_named():
    with pytest.raises(sieve.InvalidArgumentError, match=r"^invalid argument: heads=\d+ is "
                       "outside the 64-bit range$"):
        sieve.BlockMask.random(2**70, 2, 2, 16, 16, 0.5)
    with pytest.raises(sieve.InvalidArgumentError, match="block_q=.* is outside the 64-bit"):
        sieve.BlockMask(np.ones((1, 2, 2), bool), 2**70, 16)
    with pytest.raises(sieve.InvalidArgumentError, match="seed=-1 is outside the unsigned"):
        sieve.BlockMask.random(1, 2, 2, 16, 16, 0.5, seed=-1)
    with pytest.raises(sieve.InvalidArgumentError, match="layer=.* is outside the 64-bit"):
        sieve.BlockMask.load("m.npy", layer=2**64)


def test_a_random_mask_of_a_bad_shape_is_refused_by_name():
    # BlockMask.random used to reach the runtime's constructor unchecked.
    with pytest.raises(sieve.InvalidArgumentError, match=r"mask shape must be positive, got "
                       r"\[0, 2, 2\]"):
        sieve.BlockMask.random(0, 2, 2, 16, 16, 0.5)
    with pytest.raises(sieve.InvalidArgumentError, match="over sieve's limit of 1073741824 tiles"):
        sieve.BlockMask.random(4096, 2**20, 2**20, 16, 16, 0.5)
    with pytest.raises(sieve.MalformedMaskError, match="block sizes must be positive"):
        sieve.BlockMask.random(1, 2, 2, 0, 16, 0.5)
    with pytest.raises(sieve.InvalidArgumentError, match="keep_diagonal must be True or False"):
        sieve.BlockMask.random(1, 2, 2, 16, 16, 0.5, keep_diagonal="yes")


def test_a_block_past_the_limit_is_refused_not_run():
    # A tile of 4194304 keys overflowed the CPU kernel's stack.
    wide = sieve.BlockMask(np.ones((2, 1, 1), bool), 64, 4194304)
    with pytest.raises(sieve.InvalidArgumentError, match="block_k is 4194304, over sieve's limit "
                       "of 65536"):
        sieve.compile(wide, **dict(SHAPE, seq_q=64, seq_k=64))
