"""bfloat16 and float16: conversions to and from float32.

bfloat16: 1 sign, 8 exponent (bias 127) and 7 mantissa bits; the top half of a float32.
float16 (IEEE binary16): 1 sign, 5 exponent (bias 15) and 10 mantissa bits.

Conversions from float32 round to nearest, ties to even, keep subnormals, overflow to +-Inf.
NaN: bfloat16 gives the quiet NaN 0x7FC0 / 0xFFC0 (sign kept, payload dropped, as ml_dtypes);
float16 keeps the sign and the top 10 payload bits (as numpy). Inputs of other floating dtypes
are first converted to float32 by numpy: float64 is therefore rounded twice (to float32, then to
16 bits), exactly as ``ml_dtypes`` and numpy do; float16/bfloat16 inputs are exact.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from ..errors import describe, wrong_dtype
from ..kernels.formats import (
    bf16_bits_from_f32_bits,
    f16_bits_from_f32_bits,
    f32_bits_from_bf16_bits,
    f32_bits_from_f16_bits,
    round_f32_bits_to_bf16,
    round_f32_bits_to_f16,
)

__all__ = ["bfloat16", "from_bfloat16", "from_float16", "rounded_to", "to_bfloat16", "to_float16"]

bfloat16 = np.dtype(ml_dtypes.bfloat16).type
_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
_FLOAT16 = np.dtype(np.float16)


def _float_array(function: str, x: object) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype.kind != "f" and array.dtype != _BFLOAT16:
        raise wrong_dtype(function, "x", "a floating-point array", describe(array))
    return array


def _as_float32(x: np.ndarray) -> np.ndarray:
    """float32 values of ``x``; float64 beyond float32's range becomes +-Inf without a warning."""
    with np.errstate(over="ignore"):
        return x.astype(np.float32, copy=False)


def _convert(x: np.ndarray, kernel, in_bits: type, out_bits: type, out_dtype) -> np.ndarray:
    flat = np.ascontiguousarray(x).reshape(-1).view(in_bits)
    out = np.empty(flat.size, dtype=out_bits)
    if flat.size:
        kernel(flat, out)
    return out.view(out_dtype).reshape(x.shape)


def to_bfloat16(x) -> np.ndarray:
    """Round ``x`` to bfloat16 (nearest even); returns an ``ml_dtypes.bfloat16`` array.

    Bit-identical to ``x.astype(np.float32).astype(ml_dtypes.bfloat16)`` for every input.
    """
    array = _float_array("to_bfloat16", x)
    if array.dtype == _BFLOAT16:
        return array.copy()
    return _convert(_as_float32(array), bf16_bits_from_f32_bits, np.uint32, np.uint16, _BFLOAT16)


def from_bfloat16(x) -> np.ndarray:
    """Widen a bfloat16 array to float32 (exact)."""
    array = np.asarray(x)
    if array.dtype != _BFLOAT16:
        raise wrong_dtype("from_bfloat16", "x", "an ml_dtypes.bfloat16 array", describe(array))
    return _convert(array, f32_bits_from_bf16_bits, np.uint16, np.uint32, np.float32)


def to_float16(x) -> np.ndarray:
    """Round ``x`` to IEEE float16 (nearest even); bit-identical to numpy's ``astype(np.float16)``
    from float32."""
    array = _float_array("to_float16", x)
    if array.dtype == _FLOAT16:
        return array.copy()
    return _convert(_as_float32(array), f16_bits_from_f32_bits, np.uint32, np.uint16, _FLOAT16)


def from_float16(x) -> np.ndarray:
    """Widen a float16 array to float32 (exact)."""
    array = np.asarray(x)
    if array.dtype != _FLOAT16:
        raise wrong_dtype("from_float16", "x", "a float16 array", describe(array))
    return _convert(array, f32_bits_from_f16_bits, np.uint16, np.uint32, np.float32)


def rounded_to(x: np.ndarray, fmt: str) -> np.ndarray:
    """float32 values of floating ``x`` rounded to ``fmt`` ("bf16" or "fp16"), in one pass:
    ``from_bfloat16(to_bfloat16(x))`` / ``from_float16(to_float16(x))`` without the 16-bit array.
    Callers validate ``x``."""
    kernel = round_f32_bits_to_bf16 if fmt == "bf16" else round_f32_bits_to_f16
    return _convert(_as_float32(x), kernel, np.uint32, np.uint32, np.float32)
