"""QuantizeLinear / DequantizeLinear as DESIGN.md §2 states them, in plain NumPy.

``quantize_linear``::

    q = clamp(rne(f32(x / scale)) + zero_point, qmin, qmax)

``x`` is converted to float32 first (float64 is rounded to float32, float16 and bfloat16 are
widened exactly); ``x / scale`` is one IEEE float32 division (not a multiply by ``1 / scale``);
``rne`` rounds half to even; ``zero_point`` is added after rounding; NaN and -Inf give ``qmin``
and +Inf gives ``qmax`` (as ONNX Runtime).

``dequantize_linear``::

    r = f32((q - zero_point) * scale)

``q - zero_point`` is an integer in [-255, 255]; its product with a float32 ``scale`` is exact in
float64, so computing it there and rounding once to float32 is the correctly rounded float32
product.

Per-axis parameters (1-D ``scale``/``zero_point``, ``axis`` given) apply ``scale[c]`` and
``zero_point[c]`` to index ``c`` along ``axis``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dequantize_linear", "quantize_linear"]


def _along_axis(values, ndim, axis):
    """``values`` (0-d or 1-D) reshaped so that it broadcasts along ``axis`` of an ndim-D array."""
    values = np.asarray(values)
    if axis is None:
        if values.ndim != 0:
            raise ValueError(f"reference: scale/zero_point must be scalars without axis, got shape {values.shape}")
        return values
    if values.ndim != 1:
        raise ValueError(f"reference: scale/zero_point must be 1-D when axis is given, got shape {values.shape}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"reference: axis {axis} out of range for a {ndim}-D array")
    shape = [1] * ndim
    shape[axis] = values.size
    return values.reshape(shape)


def quantize_linear(x, scale, zero_point, dtype, axis=None):
    """ONNX QuantizeLinear to int8 or uint8, written for clarity, not speed."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int8), np.dtype(np.uint8)):
        raise TypeError(f"reference: dtype must be int8 or uint8, got {dtype}")
    qmin, qmax = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)

    with np.errstate(over="ignore"):  # float64 beyond the float32 range becomes +-Inf
        x32 = np.asarray(x).astype(np.float32)
    s32 = _along_axis(np.asarray(scale, dtype=np.float32), x32.ndim, axis)
    zp = _along_axis(np.asarray(zero_point).astype(np.int64), x32.ndim, axis)
    if x32.shape != np.broadcast_shapes(x32.shape, s32.shape):
        raise ValueError(f"reference: scale of shape {np.shape(scale)} does not fit x of shape {x32.shape}")

    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        quotient = np.divide(x32, s32, dtype=np.float32)  # one float32 division, correctly rounded
        rounded = np.rint(quotient).astype(np.float64)  # half to even; still +-Inf / NaN here
        shifted = rounded + zp  # exact in float64: integer-valued and far below 2^53, or +-Inf
        clamped = np.clip(shifted, qmin, qmax)  # +Inf -> qmax, -Inf -> qmin
        clamped = np.where(np.isnan(quotient), qmin, clamped)  # NaN -> qmin
    return np.asarray(clamped).astype(dtype)


def dequantize_linear(q, scale, zero_point, axis=None):
    """ONNX DequantizeLinear from int8 or uint8 to float32."""
    q = np.asarray(q)
    if q.dtype not in (np.dtype(np.int8), np.dtype(np.uint8)):
        raise TypeError(f"reference: q must be int8 or uint8, got {q.dtype}")
    s64 = _along_axis(np.asarray(scale, dtype=np.float32), q.ndim, axis).astype(np.float64)
    zp = _along_axis(np.asarray(zero_point).astype(np.int64), q.ndim, axis)
    if q.shape != np.broadcast_shapes(q.shape, s64.shape):
        raise ValueError(f"reference: scale of shape {np.shape(scale)} does not fit q of shape {q.shape}")
    exact = (q.astype(np.int64) - zp) * s64  # |q - zp| <= 255 < 2^8: the float64 product is exact
    with np.errstate(over="ignore"):  # beyond the float32 range rounds to +-Inf, as float32 would
        return np.asarray(exact).astype(np.float32)
