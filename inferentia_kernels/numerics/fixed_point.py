"""TFLite's QuantizeMultiplier: a real multiplier as a Q31 integer and a power-of-two shift.

``real = q * 2**(shift - 31)`` with ``q`` in ``[2**30, 2**31)``: ``m, shift = frexp(real)``
(``m`` in [0.5, 1)), ``q = round_half_away_from_zero(m * 2**31)``; ``q == 2**31`` is renormalised
to ``2**30`` with ``shift + 1``; a shift below -31 flushes to ``q = 0, shift = 0`` (that is,
multipliers below ``2**-32 - 2**-64``; TFLite's comment says "roughly 2**-31"). In
single-rounding builds a shift above 30 saturates to ``q = 2**31 - 1, shift = 30``; the
double-rounding build cannot represent it (its left shift would overflow), so callers reject
such multipliers. All in float64, as TFLite computes it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quantize_multiplier"]


def quantize_multiplier(real: np.ndarray, *, single_rounding: bool) -> tuple[np.ndarray, np.ndarray]:
    """Q31 multipliers and shifts (int32 arrays) of positive finite float64 ``real`` values."""
    real = np.asarray(real, dtype=np.float64)
    mantissa, shift = np.frexp(real)
    shift = shift.astype(np.int64)
    scaled = mantissa * 2.0**31
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int64)  # std::round
    carry = q == 2**31
    q = np.where(carry, q // 2, q)
    shift = np.where(carry, shift + 1, shift)
    flush = shift < -31
    q = np.where(flush, 0, q)
    shift = np.where(flush, 0, shift)
    if single_rounding:
        saturate = shift > 30
        q = np.where(saturate, 2**31 - 1, q)
        shift = np.where(saturate, 30, shift)
    return q.astype(np.int32), shift.astype(np.int32)
