"""Requantization of int32 accumulators to int8/uint8: one value at a time, three roundings.

Modes (numbers fixed here, names in ``ops``):

1. float (ONNX Runtime): ``clamp(rne(f32(f32(acc) * multiplier)) + zero_point)``.
2. fixed point (TFLite reference kernels, gemmlowp's double rounding):
   ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc << left, q), right)``.
3. fixed point, single rounding (TFLite built with TFLITE_SINGLE_ROUNDING, ruy):
   ``(acc * q + 2**(30 - shift)) >> (31 - shift)`` in int64.

``low``/``high`` are the output clamp (the dtype's range intersected with the activation's).
"""

from __future__ import annotations

import numpy as np

from .jit import kernel

__all__ = ["FIXED_POINT", "FIXED_POINT_SINGLE", "FLOAT", "requantize_float", "requantize_i32", "requantize_value"]

FLOAT = 1
FIXED_POINT = 2
FIXED_POINT_SINGLE = 3

_INT32_MIN = np.int64(-(2**31))
_INT32_MAX = np.int64(2**31 - 1)


@kernel(inline="always")
def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SRDHM: high 32 bits of 2*a*b, rounded to nearest (ties toward +inf in the
    doubled product's sign convention), saturating the single overflow case INT32_MIN**2."""
    if a == _INT32_MIN and b == _INT32_MIN:
        return np.int32(_INT32_MAX)
    product = np.int64(a) * np.int64(b)
    nudge = np.int64(1 << 30) if product >= 0 else np.int64(1 - (1 << 30))
    total = product + nudge
    # C++ integer division truncates toward zero; Python-style // would floor.
    high = total >> 31 if total >= 0 else -((-total) >> 31)
    return np.int32(high)


@kernel(inline="always")
def rounding_divide_by_pot(x, exponent):
    """gemmlowp RDBPOT: x / 2**exponent rounded to nearest, ties away from zero."""
    mask = np.int32((np.int64(1) << exponent) - 1)
    remainder = np.int32(x & mask)
    threshold = np.int32((mask >> 1) + (1 if x < 0 else 0))
    return np.int32((x >> exponent) + (1 if remainder > threshold else 0))


@kernel(inline="always")
def requantize_float(acc, multiplier, zero_point, low, high):
    """Mode 1 without branches (so that loops over it vectorise). The clamp happens in float,
    before the conversion to int (the scaled value can exceed int32); its bounds
    ``low - zero_point`` and ``high - zero_point`` are small integers, exact in float32."""
    scaled = np.rint(np.float32(acc) * multiplier)
    scaled = min(max(scaled, np.float32(low - zero_point)), np.float32(high - zero_point))
    return np.int32(np.int32(scaled) + zero_point)


@kernel(inline="always")
def requantize_value(acc, mode, multiplier, quantized_multiplier, shift, zero_point, low, high):
    """One int32 accumulator to the output integer (returned as int32, already clamped)."""
    if mode == FLOAT:
        return requantize_float(acc, multiplier, zero_point, low, high)
    if mode == FIXED_POINT:
        left = shift if shift > 0 else 0
        right = -shift if shift < 0 else 0
        shifted = np.int32(np.int64(acc) << left)  # wraps, as the C++ shift does
        value = np.int64(
            rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, quantized_multiplier), right)
        )
    else:
        total_shift = 31 - shift
        # Kept exact in int64 and clamped below (a release TFLite build would wrap it to int32).
        value = (np.int64(acc) * np.int64(quantized_multiplier) + (np.int64(1) << (total_shift - 1))) >> total_shift
    value += zero_point
    if value < low:
        return low
    if value > high:
        return high
    return np.int32(value)


@kernel
def requantize_i32(acc, mode, multipliers, quantized_multipliers, shifts, zero_point, low, high, out):
    """out[i, j] = requantize_value(acc[i, j]) with the parameters of column j."""
    rows, cols = acc.shape
    if mode == FLOAT:  # tested once, outside the loops, so the float loop vectorises
        for i in range(rows):
            for j in range(cols):
                out[i, j] = requantize_float(acc[i, j], multipliers[j], zero_point, low, high)
        return
    for i in range(rows):
        for j in range(cols):
            out[i, j] = requantize_value(
                acc[i, j], mode, multipliers[j], quantized_multipliers[j], shifts[j], zero_point, low, high
            )
