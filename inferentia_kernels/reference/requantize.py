"""Executable specification of the INT8 tensor engine's requantization (DESIGN.md §2).

Slow, obviously-correct NumPy and Python-integer code. Three modes turn an int32 accumulator into
int8/uint8:

``"float"``  (bit-exact with ONNX Runtime's QLinearMatMul / QLinearConv)
    ``s = f32(multiplier)``, ``y = clamp(rne(f32(f32(acc) · s)) + zero_point)``. The int32 → float32
    conversion rounds to nearest even (lossy above 2^24); the zero point is added after rounding.
    For the qlinear ops the multiplier is ``f32(f32(sa · sb[j]) / sy)`` in float32 arithmetic.

``"fixed_point"``  (TFLite reference kernels, default build = double rounding)
    ``(q, shift) = QuantizeMultiplier(multiplier)`` from the float64 multiplier, then
    ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc · 2^left_shift, q), right_shift)``
    with ``left_shift = max(shift, 0)``, ``right_shift = max(−shift, 0)``, ``+ zero_point``, clamp.

``"fixed_point_single"``  (TFLite built with TFLITE_SINGLE_ROUNDING, as with ruy)
    ``(acc · q + 2^(30 − shift)) >> (31 − shift)`` computed in int64, ``+ zero_point``, clamp.

Transcribed from (read at tensorflow/tensorflow and google/gemmlowp):
  * ``tensorflow/lite/kernels/internal/quantization_util.cc``: ``QuantizeMultiplier``;
  * ``tensorflow/lite/kernels/internal/common.cc`` (``common.h`` in older releases):
    ``MultiplyByQuantizedMultiplier(int32_t x, int32_t quantized_multiplier, int shift)``,
    both the ``#if TFLITE_SINGLE_ROUNDING`` and the double-rounding branches;
  * ``fixedpoint/fixedpoint.h`` (gemmlowp): ``SaturatingRoundingDoublingHighMul<std::int32_t>`` and
    ``RoundingDivideByPOT``.

Choices where C++ leaves things undefined or only DCHECKs them (documented, and tested):
  * The left shift ``x * (1 << left_shift)`` is signed int32 overflow in C++; TFLite marks the function
    ``TFLITE_NO_SANITIZE_INTEGER_OVERFLOW`` and it wraps on every real target; here it wraps (two's
    complement), as DESIGN.md says.
  * Single rounding: TFLite ``TFLITE_DCHECK``s that the int64 result fits in int32 before
    ``static_cast<int32_t>``; here the exact int64 result is returned (not wrapped), so an out-of-range
    product saturates at the final clamp instead of wrapping as a release TFLite build would.
  * ``+ zero_point`` is done in int64 (TFLite does ``acc += output_offset`` in int32, which is signed
    overflow only when the multiplied accumulator is within |zero_point| of the int32 limits); then
    the clamp. This cannot differ from TFLite unless TFLite itself hits undefined behaviour.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .matmul_integer import INT8_TYPES, matmul_integer, wrap_int32, zero_point_vector

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "MODES",
    "quantize_multiplier",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_single_rounding",
    "requantize",
    "qlinear_matmul",
    "qlinear_multiplier",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MODES = ("float", "fixed_point", "fixed_point_single")


# --------------------------------------------------------------------------------------------------
# QuantizeMultiplier
# --------------------------------------------------------------------------------------------------


def _round_half_away_from_zero(v: Fraction) -> int:
    """std::round: nearest integer, ties away from zero (exact, on a rational)."""
    magnitude = math.floor(abs(v) + Fraction(1, 2))
    return magnitude if v >= 0 else -magnitude


def quantize_multiplier(real_multiplier: float, *, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real_multiplier ≈ q · 2^(shift − 31)``.

    * ``0.0`` gives ``(0, 0)``.
    * ``m, shift = frexp(real_multiplier)`` with ``0.5 <= |m| < 1``; ``q = round(m · 2^31)``, ties away
      from zero (TfLiteRound is std::round); computed exactly here (``m · 2^31`` has up to 22
      fractional bits, so no float addition is used for the rounding).
    * ``q == 2^31`` (only when ``m`` rounds up to 1) becomes ``2^30`` with ``shift + 1``.
    * ``shift < −31`` (roughly ``|real_multiplier| < 2^−32``) flushes to ``(0, 0)``.
    * ``shift > 30`` (``|real_multiplier| >= 2^30``): TFLite's default (double-rounding) build does not
      check it in QuantizeMultiplier, but MultiplyByQuantizedMultiplier would then evaluate
      ``1 << left_shift`` with ``left_shift >= 31``, which is undefined behaviour in C++: this
      raises ``ValueError``. With ``single_rounding=True`` it saturates to ``(2^31 − 1, 30)``
      exactly as TFLite's ``#if TFLITE_SINGLE_ROUNDING`` branch does.

    Negative multipliers are transcribed as TFLite handles them (``q`` negative); NaN and ±Inf raise
    ``ValueError`` (in C++ they reach an undefined float → int64 conversion).
    Returns Python ints ``(q, shift)``; valid results have ``q`` in ``[2^30, 2^31 − 1]`` (or the negated
    range) or ``(0, 0)``.
    """
    x = float(real_multiplier)
    if not math.isfinite(x):
        raise ValueError(f"reference: multiplier must be finite, got {real_multiplier!r}")
    if x == 0.0:
        return 0, 0
    m, shift = math.frexp(x)
    q = _round_half_away_from_zero(Fraction(m) * 2**31)
    assert q <= 2**31
    if q == 2**31:
        q //= 2
        shift += 1
    assert INT32_MIN <= q <= INT32_MAX
    if shift < -31:
        return 0, 0
    if shift > 30:
        if single_rounding:
            return 2**31 - 1, 30
        raise ValueError(
            f"reference: multiplier must be < 2^30 - 1/4 (shift <= 30; TFLite's double-rounding "
            f"MultiplyByQuantizedMultiplier cannot shift left by 31 or more), got {x!r} (shift {shift})"
        )
    return q, shift


# --------------------------------------------------------------------------------------------------
# gemmlowp fixed-point primitives, elementwise on int64 arrays holding int32 values
# --------------------------------------------------------------------------------------------------


def _as_int32_values(name: str, x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"reference: {name} must be an integer array, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < INT32_MIN or a.max() > INT32_MAX):
        raise ValueError(f"reference: {name} must hold int32 values, got values in [{a.min()}, {a.max()}]")
    return a


def _trunc_div(n: np.ndarray, d: int) -> np.ndarray:
    """C++ integer division on int64: the quotient truncated toward zero."""
    q = np.abs(n) // d
    return np.where(n < 0, -q, q)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul<int32>`` (ARM VQRDMULH): ``round(a·b / 2^31)``.

    ``nudge = 2^30`` if ``a·b >= 0`` else ``1 − 2^30``; result ``(a·b + nudge) / 2^31`` with C++ division
    (truncation toward zero). That is ``floor((a·b + 2^30) / 2^31)``: exact ties round toward +inf
    (+0.5 → 1, −0.5 → 0, −1.5 → −1). The single overflow, ``a == b == INT32_MIN``, saturates to
    ``INT32_MAX``. Elementwise with broadcasting; returns int64 holding int32 values.
    """
    a = _as_int32_values("a", a)
    b = _as_int32_values("b", b)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b  # |a·b| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 2**30, 1 - 2**30)
    high = _trunc_div(ab + nudge, 2**31)
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2^exponent`` rounded to nearest, ties away from zero.

    ``mask = 2^exponent − 1``, ``remainder = x & mask``, ``threshold = (mask >> 1) + (x < 0)``,
    result ``(x >> exponent) + (remainder > threshold)`` with an arithmetic shift.
    ``0 <= exponent <= 31`` (gemmlowp asserts it). Elementwise with broadcasting.
    """
    x = _as_int32_values("x", x)
    e = np.asarray(exponent, dtype=np.int64)
    if e.size and (e.min() < 0 or e.max() > 31):
        raise ValueError(f"reference: exponent must be in [0, 31], got values in [{e.min()}, {e.max()}]")
    x, e = np.broadcast_arrays(x, e)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask  # the low bits are the same in int64 and int32 two's complement
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return ((x >> e) + (remainder > threshold).astype(np.int64)).astype(np.int64)


def _check_shift(shift, lo: int, hi: int) -> np.ndarray:
    s = np.asarray(shift)
    if s.dtype.kind not in "iu":
        raise TypeError(f"reference: shift must be an integer, got dtype {s.dtype}")
    s = s.astype(np.int64)
    if s.size and (s.min() < lo or s.max() > hi):
        raise ValueError(f"reference: shift must be in [{lo}, {hi}], got values in [{s.min()}, {s.max()}]")
    return s


def multiply_by_quantized_multiplier(x, q, shift) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier(int32 x, int32 q, int shift)``, double rounding (default).

    ``left_shift = max(shift, 0)``, ``right_shift = max(−shift, 0)``;
    ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x · 2^left_shift, q), right_shift)`` with
    ``x · 2^left_shift`` wrapping in int32. ``shift`` in [−31, 30]. Elementwise with broadcasting.
    """
    x = _as_int32_values("x", x)
    q = _as_int32_values("q", q)
    s = _check_shift(shift, -31, 30)
    left_shift = np.maximum(s, 0)
    right_shift = np.maximum(-s, 0)
    shifted = wrap_int32(x * (np.int64(1) << left_shift)).astype(np.int64)  # |x·2^30| < 2^62
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, q), right_shift)


def multiply_by_quantized_multiplier_single_rounding(x, q, shift) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` built with ``TFLITE_SINGLE_ROUNDING``.

    ``total_shift = 31 − shift``, ``round = 2^(total_shift − 1)``,
    ``(x · q + round) >> total_shift`` in int64 (arithmetic shift: ties toward +inf).
    TFLite DCHECKs ``q >= 0`` and ``−31 <= shift <= 30``; both are enforced here. TFLite also DCHECKs
    that the result fits in int32; here the exact int64 value is returned (see module docstring).
    Elementwise with broadcasting; returns int64.
    """
    x = _as_int32_values("x", x)
    q = _as_int32_values("q", q)
    if q.size and q.min() < 0:
        raise ValueError(f"reference: q must be >= 0 for single rounding (TFLite DCHECKs it), got {q.min()}")
    s = _check_shift(shift, -31, 30)
    total_shift = 31 - s
    rounding = np.int64(1) << (total_shift - 1)
    return ((x * q + rounding) >> total_shift).astype(np.int64)  # |x·q| < 2^62, round <= 2^61


# --------------------------------------------------------------------------------------------------
# requantize and QLinearMatMul
# --------------------------------------------------------------------------------------------------


def _output_range(dtype, zero_point, activation_range) -> tuple[np.dtype, int, int, int]:
    dt = np.dtype(dtype)
    if dt not in INT8_TYPES:
        raise TypeError(f"reference: dtype must be int8 or uint8, got {dt}")
    info = np.iinfo(dt)
    zp = np.asarray(zero_point)
    if zp.dtype.kind not in "iu" or zp.size != 1:
        raise ValueError(f"reference: zero_point must be one integer, got {zero_point!r}")
    zp = int(zp.reshape(()))
    if not info.min <= zp <= info.max:
        raise ValueError(f"reference: zero_point must lie in [{info.min}, {info.max}] for {dt}, got {zp}")
    lo, hi = int(info.min), int(info.max)
    if activation_range is not None:
        a_lo, a_hi = activation_range
        lo, hi = max(lo, int(a_lo)), min(hi, int(a_hi))
        if lo > hi:
            raise ValueError(
                f"reference: activation_range must meet [{info.min}, {info.max}], got {activation_range}"
            )
    return dt, zp, lo, hi


def _multiplier_vector(multiplier, n: int) -> np.ndarray:
    """float64 multipliers of shape () or (n,), finite and >= 0."""
    m = np.asarray(multiplier)
    if m.dtype.kind not in "fiu":
        raise TypeError(f"reference: multiplier must be real, got dtype {m.dtype}")
    m = m.astype(np.float64)
    if m.size == 1:
        m = m.reshape(())
    elif m.ndim != 1 or m.shape[0] != n:
        raise ValueError(f"reference: multiplier must be a scalar or 1-D of length {n}, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError(f"reference: multiplier must be finite and >= 0, got {m}")
    return m


def requantize(acc, multiplier, zero_point, dtype, mode: str = "float", activation_range=None) -> np.ndarray:
    """Requantize an int32 accumulator ``acc`` [..., N] to int8/uint8.

    multiplier: the whole real factor (``sa·sb/sy`` folded in), a float or 1-D per column (last axis of
        ``acc``), finite and >= 0. In ``"float"`` mode it is rounded once to float32 (RNE); in the
        fixed-point modes it is used as a float64 value.
    zero_point: the output zero point (one integer in the range of ``dtype``).
    dtype: np.int8 or np.uint8.
    mode: ``"float"``, ``"fixed_point"`` or ``"fixed_point_single"`` (see the module docstring).
    activation_range: optional ``(lo, hi)`` of output-domain integers, intersected with the dtype range.
    """
    if mode not in MODES:
        raise ValueError(f"reference: mode must be one of {MODES}, got {mode!r}")
    acc = _as_int32_values("acc", acc)
    n = acc.shape[-1] if acc.ndim else 1
    dt, zp, lo, hi = _output_range(dtype, zero_point, activation_range)
    m64 = _multiplier_vector(multiplier, n)

    if mode == "float":
        with np.errstate(over="ignore", under="ignore"):
            s = m64.astype(np.float32)
            if not np.all(np.isfinite(s)):
                raise ValueError(f"reference: multiplier must fit in float32, got {m64}")
            prod = acc.astype(np.float32) * s  # int32 -> float32 is RNE; float32 product (may be inf)
        y = np.rint(prod).astype(np.float64) + zp  # rint: ties to even; exact in float64 for |v| < 2^53
        return np.clip(y, lo, hi).astype(dt)

    single = mode == "fixed_point_single"
    pairs = [quantize_multiplier(float(v), single_rounding=single) for v in m64.reshape(-1)]
    qs = np.array([q for q, _ in pairs], dtype=np.int64).reshape(m64.shape)
    shifts = np.array([shift for _, shift in pairs], dtype=np.int64).reshape(m64.shape)
    if single:
        scaled = multiply_by_quantized_multiplier_single_rounding(acc, qs, shifts)
    else:
        scaled = multiply_by_quantized_multiplier(acc, qs, shifts)
    return np.clip(scaled + zp, lo, hi).astype(dt)


def _scale_vector(name: str, scale, n: int | None) -> np.ndarray:
    s = np.asarray(scale)
    if s.dtype.kind != "f":
        raise TypeError(f"reference: {name} must be floating point, got dtype {s.dtype}")
    if s.size == 1:
        s = s.reshape(())
    elif n is None or s.ndim != 1 or s.shape[0] != n:
        expected = "a scalar" if n is None else f"a scalar or 1-D of length {n}"
        raise ValueError(f"reference: {name} must be {expected}, got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"reference: {name} must be finite and > 0, got {s}")
    return s


def qlinear_multiplier(a_scale, b_scale, y_scale, n: int, mode: str = "float") -> np.ndarray:
    """The requantization multiplier of QLinearMatMul / QLinearConv, shape () or (n,).

    ``"float"``: ``f32(f32(sa · sb[j]) / sy)`` in float32 arithmetic (as ONNX Runtime computes
    ``a_scale * b_scale[i] / y_scale`` on floats); fixed-point modes: ``float(sa)·float(sb[j])/float(sy)``
    in float64 (the given scale values widened, never rounded to float32 first).
    """
    sa = _scale_vector("a_scale", a_scale, None)
    sb = _scale_vector("b_scale", b_scale, n)
    sy = _scale_vector("y_scale", y_scale, None)
    if mode == "float":
        with np.errstate(over="ignore", under="ignore"):
            return (sa.astype(np.float32) * sb.astype(np.float32)) / sy.astype(np.float32)
    if mode in MODES:
        return (sa.astype(np.float64) * sb.astype(np.float64)) / sy.astype(np.float64)
    raise ValueError(f"reference: mode must be one of {MODES}, got {mode!r}")


def qlinear_matmul(
    a,
    a_scale,
    a_zp,
    b,
    b_scale,
    b_zp,
    y_scale,
    y_zp,
    y_dtype,
    bias=None,
    mode: str = "float",
    activation_range=None,
) -> np.ndarray:
    """ONNX QLinearMatMul (exactly ONNX Runtime's in ``"float"`` mode), optionally with bias and clamp.

    ``acc = matmul_integer(a, b, a_zp, b_zp)`` (+ ``bias``: int32, scalar or one per column, added with
    int32 wrap-around), then ``requantize(acc, qlinear_multiplier(...), y_zp, y_dtype, mode,
    activation_range)``. ``a_scale``/``y_scale`` scalar; ``b_scale``/``b_zp`` scalar or per column.
    """
    b_arr = np.asarray(b)
    n = 1 if b_arr.ndim == 1 else b_arr.shape[-1]
    acc = matmul_integer(a, b_arr, a_zp, b_zp).astype(np.int64)
    if bias is not None:
        bias_arr = np.asarray(bias)
        if bias_arr.dtype.kind not in "iu":
            raise TypeError(f"reference: bias must be an int32 array, got dtype {bias_arr.dtype}")
        bias_vec = zero_point_vector("bias", bias_arr, np.int32, n)
        acc = wrap_int32(acc + bias_vec).astype(np.int64)
    multiplier = qlinear_multiplier(a_scale, b_scale, y_scale, n, mode)
    return requantize(acc, multiplier, y_zp, y_dtype, mode=mode, activation_range=activation_range)
