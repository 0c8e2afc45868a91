"""INT8 GEMM with INT32 accumulation: packing, a 4x4 microkernel, and a fused epilogue.

Packed operands are always unsigned A times signed B, which is what x86 multiply-add
instructions want (``vpdpwssd``/``vpmaddwd`` from the compiler here; ``vpdpbusd`` later):

* ``pack_a``: A [M, K] -> uint8 [M4, K] (M4 = M rounded up to 4, zero rows), int8 input
  stored as ``a ^ 0x80 = a + 128``; also the int32 row sums of the packed values.
* ``pack_b``: B [K, N] -> int8 [N4, K] (B transposed, K contiguous), uint8 input stored as
  ``b ^ 0x80 = b - 128``; also the int32 column sums.

The offsets are absorbed by the zero points (``za + 128`` and ``zb - 128``), and zero points are
applied by the row/column-sum identity, all in wrapping int32 arithmetic, which is exact modulo
2**32::

    sum_k (a - za)(b - zb) = sum_k a*b - za*colsum(b) - zb*rowsum(a) + K*za*zb

Each 4x4 output tile accumulates the whole of K in registers, then goes through the epilogue
(zero-point correction, bias, and optionally requantization and clamping) before it is stored.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel
from .requantize import FLOAT, requantize_float, requantize_value

__all__ = ["MICRO_ROWS", "STORE_INT32", "gemm_rows_tile", "gemm_u8s8_tile", "pack_a", "pack_b"]

MICRO_ROWS = 4

#: Epilogue modes: store the int32 accumulator, or requantize it.
STORE_INT32 = 0


@kernel
def pack_a(a, flip, packed, row_sums):
    """Copy A [M, K] into ``packed`` [>= M, K] uint8 (``^ flip``), summing each packed row."""
    rows, depth = a.shape
    for i in range(rows):
        total = np.int32(0)
        for k in range(depth):
            value = np.uint8(np.uint8(a[i, k]) ^ flip)
            packed[i, k] = value
            total = np.int32(total + np.int32(value))
        row_sums[i] = total


@kernel
def pack_b(b, flip, col_lo, col_hi, packed, col_sums):
    """Transpose columns [col_lo, col_hi) of B [K, N] into ``packed`` [N4, K] int8 (``^ flip``).

    Blocks of 64 k x 16 columns keep the strided writes inside a few cache lines.
    """
    depth = b.shape[0]
    for j0 in range(col_lo, col_hi, 16):
        j1 = min(j0 + 16, col_hi)
        for j in range(j0, j1):
            col_sums[j] = 0
        for k0 in range(0, depth, 64):
            k1 = min(k0 + 64, depth)
            for k in range(k0, k1):
                for j in range(j0, j1):
                    value = np.int8(np.uint8(b[k, j]) ^ flip)
                    packed[j, k] = value
                    col_sums[j] = np.int32(col_sums[j] + np.int32(value))


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
def gemm_u8s8_tile(a_packed, b_packed, row_sums, col_sums, a_zero_point, b_zero_points, bias,
                   mode, multipliers, quantized_multipliers, shifts, y_zero_point, low, high,
                   rows, cols, row_lo, row_hi, col_lo, col_hi, col_block, stripe, out):
    """out[row_lo:row_hi, col_lo:col_hi] of the product of packed A and packed B.

    ``row_lo`` and ``col_lo`` are multiples of 4; ``rows``/``cols`` are the true M and N (the
    packed operands are zero-padded to multiples of 4, whose results are not stored).
    ``col_block`` columns of packed B (col_block x K bytes) are reused across all rows of the
    tile while they sit in the L2 cache; the 4 rows of A being used sit in L1.
    """
    depth = a_packed.shape[1]
    for jb in range(col_lo, col_hi, col_block):
        je = min(jb + col_block, col_hi)
        for i in range(row_lo, row_hi, 4):
            for j in range(jb, je, 4):
                c00 = c01 = c02 = c03 = np.int32(0)
                c10 = c11 = c12 = c13 = np.int32(0)
                c20 = c21 = c22 = c23 = np.int32(0)
                c30 = c31 = c32 = c33 = np.int32(0)
                # Widening each byte to int32 right at the multiply is what lets LLVM fuse the
                # multiply-add into vpdpwssd (AVX-VNNI / AVX512-VNNI) or vpmaddwd (AVX2).
                for k in range(depth):
                    a0 = np.int32(a_packed[i, k])
                    a1 = np.int32(a_packed[i + 1, k])
                    a2 = np.int32(a_packed[i + 2, k])
                    a3 = np.int32(a_packed[i + 3, k])
                    b0 = np.int32(b_packed[j, k])
                    b1 = np.int32(b_packed[j + 1, k])
                    b2 = np.int32(b_packed[j + 2, k])
                    b3 = np.int32(b_packed[j + 3, k])
                    c00 = np.int32(c00 + a0 * b0)
                    c01 = np.int32(c01 + a0 * b1)
                    c02 = np.int32(c02 + a0 * b2)
                    c03 = np.int32(c03 + a0 * b3)
                    c10 = np.int32(c10 + a1 * b0)
                    c11 = np.int32(c11 + a1 * b1)
                    c12 = np.int32(c12 + a1 * b2)
                    c13 = np.int32(c13 + a1 * b3)
                    c20 = np.int32(c20 + a2 * b0)
                    c21 = np.int32(c21 + a2 * b1)
                    c22 = np.int32(c22 + a2 * b2)
                    c23 = np.int32(c23 + a2 * b3)
                    c30 = np.int32(c30 + a3 * b0)
                    c31 = np.int32(c31 + a3 * b1)
                    c32 = np.int32(c32 + a3 * b2)
                    c33 = np.int32(c33 + a3 * b3)
                t = j - jb
                stripe[0, t] = c00
                stripe[0, t + 1] = c01
                stripe[0, t + 2] = c02
                stripe[0, t + 3] = c03
                stripe[1, t] = c10
                stripe[1, t + 1] = c11
                stripe[1, t + 2] = c12
                stripe[1, t + 3] = c13
                stripe[2, t] = c20
                stripe[2, t + 1] = c21
                stripe[2, t + 2] = c22
                stripe[2, t + 3] = c23
                stripe[3, t] = c30
                stripe[3, t + 1] = c31
                stripe[3, t + 2] = c32
                stripe[3, t + 3] = c33
            # The epilogue runs on the 4 x col_block sums while they are in L1.
            for r in range(min(4, rows - i)):
                _finish_row(stripe, r, min(je, cols) - jb, i + r, jb, depth, row_sums, col_sums, a_zero_point,
                            b_zero_points, bias, mode, multipliers, quantized_multipliers, shifts,
                            y_zero_point, low, high, out)


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
