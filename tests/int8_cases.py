"""Shared helpers of the INT8 tests: value fills, zero points and exact comparisons."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from inferentia_kernels.reference.quantize import quantize_linear

#: Fills without "zero_point" (for tests that draw zero points separately).
FILLS = ("random", "min", "max", "minmax", "near_extremes")


def ids(value):
    return value.name if isinstance(value, np.dtype) else None


def info(dt) -> tuple[int, int]:
    i = np.iinfo(dt)
    return int(i.min), int(i.max)


def assert_same(expected: np.ndarray, actual: np.ndarray, context: str = "") -> None:
    assert isinstance(actual, np.ndarray), (type(actual), context)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, context)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, context)
    np.testing.assert_array_equal(actual, expected, err_msg=context, strict=True)


def fill_array(rng: np.random.Generator, dt, shape, fill: str, zp: int = 0) -> np.ndarray:
    """Values of ``dt``: random, all minimum, all maximum, a mix of both, all ``zp``, or values
    next to the extremes."""
    lo, hi = info(dt)
    if fill == "random":
        values = rng.integers(lo, hi, shape, endpoint=True)
    elif fill == "min":
        values = np.full(shape, lo)
    elif fill == "max":
        values = np.full(shape, hi)
    elif fill == "minmax":
        values = np.where(rng.integers(0, 2, shape) == 1, hi, lo)
    elif fill == "zero_point":
        values = np.full(shape, zp)
    else:  # near_extremes
        values = rng.choice(np.array([lo, lo + 1, hi - 1, hi]), shape)
    return np.asarray(values).astype(dt)


def zero_point_value(dt):
    lo, hi = info(dt)
    return st.one_of(st.sampled_from([lo, lo + 1, hi - 1, hi, 0, 1, 3]), st.integers(lo, hi))


def expected_activation_range(activation, scale, zero_point, dtype):
    """The quantized clamp of an activation, written independently of the library: each real bound
    goes through ONNX QuantizeLinear with the output parameters (reference.quantize), so "relu" clamps
    at the zero point."""
    if activation is None:
        return None

    def q(real: float) -> int:
        return int(quantize_linear(np.float32(real), np.float32(scale), zero_point, dtype))

    lo, hi = info(dtype)
    if activation == "relu":
        return q(0.0), hi
    if activation == "relu6":
        return q(0.0), q(6.0)
    return q(activation[0]), q(activation[1])
