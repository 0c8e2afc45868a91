"""Depthwise convolution (one input channel per group) computed directly, without im2col.

Output plane ``p = n * O + o`` reads input channel ``c = o // multiplier`` of image n. For each
output row the kernel taps ``(i, j)`` are visited in ascending ``k = i * kW + j`` (the contract's
order with a single channel per group), each one updating a whole row of outputs, vectorised
across ``ow``. Tap positions come from the same bounds as ``im2col.gather_patches``.

Integer: padded pixels hold the input zero point, so they contribute nothing and are skipped.
Float: a padded pixel holds +0.0 and still contributes ``0 * w`` (NaN when w is Inf or NaN), in
its place in the order; K tiles of 128 are added into the PSUM as in ``gemm_float``.
Indices into rows are unsigned: numba then omits its negative-index check and the loops vectorise.
"""

from __future__ import annotations

import numpy as np

from .gemm_float import _add_product
from .jit import kernel
from .requantize import FLOAT, requantize_float, requantize_value

__all__ = ["depthwise_f32_planes", "depthwise_i8_planes"]


@kernel(inline="always")
def _in_image_columns(x_off, stride_w, width, out_w):
    """[lo, hi): the output columns whose tap ``ow * stride_w + x_off`` lies inside the row."""
    lo = min(max(-(x_off // stride_w), 0), out_w)
    hi = min(max(-((x_off - width) // stride_w), lo), out_w)
    return lo, hi


@kernel
def depthwise_i8_planes(x, w, x_zero_point, w_zero_points, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
                        plane_lo, plane_hi, bias, mode, multipliers, quantized_multipliers, shifts, y_zero_point,
                        low, high, acc, out):
    """out[n, o] for planes [plane_lo, plane_hi): int32 sums of (x - zx)(w - zw[o]) + bias[o], then
    stored (mode 0) or requantized. ``acc`` is int32 [out_w] scratch of the calling thread."""
    height, width = x.shape[2], x.shape[3]
    out_channels, kernel_h, kernel_w = w.shape[0], w.shape[2], w.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    multiplier = out_channels // x.shape[1]
    for plane in range(plane_lo, plane_hi):
        n, o = divmod(plane, out_channels)
        c = o // multiplier
        for oh in range(out_h):
            for ow in range(out_w):
                acc[ow] = 0
            for i in range(kernel_h):
                y = oh * stride_h - pad_top + i * dil_h
                if 0 <= y < height:
                    row = x[n, c, y]
                    for j in range(kernel_w):
                        tap = np.int32(np.int32(w[o, 0, i, j]) - w_zero_points[o])
                        x_off = j * dil_w - pad_left
                        lo, hi = _in_image_columns(x_off, stride_w, width, out_w)
                        for ow in range(lo, hi):
                            pixel = np.int32(np.int32(row[np.uint64(ow * stride_w + x_off)]) - x_zero_point)
                            acc[ow] = np.int32(acc[ow] + pixel * tap)
            target = out[n, o, oh]
            b = bias[o]
            if mode == 0:
                for ow in range(out_w):
                    target[ow] = np.int32(acc[ow] + b)
            elif mode == FLOAT:
                scale = multipliers[o]
                for ow in range(out_w):
                    target[ow] = requantize_float(np.int32(acc[ow] + b), scale, y_zero_point, low, high)
            else:
                for ow in range(out_w):
                    target[ow] = requantize_value(np.int32(acc[ow] + b), mode, np.float32(0), quantized_multipliers[o],
                                                  shifts[o], y_zero_point, low, high)


@kernel
def depthwise_f32_planes(x, w, k_tile, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, plane_lo, plane_hi,
                         bias, low, high, fused, scratch, out):
    """out[n, o] for planes [plane_lo, plane_hi) in the float engine's order, then bias and clamp.
    ``scratch`` is float32 [2, out_w] (the tile partial and the PSUM of one output row)."""
    height, width = x.shape[2], x.shape[3]
    out_channels, kernel_h, kernel_w = w.shape[0], w.shape[2], w.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    multiplier = out_channels // x.shape[1]
    partial, psum = scratch[0], scratch[1]
    zero = np.float32(0.0)
    for plane in range(plane_lo, plane_hi):
        n, o = divmod(plane, out_channels)
        c = o // multiplier
        for oh in range(out_h):
            for ow in range(out_w):
                partial[ow] = zero
                psum[ow] = zero
            k = 0
            for i in range(kernel_h):
                y = oh * stride_h - pad_top + i * dil_h
                inside = 0 <= y < height
                for j in range(kernel_w):
                    if k > 0 and k % k_tile == 0:
                        for ow in range(out_w):
                            psum[ow] = psum[ow] + partial[ow]
                            partial[ow] = zero
                    tap = w[o, 0, i, j]
                    x_off = j * dil_w - pad_left
                    lo, hi = _in_image_columns(x_off, stride_w, width, out_w)
                    if not inside:
                        lo, hi = out_w, out_w
                    for ow in range(lo):
                        partial[ow] = _add_product(fused, partial[ow], zero, tap)
                    if inside:
                        row = x[n, c, y]
                        for ow in range(lo, hi):
                            partial[ow] = _add_product(fused, partial[ow], row[np.uint64(ow * stride_w + x_off)], tap)
                    for ow in range(hi, out_w):
                        partial[ow] = _add_product(fused, partial[ow], zero, tap)
                    k += 1
            target = out[n, o, oh]
            b = bias[o]
            for ow in range(out_w):
                value = (psum[ow] + partial[ow]) + b
                if value < low:
                    value = low
                if value > high:
                    value = high
                target[ow] = value
