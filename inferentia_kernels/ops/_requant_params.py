"""Requantization parameters of the integer ops: mode names, per-column multipliers, clamp."""

from __future__ import annotations

import numpy as np

from ..errors import invalid
from ..kernels.requantize import FIXED_POINT, FIXED_POINT_SINGLE, FLOAT
from ..numerics import QParams, quantize
from ..numerics.fixed_point import quantize_multiplier
from ._checks import activation_range
from ._int8_engine import Epilogue

MODES = {"float": FLOAT, "fixed_point": FIXED_POINT, "fixed_point_single": FIXED_POINT_SINGLE}


def mode_number(op: str, mode) -> int:
    if not isinstance(mode, str) or mode not in MODES:
        raise invalid(op, "mode", f"one of {tuple(MODES)}", repr(mode))
    return MODES[mode]


def requant_epilogue(op: str, mode: str, real_multipliers: np.ndarray, float_multipliers: np.ndarray,
                     y_qp: QParams, activation, bias: np.ndarray, multiplier_name: str = "multiplier") -> Epilogue:
    """The epilogue that requantizes to ``y_qp``.

    ``real_multipliers`` (float64) feed QuantizeMultiplier in the fixed-point modes;
    ``float_multipliers`` (float32) are used as they are in float mode, where they must be finite
    and > 0. ``multiplier_name`` says what the multiplier is made of, for error messages.
    """
    number = mode_number(op, mode)
    if number == FLOAT and not (np.isfinite(float_multipliers) & (float_multipliers > 0)).all():
        raise invalid(op, multiplier_name, "finite and > 0 in float32 for mode 'float'",
                      float_multipliers[~(np.isfinite(float_multipliers) & (float_multipliers > 0))][:4].tolist())
    low, high = activation_range(
        op, activation, y_qp.qmin, y_qp.qmax,
        lambda real: int(quantize(np.float32(real), y_qp)),
    )
    quantized, shifts = (None, None)
    if number != FLOAT:
        quantized, shifts = quantize_multiplier(real_multipliers, single_rounding=number == FIXED_POINT_SINGLE)
        if (shifts > 30).any():
            raise invalid(
                op, multiplier_name, "below 2**30 - 1/4 in mode 'fixed_point' (a larger left shift overflows int32)",
                float(real_multipliers.max()),
            )
    return Epilogue(
        bias=bias,
        mode=number,
        multipliers=float_multipliers.astype(np.float32),
        quantized_multipliers=quantized,
        shifts=shifts,
        zero_point=int(y_qp.zero_point),
        low=low,
        high=high,
        out_dtype=y_qp.dtype,
    )


def scale_multipliers(x_qp: QParams, w_scale: np.ndarray, y_qp: QParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-column multipliers of a qlinear op: float32 ``f32(f32(s_x * s_w[j]) / s_y)`` (float
    mode, as ONNX Runtime) and float64 ``float(s_x) * float(s_w[j]) / float(s_y)`` (fixed point)."""
    with np.errstate(over="ignore", under="ignore"):  # out-of-range results are rejected later
        float_multipliers = (np.float32(x_qp.scale) * w_scale) / np.float32(y_qp.scale)
    real_multipliers = float(x_qp.scale) * w_scale.astype(np.float64) / float(y_qp.scale)
    return float_multipliers, real_multipliers
