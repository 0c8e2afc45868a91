"""Bit-level conversions between float32 and the 16-bit formats, on flat contiguous arrays.

numba has no float16 or bfloat16 arrays, so the kernels read and write bit patterns:
float32 values as ``uint32`` and 16-bit values as ``uint16``. Callers reshape and validate.
"""

from __future__ import annotations

import numpy as np

from .bits import f32_from_u32, u32_from_f32
from .jit import kernel

__all__ = [
    "bf16_bits_from_f32_bits",
    "f16_bits_from_f32_bits",
    "f32_bits_from_bf16_bits",
    "f32_bits_from_f16_bits",
]

_SIGN32 = np.uint32(0x80000000)
_ABS32 = np.uint32(0x7FFFFFFF)
_INF32 = np.uint32(0x7F800000)
_HALF = np.float32(0.5)
_TWO_POW_MINUS_14 = np.float32(2.0**-14)


@kernel
def bf16_bits_from_f32_bits(src, dst):
    """float32 bits -> bfloat16 bits, round to nearest even.

    NaN becomes the quiet NaN 0x7FC0 with the input's sign; overflow rounds to +-Inf;
    subnormals are rounded like any other value (no flushing).
    """
    for i in range(src.size):
        u = src[i]
        if (u & _ABS32) > _INF32:
            dst[i] = np.uint16(((u >> np.uint32(16)) & np.uint32(0x8000)) | np.uint32(0x7FC0))
        else:
            lsb = (u >> np.uint32(16)) & np.uint32(1)
            dst[i] = np.uint16((u + np.uint32(0x7FFF) + lsb) >> np.uint32(16))


@kernel
def f32_bits_from_bf16_bits(src, dst):
    """bfloat16 bits -> float32 bits (exact: the 16 bits become the high half)."""
    for i in range(src.size):
        dst[i] = np.uint32(src[i]) << np.uint32(16)


@kernel
def f16_bits_from_f32_bits(src, dst):
    """float32 bits -> float16 bits exactly as numpy's ``astype(np.float16)``.

    Round to nearest even, subnormal results rounded (not flushed), overflow to +-Inf, NaN keeps
    its sign and the top 10 payload bits (forced non-zero so it stays a NaN). Written without
    branches (every case computed, one selected) so that the loop vectorises.
    """
    for i in range(src.size):
        u = src[i]
        magnitude = u & _ABS32
        # Normal half: rebias the exponent and round the 13 dropped bits to nearest even; a carry
        # out of the mantissa increments the exponent, up to Inf, which is still correct.
        odd = (magnitude >> np.uint32(13)) & np.uint32(1)
        normal = (magnitude - np.uint32(0x38000000) + np.uint32(0x0FFF) + odd) >> np.uint32(13)
        # Subnormal half (|x| < 2**-14): adding 0.5 leaves |x| rounded (nearest even, by the FPU)
        # to the subnormal grid 2**-24 in the low mantissa bits of the sum.
        subnormal = u32_from_f32(f32_from_u32(magnitude) + _HALF) - np.uint32(0x3F000000)
        payload = np.uint32(0x7C00) | (magnitude & np.uint32(0x007FFFFF)) >> np.uint32(13)
        nan = payload | np.uint32(payload == np.uint32(0x7C00))
        special = nan if magnitude > _INF32 else np.uint32(0x7C00)
        if magnitude < np.uint32(0x38800000):
            half = subnormal
        elif magnitude < np.uint32(0x47800000):
            half = normal
        else:
            half = special
        dst[i] = np.uint16(((u >> np.uint32(16)) & np.uint32(0x8000)) | half)


@kernel
def f32_bits_from_f16_bits(src, dst):
    """float16 bits -> float32 bits (exact; subnormals normalised, NaN payload kept)."""
    for i in range(src.size):
        h = np.uint32(src[i])
        shifted = (h & np.uint32(0x7FFF)) << np.uint32(13)
        exponent = shifted & np.uint32(0x0F800000)
        rebiased = shifted + np.uint32(0x38000000)
        special = rebiased + np.uint32(0x38000000)  # Inf/NaN: exponent all ones
        # Subnormal half: treat the mantissa as the fraction of 2**-14 * (1 + m), then subtract
        # the implicit 2**-14; the FPU normalises the exact difference.
        subnormal = u32_from_f32(f32_from_u32(rebiased + np.uint32(0x00800000)) - _TWO_POW_MINUS_14)
        if exponent == np.uint32(0x0F800000):
            magnitude = special
        elif exponent == 0:
            magnitude = subnormal
        else:
            magnitude = rebiased
        dst[i] = ((h & np.uint32(0x8000)) << np.uint32(16)) | magnitude
