"""``matmul``: the float tensor engine (BF16 / FP16 inputs, FP32 accumulation in hardware order)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import describe, invalid, wrong_dtype
from ..kernels.formats import finite_magnitude_range
from ..numerics.formats import rounded_to
from ._batching import batched_matmul
from ._checks import activation_bounds, matmul_shapes
from ._tiles import device_op, record_gemm
from ._float_engine import gemm_float

__all__ = ["PRECISIONS", "float_activation_range", "matmul", "products_exact", "round_to_precision"]

OP = "matmul"
PRECISIONS = ("bf16", "fp16", "fp32")


def _float_operand(op: str, name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind != "f" and array.dtype.name != "bfloat16":
        raise wrong_dtype(op, name, "a floating-point array (float32, bfloat16, float16 or float64)", describe(array))
    if array.ndim == 0:
        raise invalid(op, name, "an array with at least 1 dimension", describe(array))
    return array


def round_to_precision(op: str, name: str, value, precision: str) -> np.ndarray:
    """float32 array of ``value`` rounded once to ``precision``.

    bfloat16/float16/float32 inputs widen to float32 exactly, so values already in the
    precision are not changed; float64 is rounded to float32 first.
    """
    array = _float_operand(op, name, value)
    if precision in ("bf16", "fp16"):
        return rounded_to(array, precision)
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes +-Inf
        return array.astype(np.float32)


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # smallest normal, 2**-126


def products_exact(a32: np.ndarray, b32: np.ndarray, precision: str) -> bool:
    """Whether every product ``a[i, k] * b[k, j]`` is exact in float32, so that a fused
    multiply-add gives the same bits as a multiply and an add.

    fp16 x fp16 always is (11 + 11 significant bits, magnitudes within [2**-48, 2**32]). bf16 x bf16
    has 8 + 8 bits but float32's exponent range, so it is exact unless a product overflows or
    falls below the smallest normal float32; the operands' finite magnitudes decide. fp32 never is.
    """
    if precision != "bf16":
        return precision == "fp16"
    extremes = []
    for array in (a32, b32):
        smallest, largest = finite_magnitude_range(np.ascontiguousarray(array).reshape(-1))
        if largest == 0:
            return True  # every product is 0 or non-finite: exact either way
        extremes.append((float(smallest), float(largest)))
    (a_min, a_max), (b_min, b_max) = extremes
    return a_max * b_max <= _FLOAT32_MAX and a_min * b_min >= _FLOAT32_TINY


def float_activation_range(op: str, activation) -> tuple[np.float32, np.float32]:
    """The clamp of a float output: (-inf, inf), relu (0, inf), relu6 (0, 6) or (lo, hi)."""
    if activation is None:
        return np.float32(-np.inf), np.float32(np.inf)
    bounds = activation_bounds(op, activation)
    with np.errstate(over="ignore"):
        return np.float32(bounds[0]), np.float32(np.inf if bounds[1] is None else bounds[1])


@device_op(OP)
def matmul(a, b, *, precision: str = "bf16", bias=None, activation=None, device=None) -> np.ndarray:
    """Float matmul on the tensor engine: ``clamp(a @ b + bias)`` in float32.

    Inputs are rounded once to ``precision`` ("bf16", "fp16"; "fp32" rounds nothing) and the
    products are accumulated in float32 in the hardware's order (docs/numerics.md): K tiles of
    128, ascending k inside a tile from +0.0, tile partials added in ascending order into the
    PSUM from +0.0, then ``bias`` (float32 [N]), then ``activation`` (None, "relu", "relu6" or
    (lo, hi); NaN passes through). For "fp32" each product is rounded before it is added (no
    fused multiply-add). IEEE NaN/Inf throughout.

    Args:
        a: [..., M, K] float32, bfloat16, float16 (or float64, rounded to float32 first).
        b: [..., K, N], same dtypes; leading batch dimensions broadcast as in numpy.

    Returns:
        float32 [..., M, N].
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise invalid(OP, "precision", f"one of {PRECISIONS}", repr(precision))
    a32 = round_to_precision(OP, "a", a, precision)
    b32 = round_to_precision(OP, "b", b, precision)
    batch, rows, depth, cols = matmul_shapes(OP, a32.shape, b32.shape)
    record_gemm(OP, m=rows, k=depth, n=cols, batch=math.prod(batch), precision=precision,
                shared_weights=b32.ndim <= 2)
    if bias is None:
        bias32 = np.zeros(cols, np.float32)
    else:
        bias32 = round_to_precision(OP, "bias", bias, "fp32")
        if bias32.shape != (cols,):
            raise invalid(OP, "bias", f"of shape ({cols},), one per column", describe(bias32))
    low, high = float_activation_range(OP, activation)
    exact = products_exact(a32, b32, precision)
    return batched_matmul(a32, b32, batch, lambda x, y: gemm_float(x, y, bias32, low, high, exact), np.float32)
