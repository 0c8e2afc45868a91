"""Quantization parameters and their calibration from data.

A real value ``r`` and its quantized value ``q`` are related by ``r = scale * (q - zero_point)``
(gemmlowp's and ONNX's convention). Parameters are per tensor (scalar ``scale``) or per axis
(1-D ``scale``, one entry per index along ``axis``, e.g. per output channel of a weight).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import describe, invalid, wrong_dtype

__all__ = ["QParams", "calibrate", "integer_dtype", "normalize_axis"]

_INTEGER_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def integer_dtype(function: str, argument: str, dtype: Any) -> np.dtype:
    """``dtype`` as ``np.dtype(int8)`` or ``np.dtype(uint8)``, or a clear error."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise wrong_dtype(function, argument, "int8 or uint8", describe(dtype)) from None
    if resolved not in _INTEGER_DTYPES:
        raise wrong_dtype(function, argument, "int8 or uint8", resolved)
    return resolved


def _read_only(array: np.ndarray) -> np.ndarray:
    """A copy that nobody can change: a view of a read-only array, whose flag numpy will not set
    back (on the owner itself it would)."""
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array.view()


@dataclass(frozen=True, eq=False, init=False)
class QParams:
    """Scale and zero point of an int8/uint8 quantization, validated on creation.

    Attributes:
        scale: float32 array, 0-d (per tensor) or 1-D (per axis); finite and > 0.
        zero_point: int32 array of the same shape as ``scale`` (a scalar zero point given with a
            1-D scale is repeated), inside the range of ``dtype``.
        dtype: ``np.dtype(np.int8)`` or ``np.dtype(np.uint8)``.
        axis: ``None`` per tensor; for per-axis parameters the axis of the quantized tensor that
            ``scale`` runs along (negative values count from the end).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: np.dtype
    axis: int | None

    def __init__(self, scale, zero_point=0, dtype=np.int8, axis=None):
        dtype = integer_dtype("QParams", "dtype", dtype)
        scale = self._validate_scale(scale)
        zero_point = self._validate_zero_point(zero_point, scale, dtype)
        if scale.ndim == 1:
            if axis is None:
                raise invalid("QParams", "axis", "an int when scale is 1-D (per axis)", None)
            if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
                raise wrong_dtype("QParams", "axis", "an int or None", describe(axis))
            axis = int(axis)
        elif axis is not None:
            raise invalid("QParams", "axis", "None when scale is a scalar (per tensor)", axis)
        object.__setattr__(self, "scale", _read_only(scale))
        object.__setattr__(self, "zero_point", _read_only(zero_point))
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "axis", axis)

    @staticmethod
    def _validate_scale(scale) -> np.ndarray:
        given = np.asarray(scale)
        if given.dtype.kind not in "fiu" or given.dtype == np.bool_:
            raise wrong_dtype("QParams", "scale", "a real number or 1-D array of them", describe(scale))
        if given.ndim > 1 or given.size == 0:
            raise invalid("QParams", "scale", "a scalar or a non-empty 1-D array", describe(given))
        with np.errstate(over="ignore"):
            as_f32 = given.astype(np.float32)
        bad = ~(np.isfinite(as_f32) & (as_f32 > 0))
        if bad.any():
            raise invalid(
                "QParams", "scale", "finite and > 0 in float32", f"{given.reshape(-1)[bad.reshape(-1)][:4]}"
            )
        return as_f32

    @staticmethod
    def _validate_zero_point(zero_point, scale: np.ndarray, dtype: np.dtype) -> np.ndarray:
        given = np.asarray(zero_point)
        if given.dtype.kind not in "iu" or given.dtype == np.bool_:
            raise wrong_dtype("QParams", "zero_point", "an integer or 1-D integer array", describe(zero_point))
        if given.ndim > scale.ndim or (given.ndim == 1 and given.shape != scale.shape):
            raise invalid(
                "QParams", "zero_point", f"a scalar or an array of shape {scale.shape} like scale", describe(given)
            )
        info = np.iinfo(dtype)
        outside = (given < info.min) | (given > info.max)
        if outside.any():
            raise invalid(
                "QParams", "zero_point", f"inside [{info.min}, {info.max}] for {dtype}",
                f"{given.reshape(-1)[outside.reshape(-1)][:4]}",
            )
        return np.broadcast_to(given.astype(np.int32), scale.shape)

    @property
    def qmin(self) -> int:
        return int(np.iinfo(self.dtype).min)

    @property
    def qmax(self) -> int:
        return int(np.iinfo(self.dtype).max)

    @property
    def per_axis(self) -> bool:
        return self.scale.ndim == 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QParams):
            return NotImplemented
        return (
            self.dtype == other.dtype
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
            and self.scale.shape == other.scale.shape
        )

    def __hash__(self) -> int:
        return hash((self.dtype, self.axis, self.scale.tobytes(), self.zero_point.tobytes(), self.scale.shape))

    def __repr__(self) -> str:
        scale = self.scale.tolist()
        zero_point = self.zero_point.tolist()
        axis = "" if self.axis is None else f", axis={self.axis}"
        return f"QParams(scale={scale!r}, zero_point={zero_point!r}, dtype={self.dtype.name}{axis})"


_METHODS = ("minmax", "percentile")


def calibrate(x, *, dtype=np.int8, symmetric=False, axis=None, method="minmax", percentile=99.99) -> QParams:
    """Choose quantization parameters that cover the observed range of ``x``.

    The range ``[lo, hi]`` is ``[min, max]`` of ``x`` (``method="minmax"``) or the
    ``100 - percentile`` and ``percentile`` percentiles (``method="percentile"``), taken over the
    whole tensor or, with ``axis``, over every slice along that axis; it is then widened to
    include 0, so that 0.0 is exactly representable (it quantizes to the zero point).

    Asymmetric: ``scale = (hi - lo) / (qmax - qmin)``, ``zero_point = rne(qmin - lo / scale)``.
    Symmetric: ``scale = max(|lo|, |hi|) / 127`` with zero point 0 (int8, so the range is
    [-127, 127] as in TFLite) or 128 (uint8). The scale is computed in float64 and rounded to
    float32; an all-zero range gets scale 1.0.
    """
    function = "calibrate"
    array = np.asarray(x)
    if array.dtype.kind != "f" and array.dtype.name != "bfloat16":
        raise wrong_dtype(function, "x", "a floating-point array", describe(array))
    if array.size == 0:
        raise invalid(function, "x", "non-empty", describe(array))
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise invalid(function, "x", "finite (no NaN or Inf)", describe(array))
    dtype = integer_dtype(function, "dtype", dtype)
    if method not in _METHODS:
        raise invalid(function, "method", f"one of {_METHODS}", repr(method))
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 50.0 < percentile <= 100.0:
        raise invalid(function, "percentile", "a number in (50, 100]", repr(percentile))

    reduce_axes = None
    if axis is not None:
        axis = normalize_axis(function, axis, array.ndim)
        values = np.moveaxis(values, axis, 0).reshape(array.shape[axis], -1)
        reduce_axes = 1
    if method == "minmax":
        lo, hi = values.min(axis=reduce_axes), values.max(axis=reduce_axes)
    elif symmetric:
        hi = np.percentile(np.abs(values), percentile, axis=reduce_axes)
        lo = -hi
    else:
        lo = np.percentile(values, 100.0 - percentile, axis=reduce_axes)
        hi = np.percentile(values, percentile, axis=reduce_axes)
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)

    info = np.iinfo(dtype)
    if symmetric:
        scale = _positive_f32(np.maximum(-lo, hi) / 127.0)
        zero_point = np.full(scale.shape, 0 if dtype == np.int8 else 128, dtype=np.int32)
    else:
        scale = _positive_f32((hi - lo) / float(info.max - info.min))
        zero_point = np.clip(np.rint(info.min - lo / scale.astype(np.float64)), info.min, info.max)
    return QParams(scale, zero_point.astype(np.int32), dtype=dtype, axis=axis)


def _positive_f32(scale: np.ndarray) -> np.ndarray:
    scale = np.asarray(scale, dtype=np.float64)
    scale = np.where(scale == 0.0, 1.0, scale).astype(np.float32)
    # A non-zero range too narrow for float32 still needs a scale > 0.
    return np.maximum(scale, np.finfo(np.float32).smallest_subnormal)


def normalize_axis(function: str, axis, ndim: int, *, argument: str = "axis") -> int:
    """``axis`` as a non-negative index into ``ndim`` dimensions, or a clear error."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise wrong_dtype(function, argument, "an int or None", describe(axis))
    if not -ndim <= axis < ndim:
        raise invalid(function, argument, f"in [{-ndim}, {ndim - 1}] for a {ndim}-D array", axis)
    return int(axis) % ndim
