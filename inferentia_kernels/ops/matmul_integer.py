"""``matmul_integer``: ONNX MatMulInteger on the INT8 tensor engine."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from ..errors import AccumulatorOverflowWarning, invalid, wrong_dtype
from ._batching import batched_matmul
from ._checks import integer_limits, integer_operand, matmul_shapes, zero_point
from ._tiles import device_op, record_gemm
from ._int8_engine import Epilogue, Prepacked, gemm_int8
from ._scratch import shared_zeros

__all__ = ["matmul_integer"]

OP = "matmul_integer"


#: |q - zero point| of 8-bit values is at most 255, so products of K terms fit int32 up to this K.
_SAFE_DEPTH = (2**31 - 1) // (255 * 255)


def warn_if_accumulator_can_wrap(op: str, a: np.ndarray, za: np.ndarray, b: np.ndarray, zb: np.ndarray,
                                  depth: int) -> None:
    if depth <= _SAFE_DEPTH:  # no zero points can make it wrap (skips the reductions over zb)
        return

    def largest(dtype: np.dtype, zp: np.ndarray) -> int:
        """Largest |q - zp| over the dtype's values q and the given zero points."""
        if zp.size == 0:
            return 0
        info = integer_limits(dtype)
        low, high = (int(zp), int(zp)) if zp.ndim == 0 else (int(zp.min()), int(zp.max()))
        return max(info.max - low, high - info.min)

    bound = depth * largest(a.dtype, za) * largest(b.dtype, zb)
    if bound > 2**31 - 1:
        warnings.warn(
            f"{op}: K = {depth} with these zero points can exceed int32 (|acc| up to {bound}); "
            "the accumulator wraps around modulo 2**32 as the hardware's does",
            AccumulatorOverflowWarning,
            stacklevel=3,
        )


def prepare(op: str, a, b, a_zero_point, b_zero_point):
    """Validated operands: (a, b, za scalar int32, zb int32 [N], batch shape, M, K, N)."""
    a = integer_operand(op, "a", a)
    b = integer_operand(op, "b", b)
    if isinstance(a, Prepacked):
        raise wrong_dtype(op, "a", "an int8 or uint8 array (only the weight operand b can be prepacked)", a)
    if isinstance(b, Prepacked) and b.ndim != 2:
        raise invalid(op, "b", "a prepacked 2-D matrix [K, N]", b)
    batch, rows, depth, cols = matmul_shapes(op, a.shape, b.shape)
    za = zero_point(op, "a_zero_point", a_zero_point, a.dtype, None)
    zb = zero_point(op, "b_zero_point", b_zero_point, b.dtype, cols)
    warn_if_accumulator_can_wrap(op, a, za, b, zb, depth)
    return a, b, za, zb, batch, rows, depth, cols


@functools.lru_cache(maxsize=64)
def _int32_results(cols: int) -> Epilogue:
    """The epilogue of ``cols`` int32 sums without bias: one object for every call of that width
    (so that prepacked weights keep their product with it, see ``Prepacked.product``)."""
    return Epilogue(bias=shared_zeros(cols, "int32"))


@device_op(OP)
def matmul_integer(a, b, a_zero_point=0, b_zero_point=0, *, device=None) -> np.ndarray:
    """``(a - a_zero_point) @ (b - b_zero_point)`` exactly in int32 (ONNX MatMulInteger).

    Args:
        a: int8 or uint8 array [..., M, K] (1-D is promoted as in numpy).
        b: int8 or uint8 array [..., K, N]; leading batch dimensions broadcast with a's.
        a_zero_point: integer in a's range (per tensor).
        b_zero_point: integer in b's range, or one per column of b (length N).
        device: an ``inferentia_kernels.Device``: its simulated cores own the output tiles (run on its
            executor) and its open profiles record the op; None runs on the host's threads.

    Returns:
        int32 array [..., M, N]. Sums are exact; beyond int32 they wrap modulo 2**32 (a
        :class:`AccumulatorOverflowWarning` is issued when K and the zero points allow it).
    """
    a, b, za, zb, batch, rows, depth, cols = prepare(OP, a, b, a_zero_point, b_zero_point)
    record_gemm(OP, m=rows, k=depth, n=cols, batch=math.prod(batch), precision="int8", shared_weights=b.ndim <= 2)
    epilogue = _int32_results(cols)
    return batched_matmul(a, b, batch, lambda x, y: gemm_int8(x, y, int(za), zb, epilogue), np.int32)
