"""Argument checks shared by the ops: every failure names the op and the argument."""

from __future__ import annotations

import functools

import numpy as np

from ..errors import describe, invalid, wrong_dtype
from ._int8_engine import Prepacked

INTEGER_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def integer_operand(op: str, name: str, value):
    """An int8 or uint8 array with at least one dimension, or prepacked weights (which have
    ``shape``, ``dtype`` and ``ndim`` like an array)."""
    if isinstance(value, Prepacked):
        return value
    array = np.asarray(value)
    if array.dtype not in INTEGER_DTYPES:
        raise wrong_dtype(op, name, "an int8 or uint8 array", describe(array))
    if array.ndim == 0:
        raise invalid(op, name, "an array with at least 1 dimension", describe(array))
    return array


@functools.cache
def integer_limits(dtype: np.dtype) -> np.iinfo:
    """``np.iinfo(dtype)``, once per dtype (it takes microseconds, and every op call asks)."""
    return np.iinfo(dtype)


def zero_point(op: str, name: str, value, dtype: np.dtype, length: int | None) -> np.ndarray:
    """A zero point as an int32 array: shape () or, when ``length`` is given, (length,).

    Accepts Python/numpy integers and integer arrays of shape (), (1,) or (length,); each value
    must lie inside ``dtype``'s range.
    """
    info = integer_limits(dtype)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and info.min <= value <= info.max:
        return np.array(value, np.int32) if length is None else _per_column(length, int(value))  # the common case
    array = np.asarray(value)
    if array.dtype.kind not in "iu" or array.dtype == np.bool_:
        raise wrong_dtype(op, name, "an integer or an integer array", describe(value))
    allowed = "a scalar" if length is None else f"a scalar or a 1-D array of length {length}"
    if array.ndim > 1 or (array.ndim == 1 and array.size != 1 and array.size != length):
        raise invalid(op, name, allowed, describe(array))
    if array.size and (int(array.min()) < info.min or int(array.max()) > info.max):
        raise invalid(op, name, f"inside [{info.min}, {info.max}] (the range of {dtype})", array.tolist())
    values = array.astype(np.int32).reshape(-1)  # a copy
    if length is None:
        return values.reshape(())
    return np.full(length, values[0], np.int32) if values.size == 1 else values


@functools.lru_cache(maxsize=64)
def _per_column(length: int, value: int) -> np.ndarray:
    """A per-tensor zero point repeated for ``length`` columns: one array shared by the calls that
    ask for it (which never write to it), so that the engine recognises them (``Prepacked.product``)."""
    return np.full(length, value, np.int32)


def matmul_shapes(op: str, a_shape: tuple, b_shape: tuple) -> tuple[tuple, int, int, int]:
    """numpy matmul shapes: (batch shape, M, K, N) after promoting 1-D operands."""
    a2 = (1, *a_shape) if len(a_shape) == 1 else a_shape
    b2 = (*b_shape, 1) if len(b_shape) == 1 else b_shape
    if a2[-1] != b2[-2]:
        raise invalid(op, "b", f"of shape (..., {a2[-1]}, N) to match a's last dimension", f"shape {b_shape}")
    if a2[:-2] == b2[:-2] or not b2[:-2]:  # the common cases, without numpy's broadcasting machinery
        return a2[:-2], a2[-2], a2[-1], b2[-1]
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise invalid(op, "b", f"batch dimensions broadcastable with a's {a2[:-2]}", f"{b2[:-2]}") from None
    return batch, a2[-2], a2[-1], b2[-1]


def activation_bounds(op: str, activation) -> tuple[float, float | None]:
    """The real (lo, hi) clamp of an activation (hi None: unbounded): "relu" is (0, None),
    "relu6" (0, 6), and a pair of real numbers (lo <= hi, not NaN) is itself."""
    if isinstance(activation, str) and activation in ("relu", "relu6"):
        return (0.0, None) if activation == "relu" else (0.0, 6.0)
    if (isinstance(activation, tuple) and len(activation) == 2
            and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                    and not np.isnan(v) for v in activation)
            and activation[0] <= activation[1]):
        return float(activation[0]), float(activation[1])
    raise invalid(op, "activation", 'None, "relu", "relu6" or a (lo, hi) pair of numbers with lo <= hi',
                  repr(activation))


def activation_range(op: str, activation, low: int, high: int, to_quantized) -> tuple[int, int]:
    """The output clamp of an integer op: the dtype's range intersected with the activation's.

    ``activation`` is None, "relu", "relu6" or a (lo, hi) pair of real values;
    ``to_quantized(real)`` maps a real bound into the output's integer domain.
    """
    if activation is None:
        return low, high
    lo, hi = activation_bounds(op, activation)
    low = max(low, to_quantized(lo))
    if hi is not None:
        high = min(high, to_quantized(hi))
    if low > high:
        raise invalid(op, "activation", f"a range that meets the output range [{low}, {high}]", repr(activation))
    return low, high


def int32_bias(op: str, value, cols: int) -> np.ndarray:
    """An int32 bias of shape (cols,), zeros when None."""
    if value is None:
        return np.zeros(cols, np.int32)
    array = np.asarray(value)
    if array.dtype != np.int32:
        raise wrong_dtype(op, "bias", "an int32 array (in the accumulator's scale)", describe(array))
    if array.shape != (cols,):
        raise invalid(op, "bias", f"of shape ({cols},), one per output column", describe(array))
    return array
