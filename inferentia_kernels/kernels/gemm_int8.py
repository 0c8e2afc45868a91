"""INT8 GEMM with INT32 accumulation: the epilogue shared by the packed kernels, and a GEMV path.

The packed kernels (``int8_microkernel``) multiply unsigned A by signed B: int8 A is stored as
``a ^ 0x80 = a + 128`` and uint8 B as ``b ^ 0x80 = b - 128``, offsets absorbed by the zero
points (``za + 128`` and ``zb - 128``). Zero points are applied to the raw sums by the
row/column-sum identity, in wrapping int32 arithmetic, which is exact modulo 2**32::

    sum_k (a - za)(b - zb) = sum_k a*b - za*colsum(b) - zb*rowsum(a) + K*za*zb

``_finish_row`` does that for a row of a block of sums while they are in L1, adds the bias and
stores int32 or the requantized value. ``gemm_rows_tile`` serves products with very few rows,
where packing would cost as much as the product.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel
from .requantize import FLOAT, requantize_float, requantize_value

__all__ = ["STORE_INT32", "gemm_rows_tile"]

#: Epilogue modes: store the int32 accumulator, or requantize it.
STORE_INT32 = 0


@kernel(inline="always")
def _store(acc, i, j, bias, mode, multipliers, quantized_multipliers, shifts, y_zero_point, low, high, out):
    """Add the bias to one zero-point-corrected accumulator, then store it (mode 0) or its
    requantized value (modes 1-3)."""
    acc = np.int32(acc + bias[j])
    if mode == STORE_INT32:
        out[i, j] = acc
    else:
        out[i, j] = requantize_value(
            acc, mode, multipliers[j], quantized_multipliers[j], shifts[j], y_zero_point, low, high
        )


@kernel(inline="always")
def _finish_row(raw, r, width, i, j0, depth, row_sums, col_sums, a_zero_point, b_zero_points, bias, mode,
                multipliers, quantized_multipliers, shifts, y_zero_point, low, high, out):
    """out[i, j0:j0 + width] from the packed-product sums ``raw[r, :width]``:
    ``raw - za * colsum[j] - zb[j] * rowsum[i] + K * za * zb[j] + bias[j]`` in wrapping int32, then
    store (mode 0) or requantize; ``raw[r]`` is overwritten.

    The mode is tested once per row so that the int32 and float loops vectorise. Column indices
    are unsigned: numba then omits its negative-index check, which would otherwise turn the
    loads into gathers (and slicing instead costs two atomic reference-count updates a view)."""
    row_term = row_sums[i]
    depth_za = np.int32(depth * a_zero_point)
    first = np.uint64(j0)
    for c in range(width):
        j = first + np.uint64(c)
        zb = b_zero_points[j]
        raw[r, c] = np.int32(raw[r, c] - np.int32(a_zero_point * col_sums[j]) - np.int32(zb * row_term)
                             + np.int32(depth_za * zb) + bias[j])
    if mode == STORE_INT32:
        for c in range(width):
            out[i, first + np.uint64(c)] = raw[r, c]
    elif mode == FLOAT:
        for c in range(width):
            j = first + np.uint64(c)
            out[i, j] = requantize_float(raw[r, c], multipliers[j], y_zero_point, low, high)
    else:
        for c in range(width):
            j = first + np.uint64(c)
            out[i, j] = requantize_value(raw[r, c], mode, np.float32(0), quantized_multipliers[j], shifts[j],
                                         y_zero_point, low, high)


@kernel
def gemm_rows_tile(a, b, a_zero_point, b_zero_points, bias, mode, multipliers, quantized_multipliers,
                   shifts, y_zero_point, low, high, row_lo, row_hi, col_lo, col_hi, scratch, out):
    """A few rows of the product straight from row-major int8/uint8 a [M, K] and b [K, N].

    For small M (GEMV) packing B would cost as much as the product. Here each row i adds
    ``(a[i, k] - za) * b[k, j]`` across the columns (vectorised over j) into ``scratch`` and
    subtracts ``zb[j] * sum_k (a[i, k] - za)`` at the end; exact modulo 2**32 like the packed path.
    """
    depth = a.shape[1]
    width = col_hi - col_lo
    for i in range(row_lo, row_hi):
        for j in range(width):
            scratch[j] = 0
        a_sum = np.int32(0)
        for k in range(depth):
            a_ik = np.int32(np.int32(a[i, k]) - a_zero_point)
            a_sum = np.int32(a_sum + a_ik)
            b_row = b[k, col_lo:col_hi]
            for j in range(width):
                scratch[j] = np.int32(scratch[j] + a_ik * np.int32(b_row[j]))
        for j in range(width):
            acc = np.int32(scratch[j] - np.int32(b_zero_points[col_lo + j] * a_sum))
            _store(acc, i, col_lo + j, bias, mode, multipliers, quantized_multipliers, shifts, y_zero_point,
                   low, high, out)
