"""quantize / dequantize with ONNX QuantizeLinear / DequantizeLinear semantics.

``quantize``:   ``q = clamp(rne(f32(x / scale)) + zero_point, qmin, qmax)`` with a true float32
division; NaN and -Inf give ``qmin``, +Inf gives ``qmax`` (as ONNX Runtime).
``dequantize``: ``r = f32((q - zero_point) * scale)``.
Per-axis parameters apply ``scale[c]`` / ``zero_point[c]`` to index ``c`` along ``qp.axis``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeMismatchError, describe, wrong_dtype
from ..kernels.quantize import dequantize_linear, quantize_linear
from .qparams import QParams, normalize_axis

__all__ = ["dequantize", "quantize"]


def _check_qparams(function: str, qp) -> QParams:
    if not isinstance(qp, QParams):
        raise wrong_dtype(function, "qp", "a QParams", describe(qp))
    return qp


def _as_three_d(function: str, array: np.ndarray, qp: QParams) -> tuple[int, int, int]:
    """[outer, channels, inner] sizes of ``array`` for the layout of ``qp``."""
    if not qp.per_axis:
        return 1, 1, array.size
    axis = normalize_axis(function, qp.axis, array.ndim, argument="qp.axis") if array.ndim else None
    if axis is None or array.shape[axis] != qp.scale.size:
        raise ShapeMismatchError(
            f"{function}: per-axis qp with {qp.scale.size} scales along axis {qp.axis} does not fit "
            f"x of shape {array.shape}"
        )
    outer = int(np.prod(array.shape[:axis], dtype=np.int64))
    inner = int(np.prod(array.shape[axis + 1 :], dtype=np.int64))
    return outer, array.shape[axis], inner


def quantize(x, qp: QParams) -> np.ndarray:
    """Quantize a float array to ``qp.dtype`` (ONNX QuantizeLinear).

    ``x`` may be any floating dtype; it is converted to float32 first (exact for float16 and
    bfloat16; float64 is rounded to float32 before the division). The result has ``x``'s shape.
    """
    qp = _check_qparams("quantize", qp)
    array = np.asarray(x)
    if array.dtype.kind != "f" and array.dtype.name != "bfloat16":
        raise wrong_dtype("quantize", "x", "a floating-point array", describe(array))
    shape = _as_three_d("quantize", array, qp)
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes +-Inf, then saturates
        values = np.ascontiguousarray(array, dtype=np.float32).reshape(shape)
    out = np.empty(shape, dtype=qp.dtype)
    if array.size:
        quantize_linear(values, qp.scale.reshape(-1), qp.zero_point.reshape(-1), qp.qmin, qp.qmax, out)
    return out.reshape(array.shape)


def dequantize(q, qp: QParams) -> np.ndarray:
    """Map quantized values back to float32 (ONNX DequantizeLinear); ``q.dtype`` must be ``qp.dtype``."""
    qp = _check_qparams("dequantize", qp)
    array = np.asarray(q)
    if array.dtype != qp.dtype:
        raise wrong_dtype("dequantize", "q", f"an array of dtype {qp.dtype} (qp.dtype)", describe(array))
    shape = _as_three_d("dequantize", array, qp)
    out = np.empty(shape, dtype=np.float32)
    if array.size:
        dequantize_linear(np.ascontiguousarray(array).reshape(shape), qp.scale.reshape(-1), qp.zero_point.reshape(-1), out)
    return out.reshape(array.shape)
