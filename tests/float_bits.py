"""Float32 bit patterns and bit-exact comparison of float results, shared by the float test modules."""

from __future__ import annotations

import numpy as np


def bits(x) -> np.ndarray:
    """Flat uint32 bit patterns of a float32 array (or scalar)."""
    array = np.asarray(x)
    assert array.dtype == np.float32, array.dtype
    return np.ascontiguousarray(array.reshape(-1)).view(np.uint32)


def f32_from_bits(value: int) -> np.float32:
    return np.array([value], np.uint32).view(np.float32)[0]


def assert_same_bits(actual, expected, context: str = "") -> None:
    """Same type (ndarray), dtype float32, same shape, every element's bits equal."""
    assert isinstance(actual, np.ndarray), (type(actual), context)
    assert actual.dtype == np.float32, (actual.dtype, context)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, context)
    got, want = bits(actual), bits(expected.astype(np.float32, copy=False))
    if not np.array_equal(got, want):
        bad = np.flatnonzero(got != want)
        index = np.unravel_index(bad[0], actual.shape) if actual.ndim else ()
        raise AssertionError(
            f"{context}: {bad.size} of {got.size} elements differ; first at {index}: "
            f"got {actual[index]!r} (0x{int(got[bad[0]]):08x}), "
            f"expected {expected[index]!r} (0x{int(want[bad[0]]):08x})"
        )
