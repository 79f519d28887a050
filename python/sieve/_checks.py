"""Arguments checked in Python before they reach the extension, so that a
mistake reads as a sentence about the argument: nanobind answers a value it
cannot convert with its whole overload signature, and Python's truthiness
makes causal="no" true."""

import operator

from . import _errors, _sieve


def flag(name, value):
    """`value` as a bool: True or False (numpy's bool too), nothing else;
    a string such as "no" or "false" is truthy and must not become True."""
    kind = type(value)
    # numpy's bool scalar is numpy.bool_ (numpy.bool from numpy 2 on).
    if kind is bool or (kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool")):
        return bool(value)
    raise _errors.InvalidArgumentError(
        f"{name} must be True or False, got {value!r} ({type(value).__qualname__})")


CAUSAL_ALIGNMENTS = ("top_left", "bottom_right")


def causal(value):
    """`causal=` normalized: False; True for a top-left causal mask (query i
    sees keys j <= i, PyTorch's is_causal), which "top_left" also spells;
    or "bottom_right" (j <= i + Sk - Sq: the queries are the last Sq
    positions, as with a KV cache; FlashAttention's causal)."""
    if isinstance(value, str):
        if value in CAUSAL_ALIGNMENTS:
            return True if value == "top_left" else value
    else:
        try:
            return flag("causal", value)
        except _errors.InvalidArgumentError:
            pass
    raise _errors.InvalidArgumentError(
        'causal must be False, True, "top_left" or "bottom_right", got '
        f"{value!r} ({type(value).__qualname__})")


def causal_parts(value):
    """A normalized `causal` (see causal()) as the extension takes it: the
    flag and the alignment's name."""
    return bool(value), "bottom_right" if value == "bottom_right" else "top_left"


def causal_of(flag_value, align):
    """The torch ops' `causal` flag and `causal_align` string as one
    normalized `causal` (see causal())."""
    if align not in CAUSAL_ALIGNMENTS:
        raise _errors.InvalidArgumentError(
            f'causal_align must be "top_left" or "bottom_right", got {align!r}')
    if not flag("causal", flag_value):
        if align != "top_left":
            raise _errors.InvalidArgumentError(
                f'causal_align="{align}" needs causal=True: it places a causal mask\'s diagonal')
        return False
    return causal(align)


def size(name, value, limit):
    """`value` as an int in [1, limit] (`limit`: a key of _sieve.limits)."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"({type(value).__qualname__})") from None
    most = _sieve.limits[limit]
    if number < 1:
        raise _errors.InvalidArgumentError(f"{name} must be positive, got {number}")
    if number > most:
        raise _errors.InvalidArgumentError(
            f"{name}={number} is over sieve's limit of {most} ({limit})")
    return number


def integer(name, value, unsigned=False):
    """`value` as an int that fits the extension's 64-bit integers (signed,
    or with `unsigned` in [0, 2**64))."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"({type(value).__qualname__})") from None
    low, high = (0, 2**64) if unsigned else (-2**63, 2**63)
    if not low <= number < high:
        raise _errors.InvalidArgumentError(
            f"{name}={number} is outside the {'unsigned ' if unsigned else ''}64-bit range")
    return number
