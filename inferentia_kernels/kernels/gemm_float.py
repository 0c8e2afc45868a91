"""Float GEMM in the tensor engine's accumulation order, vectorised across output columns.

For every output element (i, j), K is cut into tiles of ``k_tile`` (128: the PE array's rows).
Inside a tile the products ``a[i, k] * b[k, j]`` are added in ascending k into a float32
partial that starts at +0.0; tile partials are added in ascending tile order into the float32
PSUM, which starts at +0.0; then ``+ bias[j]``, then the clamp of the activation.

The loops run over j innermost, so each SIMD lane holds one output column and adds its own
products in exactly that order: nothing is reassociated and no fast-math flag is needed. Inputs
are float32 arrays holding values already rounded to the requested precision; for bf16 and fp16
inputs each product is exact in float32, so only the additions round, and a fused
multiply-add (one rounding) gives the same bits as a multiply and an add; for fp32 inputs the
product is rounded first, as the contract requires.
"""

from __future__ import annotations

import numpy as np

from .bits import fma_f32
from .jit import kernel

__all__ = ["gemm_f32_tile"]


@kernel(inline="always")
def _add_product(fused, partial, a, b):
    """``partial + a * b``: fused when the caller knows the product is exact (bf16/fp16 inputs),
    where one rounding equals two; rounded twice otherwise (fp32 inputs: no fused multiply-add).
    ``fused`` is loop-invariant, so LLVM compiles one loop for each case."""
    if fused:
        return fma_f32(a, b, partial)
    return partial + a * b


@kernel
def gemm_f32_tile(a, b, k_tile, row_lo, row_hi, col_lo, col_hi, col_block, bias, low, high, fused, scratch, out):
    """out[row_lo:row_hi, col_lo:col_hi] = clamp(psum + bias, low, high) in the order above.

    ``a`` is [M4, K] (rows padded with zeros to a multiple of 4; padded rows are not stored),
    ``b`` is [K, N], ``bias`` [N], ``scratch`` float32 [4, col_block] owned by the caller's thread.
    ``low``/``high`` of -inf/+inf mean no clamp; a NaN passes through the clamp unchanged.
    ``fused``: every product is exact in float32 (bf16/fp16 inputs), so multiply-adds may be fused.

    The output rows themselves hold the PSUM: they start at +0.0 and receive the tile partials
    in ascending tile order. Tiles are the outer loop, so one k_tile x col_block block of B
    stays in cache while every row block of the tile uses it.
    """
    rows = out.shape[0]
    depth = a.shape[1]
    p0, p1, p2, p3 = scratch[0], scratch[1], scratch[2], scratch[3]
    zero = np.float32(0.0)
    for j0 in range(col_lo, col_hi, col_block):
        width = min(col_block, col_hi - j0)
        for i in range(row_lo, min(row_hi, rows)):
            psum = out[i, j0:j0 + width]
            for j in range(width):
                psum[j] = zero
        for t in range(0, depth, k_tile):
            for i in range(row_lo, row_hi, 4):
                for j in range(width):
                    p0[j] = zero
                    p1[j] = zero
                    p2[j] = zero
                    p3[j] = zero
                for k in range(t, min(t + k_tile, depth)):
                    a0 = a[i, k]
                    a1 = a[i + 1, k]
                    a2 = a[i + 2, k]
                    a3 = a[i + 3, k]
                    b_row = b[k, j0:j0 + width]
                    for j in range(width):
                        b_kj = b_row[j]
                        p0[j] = _add_product(fused, p0[j], a0, b_kj)
                        p1[j] = _add_product(fused, p1[j], a1, b_kj)
                        p2[j] = _add_product(fused, p2[j], a2, b_kj)
                        p3[j] = _add_product(fused, p3[j], a3, b_kj)
                for r in range(min(4, rows - i)):
                    psum = out[i + r, j0:j0 + width]
                    partial = scratch[r]
                    for j in range(width):
                        psum[j] = psum[j] + partial[j]
        for i in range(row_lo, min(row_hi, rows)):
            psum = out[i, j0:j0 + width]
            for j in range(width):
                value = psum[j] + bias[j0 + j]
                if value < low:
                    value = low
                if value > high:
                    value = high
                psum[j] = value
