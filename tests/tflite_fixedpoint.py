"""A second, independent transcription of TFLite's fixed-point requantization, for cross-checks.

Pure Python integers, no numpy, written statement by statement after the C++ sources (so that it
shares nothing with ``inferentia_kernels/reference/requantize.py``):

* gemmlowp ``fixedpoint/fixedpoint.h``: ``SaturatingRoundingDoublingHighMul<std::int32_t>``,
  ``RoundingDivideByPOT<std::int32_t>``;
* TFLite ``tensorflow/lite/kernels/internal/common.cc``: ``MultiplyByQuantizedMultiplier(int32_t x,
  int32_t quantized_multiplier, int shift)``, the double-rounding (default) and the
  ``TFLITE_SINGLE_ROUNDING`` variants;
* TFLite ``tensorflow/lite/kernels/internal/quantization_util.cc``: ``QuantizeMultiplier``.

C++ integer semantics are modelled explicitly: ``int32``/``int64`` conversions wrap modulo 2^32/2^64
(``static_cast`` of an out-of-range value, C++20 semantics; the signed-overflow cases TFLite hits on
purpose are under ``TFLITE_NO_SANITIZE_INTEGER_OVERFLOW`` and wrap on every real target), ``/``
truncates toward zero, ``>>`` on a negative signed value is an arithmetic shift. ``TFLITE_DCHECK``
and ``assert`` become ``CheckFailed`` exceptions when ``debug=True``, so a caller can tell where a
debug TFLite build would abort and what a release build returns.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


class CheckFailed(AssertionError):
    """A TFLITE_CHECK / TFLITE_DCHECK / assert of the C++ source failed."""


def _check(condition: bool, text: str) -> None:
    if not condition:
        raise CheckFailed(text)


def int32(v: int) -> int:
    """static_cast<std::int32_t>: reduce modulo 2^32 into [-2^31, 2^31)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def int64(v: int) -> int:
    """static_cast<std::int64_t>: reduce modulo 2^64 into [-2^63, 2^63)."""
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & 0x8000000000000000 else v


def cpp_div(n: int, d: int) -> int:
    """C++ integer division: truncation toward zero."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


# ---- gemmlowp fixedpoint/fixedpoint.h -----------------------------------------------------------


def SaturatingRoundingDoublingHighMul(a: int, b: int) -> int:  # noqa: N802 - C++ name
    overflow = a == b and a == INT32_MIN
    a_64 = a
    b_64 = b
    ab_64 = int64(a_64 * b_64)
    nudge = (1 << 30) if ab_64 >= 0 else (1 - (1 << 30))
    ab_x2_high32 = int32(cpp_div(int64(ab_64 + nudge), 1 << 31))
    return INT32_MAX if overflow else ab_x2_high32


def RoundingDivideByPOT(x: int, exponent: int, *, debug: bool = True) -> int:  # noqa: N802
    if debug:
        _check(exponent >= 0, "assert(exponent >= 0)")
        _check(exponent <= 31, "assert(exponent <= 31)")
    mask = int32((1 << exponent) - 1)  # Dup<IntegerType>((1ll << exponent) - 1)
    zero = 0
    one = 1
    remainder = x & mask  # BitAnd
    mask_if_less_than = -1 if x < zero else 0  # MaskIfLessThan(x, zero): all bits set or none
    threshold = int32((mask >> 1) + (mask_if_less_than & one))
    mask_if_greater_than = -1 if remainder > threshold else 0
    return int32((x >> exponent) + (mask_if_greater_than & one))


# ---- TFLite common.cc: MultiplyByQuantizedMultiplier ---------------------------------------------


def MultiplyByQuantizedMultiplier(x: int, quantized_multiplier: int, shift: int, *, debug: bool = True) -> int:  # noqa: N802
    """Double rounding (the default build, #else branch of TFLITE_SINGLE_ROUNDING)."""
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    if debug:
        # 1 << left_shift is undefined for left_shift >= 31 (int); not a check in TFLite, but UB.
        _check(left_shift <= 30, "1 << left_shift is undefined behaviour for left_shift >= 31")
    return RoundingDivideByPOT(
        SaturatingRoundingDoublingHighMul(int32(x * int32(1 << left_shift)), quantized_multiplier),
        right_shift,
        debug=debug,
    )


def MultiplyByQuantizedMultiplierSingleRounding(  # noqa: N802
    x: int, quantized_multiplier: int, shift: int, *, debug: bool = True
) -> int:
    """The #if TFLITE_SINGLE_ROUNDING branch of MultiplyByQuantizedMultiplier(int32_t x, ...)."""
    if debug:
        _check(quantized_multiplier >= 0, "TFLITE_DCHECK(quantized_multiplier >= 0)")
        _check(shift >= -31 and shift <= 30, "TFLITE_DCHECK(shift >= -31 && shift <= 30)")
    total_shift = 31 - shift
    round_ = int64(1 << (total_shift - 1))
    result = int64(x * quantized_multiplier + round_)
    result = result >> total_shift
    if debug:
        _check(
            result >= INT32_MIN and result <= INT32_MAX,
            "TFLITE_DCHECK(result >= std::numeric_limits<int32_t>::min() && "
            "result <= std::numeric_limits<int32_t>::max())",
        )
    return int32(result)


# ---- TFLite quantization_util.cc: QuantizeMultiplier ----------------------------------------------


def TfLiteRound(v: float) -> int:  # noqa: N802
    """std::round on a double: nearest, ties away from zero. Exact via decimal (Decimal(float) is exact)."""
    ctx = Context(prec=80)  # v = m * 2^31 < 2^32 with <= 22 fraction bits: about 32 digits
    return int(Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP, context=ctx))


def QuantizeMultiplier(double_multiplier: float, *, single_rounding: bool = False) -> tuple[int, int]:  # noqa: N802
    """Returns (quantized_multiplier, shift). TFLITE_CHECK failures raise CheckFailed.

    single_rounding=True follows the ``#if TFLITE_SINGLE_ROUNDING`` branch (shift > 30 saturates).
    """
    if double_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(double_multiplier)  # const double q = std::frexp(double_multiplier, shift);
    q_fixed = int64(TfLiteRound(q * float(1 << 31)))  # q * (1LL << 31) is exact (power of two)
    _check(q_fixed <= (1 << 31), "TFLITE_CHECK(q_fixed <= (1LL << 31))")
    if q_fixed == (1 << 31):
        q_fixed = cpp_div(q_fixed, 2)
        shift += 1
    _check(q_fixed <= INT32_MAX, "TFLITE_CHECK_LE(q_fixed, std::numeric_limits<int32_t>::max())")
    if shift < -31:
        shift = 0
        q_fixed = 0
    if single_rounding:
        if shift > 30:
            shift = 30
            q_fixed = (1 << 31) - 1
    return int32(q_fixed), shift
