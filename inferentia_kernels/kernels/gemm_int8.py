"""INT8 GEMM with INT32 accumulation: the epilogue shared by the packed kernels, and a GEMV path.

The packed kernels (``int8_microkernel``) multiply unsigned A by signed B: int8 A is stored as
``a ^ 0x80 = a + 128`` (the AMX kernel, which also multiplies signed A, keeps it) and uint8 B as
``b ^ 0x80 = b - 128``, offsets absorbed by the zero points (``za + 128`` and ``zb - 128``).
Zero points are applied to the raw sums by the row/column-sum identity, in wrapping int32
arithmetic, which is exact modulo 2**32::

    sum_k (a - za)(b - zb) = sum_k a*b - za*colsum(b) - zb*rowsum(a) + K*za*zb

``finish_block`` does that for a block of sums (the column-only part precomputed by
``column_terms``), adds the bias and stores int32 or the requantized value. ``gemm_rows_tile``
serves products with very few rows, where packing would cost as much as the product.
"""

from __future__ import annotations

import numpy as np

from .bits import stream_64_bytes
from .jit import kernel
from .requantize import FLOAT, requantize_float, requantize_value

__all__ = ["STORE_INT32", "aligned_matrix", "column_terms", "finish_block", "gemm_rows_tile", "stream_block"]

#: Epilogue modes: store the int32 accumulator, or requantize it.
STORE_INT32 = 0


@kernel(inline="always")
def aligned_matrix(rows, cols, dtype):
    """An uninitialised [rows, cols] C-contiguous array of ``dtype`` whose data starts on a 64-byte
    boundary, so that the kernel's 64-byte vector and tile rows in it do not straddle two lines."""
    size = rows * cols
    raw = np.empty(size + 64, dtype)
    start = (-raw.ctypes.data % 64) // raw.itemsize
    return raw[start:start + size].reshape((rows, cols))


@kernel(inline="always")
def _corrected(raw, term, b_zero_point, row_sum):
    """``raw + term - zb * rowsum`` in wrapping int32 (scalars only, so inlining costs nothing)."""
    return np.int32(raw + term - np.int32(b_zero_point * row_sum))


@kernel(inline="always")
def column_terms(terms, col_lo, width, depth, a_zero_point, col_sums, b_zero_points, bias):
    """``terms[c] = bias[j] - za * colsum[j] + K * za * zb[j]`` in wrapping int32, j = col_lo + c < col_lo + width:
    the part of the zero-point correction and bias that depends on the column only."""
    depth_za = np.int32(depth * a_zero_point)
    for c in range(width):
        j = col_lo + c
        terms[c] = np.int32(bias[j] - np.int32(a_zero_point * col_sums[j]) + np.int32(depth_za * b_zero_points[j]))


@kernel(inline="always")
def finish_block(raw, row_lo, row_hi, col_lo, width, row_sums, terms, b_zero_points, mode, multipliers,
                 quantized_multipliers, shifts, y_zero_point, low, high, out, out_row, out_col):
    """out[i - out_row, col_lo + c - out_col] for row_lo <= i < row_hi, c < width, from the raw sums
    ``raw[i - row_lo, c]``: ``raw + terms[c] - zb[j] * row_sums[i]`` (j = col_lo + c) in wrapping
    int32, stored (mode 0) or requantized and clamped (modes 1-3). ``out_row``/``out_col`` place
    the block in ``out``: zeros for the output itself, the block's origin for a staging buffer.

    Called once per block, not per row: numba passes each array argument of an inlined function
    with two atomic reference-count updates, which per row cost more than the row's arithmetic.
    The mode is tested once per row so that each loop vectorises. Column indices are unsigned:
    numba then omits its negative-index check, which would otherwise turn the loads into gathers."""
    first = np.uint64(col_lo)
    to = np.uint64(col_lo - out_col)
    for i in range(row_lo, row_hi):
        r = i - row_lo
        o = i - out_row
        row_sum = row_sums[i]
        if mode == STORE_INT32:
            for c in range(width):
                j = first + np.uint64(c)
                out[o, to + np.uint64(c)] = _corrected(raw[r, c], terms[c], b_zero_points[j], row_sum)
        elif mode == FLOAT:
            for c in range(width):
                j = first + np.uint64(c)
                corrected = _corrected(raw[r, c], terms[c], b_zero_points[j], row_sum)
                out[o, to + np.uint64(c)] = requantize_float(corrected, multipliers[j], y_zero_point, low, high)
        else:
            for c in range(width):
                j = first + np.uint64(c)
                corrected = _corrected(raw[r, c], terms[c], b_zero_points[j], row_sum)
                out[o, to + np.uint64(c)] = requantize_value(corrected, mode, np.float32(0), quantized_multipliers[j],
                                                             shifts[j], y_zero_point, low, high)


@kernel(inline="always")
def stream_block(staged, row_lo, row_hi, col_lo, width, out):
    """``out[row_lo:row_hi, col_lo:col_lo + width] = staged[:row_hi - row_lo, :width]``, the whole
    64-byte lines of each row by non-temporal stores: they go to memory without being read into
    the caches first or evicting the operands a kernel keeps there (for an output too large to
    stay in cache anyway). The kernel must end with ``bits.store_fence``."""
    item = out.itemsize
    per_line = 64 // item
    base = out.ctypes.data
    start = np.uint64(col_lo)
    for i in range(row_lo, row_hi):
        r = i - row_lo
        row_bytes = i * out.strides[0] + col_lo * item
        head = min(((-(base + row_bytes)) % 64) // item, width) if (base + row_bytes) % item == 0 else width
        body_end = head + (width - head) // per_line * per_line
        for c in range(head):
            out[i, start + np.uint64(c)] = staged[r, c]
        for c in range(head, body_end, per_line):
            stream_64_bytes(out, row_bytes + c * item, staged, (r * staged.shape[1] + c) * item)
        for c in range(body_end, width):
            out[i, start + np.uint64(c)] = staged[r, c]


@kernel
def gemm_rows_tile(a, b, a_zero_point, b_zero_points, bias, mode, multipliers, quantized_multipliers,
                   shifts, y_zero_point, low, high, row_lo, row_hi, col_lo, col_hi, scratch, out):
    """A few rows of the product straight from row-major int8/uint8 a [M, K] and b [K, N].

    For small M (GEMV) packing B would cost as much as the product. Here each row i adds
    ``(a[i, k] - za) * b[k, j]`` across the columns (vectorised over j) into its row of ``scratch``
    (int32 [row_hi - row_lo, col_hi - col_lo]) and subtracts ``zb[j] * sum_k (a[i, k] - za)`` at
    the end; exact modulo 2**32 like the packed path.
    """
    depth = a.shape[1]
    width = col_hi - col_lo
    a_sums = np.empty(row_hi, np.int32)
    for i in range(row_lo, row_hi):
        sums = scratch[i - row_lo]
        sums[:] = 0
        a_sum = np.int32(0)
        for k in range(depth):
            a_ik = np.int32(np.int32(a[i, k]) - a_zero_point)
            a_sum = np.int32(a_sum + a_ik)
            b_row = b[k, col_lo:col_hi]
            for j in range(width):
                sums[j] = np.int32(sums[j] + a_ik * np.int32(b_row[j]))
        a_sums[i] = a_sum
    terms = bias[col_lo:col_hi].copy()
    finish_block(scratch, row_lo, row_hi, col_lo, width, a_sums, terms, b_zero_points, mode, multipliers,
                 quantized_multipliers, shifts, y_zero_point, low, high, out, 0, 0)
