"""Bit-level conversions between float32 and the 16-bit formats, on flat contiguous arrays.

numba has no float16 or bfloat16 arrays, so the kernels read and write bit patterns:
float32 values as ``uint32`` and 16-bit values as ``uint16``. Callers reshape and validate.
Each conversion is one inline scalar function; the array kernels map them, and the round trips
(float32 -> 16 bits -> float32, the values the tensor engine multiplies) compose them in one pass.
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
    "finite_magnitude_range",
    "round_f32_bits_to_bf16",
    "round_f32_bits_to_f16",
]

_SIGN32 = np.uint32(0x80000000)
_ABS32 = np.uint32(0x7FFFFFFF)
_INF32 = np.uint32(0x7F800000)
_HALF = np.float32(0.5)
_TWO_POW_MINUS_14 = np.float32(2.0**-14)


@kernel(inline="always")
def _bf16_from_f32(u):
    """float32 bits -> bfloat16 bits, round to nearest even.

    NaN becomes the quiet NaN 0x7FC0 with the input's sign; overflow rounds to +-Inf;
    subnormals are rounded like any other value (no flushing).
    """
    if (u & _ABS32) > _INF32:
        return np.uint16(((u >> np.uint32(16)) & np.uint32(0x8000)) | np.uint32(0x7FC0))
    lsb = (u >> np.uint32(16)) & np.uint32(1)
    return np.uint16((u + np.uint32(0x7FFF) + lsb) >> np.uint32(16))


@kernel(inline="always")
def _f32_from_bf16(h):
    """bfloat16 bits -> float32 bits (exact: the 16 bits become the high half)."""
    return np.uint32(h) << np.uint32(16)


@kernel(inline="always")
def _f16_from_f32(u):
    """float32 bits -> float16 bits exactly as numpy's ``astype(np.float16)``.

    Round to nearest even, subnormal results rounded (not flushed), overflow to +-Inf, NaN keeps
    its sign and the top 10 payload bits (forced non-zero so it stays a NaN). Written without
    branches (every case computed, one selected) so that loops over it vectorise.
    """
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
    return np.uint16(((u >> np.uint32(16)) & np.uint32(0x8000)) | half)


@kernel(inline="always")
def _f32_from_f16(h16):
    """float16 bits -> float32 bits (exact; subnormals normalised, NaN payload kept)."""
    h = np.uint32(h16)
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
    return np.uint32(((h & np.uint32(0x8000)) << np.uint32(16)) | magnitude)


@kernel
def bf16_bits_from_f32_bits(src, dst):
    for i in range(src.size):
        dst[i] = _bf16_from_f32(src[i])


@kernel
def f32_bits_from_bf16_bits(src, dst):
    for i in range(src.size):
        dst[i] = _f32_from_bf16(src[i])


@kernel
def f16_bits_from_f32_bits(src, dst):
    for i in range(src.size):
        dst[i] = _f16_from_f32(src[i])


@kernel
def f32_bits_from_f16_bits(src, dst):
    for i in range(src.size):
        dst[i] = _f32_from_f16(src[i])


@kernel
def round_f32_bits_to_bf16(src, dst):
    """float32 bits -> float32 bits of the value rounded to bfloat16, in one pass."""
    for i in range(src.size):
        dst[i] = _f32_from_bf16(_bf16_from_f32(src[i]))


@kernel
def round_f32_bits_to_f16(src, dst):
    """float32 bits -> float32 bits of the value rounded to float16, in one pass."""
    for i in range(src.size):
        dst[i] = _f32_from_f16(_f16_from_f32(src[i]))


@kernel
def finite_magnitude_range(values):
    """(smallest non-zero, largest) ``|x|`` over the finite entries of a flat float32 array;
    (inf, 0) when there is no finite non-zero entry.

    On the bits: the magnitudes of float32 values order as their bits with the sign cleared, and
    the finite ones are those below Inf's. Integer min/max reductions vectorise (float ones
    would need reassociation, i.e. fastmath)."""
    bits = values.view(np.uint32)
    smallest = _INF32
    largest = np.uint32(0)
    for i in range(bits.size):
        magnitude = np.uint32(bits[i] & _ABS32)  # numba widens integer arithmetic to 64 bits unless cast
        finite = magnitude < _INF32
        largest = np.uint32(max(largest, magnitude if finite else np.uint32(0)))
        smallest = np.uint32(min(smallest, magnitude if finite and magnitude > 0 else _INF32))
    return f32_from_u32(smallest), f32_from_u32(largest)
