"""``requantize``: int32 accumulators to int8/uint8, as the tensor engine's output stage."""

from __future__ import annotations

import numpy as np

from ..errors import describe, invalid, wrong_dtype
from ..kernels.requantize import requantize_i32
from ..numerics import QParams
from . import _tiles
from ._requant_params import requant_epilogue

__all__ = ["requantize"]

OP = "requantize"


def output_qparams(op: str, y_qp) -> QParams:
    if not isinstance(y_qp, QParams):
        raise wrong_dtype(op, "y_qp", "a QParams", describe(y_qp))
    if y_qp.per_axis:
        raise invalid(op, "y_qp", "per-tensor output parameters (scalar scale)", y_qp)
    return y_qp


@_tiles.device_op(OP)
def requantize(acc, multiplier, y_qp: QParams, *, mode: str = "float", activation=None, device=None) -> np.ndarray:
    """Scale int32 accumulators to ``y_qp.dtype``.

    ``multiplier`` is the whole factor (``s_a * s_b / s_y`` already folded in): a positive
    float, or a 1-D array with one per column (the last axis of ``acc``). ``y_qp`` provides only
    the output zero point and dtype. Modes (docs/numerics.md):

    * ``"float"``: ``clamp(rne(f32(f32(acc) * f32(multiplier))) + zero_point)`` (ONNX Runtime);
    * ``"fixed_point"``: TFLite's MultiplyByQuantizedMultiplier with double rounding;
    * ``"fixed_point_single"``: TFLite's single-rounding variant.

    ``activation`` (None, "relu", "relu6" or a real (lo, hi)) narrows the clamp in the output
    domain. Returns an array of ``acc``'s shape.
    """
    array = np.asarray(acc)
    if array.dtype != np.int32:
        raise wrong_dtype(OP, "acc", "an int32 array", describe(array))
    y_qp = output_qparams(OP, y_qp)
    cols = array.shape[-1] if array.ndim else 1
    real = positive_multipliers(OP, "multiplier", multiplier, cols)
    with np.errstate(over="ignore"):  # a multiplier beyond float32 is rejected for mode "float"
        float_multipliers = real.astype(np.float32)
    epilogue = requant_epilogue(OP, mode, real, float_multipliers, y_qp, activation, np.zeros(cols, np.int32))
    multipliers, quantized, shifts = epilogue.arrays(cols)
    flat = np.ascontiguousarray(array).reshape(-1, cols)
    out = np.empty(flat.shape, dtype=y_qp.dtype)
    if flat.size:
        def run(tile: _tiles.Tile) -> None:
            lo, hi = tile[0], tile[1]
            requantize_i32(flat[lo:hi], epilogue.mode, multipliers, quantized, shifts, np.int32(epilogue.zero_point),
                           np.int32(epilogue.low), np.int32(epilogue.high), out[lo:hi])

        rows = flat.shape[0]
        _tiles.run_tiles(run, _tiles.row_chunks(rows, rows, max(1, (1 << 16) // cols), cols), out=out,
                         region=lambda tile: (slice(tile[0], tile[1]),))
    return out.reshape(array.shape)


def positive_multipliers(op: str, name: str, value, cols: int) -> np.ndarray:
    """float64 [cols] from a positive finite scalar or a 1-D array of length ``cols``."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise wrong_dtype(op, name, "a real number or a 1-D array of them", describe(value))
    if array.ndim > 1 or (array.ndim == 1 and array.size != cols):
        raise invalid(op, name, f"a scalar or a 1-D array of length {cols} (one per column)", describe(array))
    array = array.astype(np.float64)
    if not (np.isfinite(array) & (array > 0)).all():
        raise invalid(op, name, "finite and > 0", array.tolist() if array.size < 8 else describe(array))
    return np.broadcast_to(array, (cols,)).copy()
