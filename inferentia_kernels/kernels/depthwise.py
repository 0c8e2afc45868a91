"""Depthwise convolution (one input channel per group) computed directly, without im2col.

Output plane ``p = n * O + o`` reads input channel ``c = o // multiplier`` of image n, first
copied into a padded plane: integer values minus the input zero point (so padding, 0 there,
contributes nothing), float values as they are (padding +0.0, which still contributes ``0 * w``,
NaN when w is Inf or NaN, in its place in the order). Output rows go in bands whose accumulators
stay in L1; the kernel taps ``(i, j)`` are visited in ascending ``k = i * kW + j`` (the
contract's order with a single channel per group), each one updating the whole band. With unit
strides, output (oh, ow) reads padded (oh + i * dil_h, ow + j * dil_w): on a row pitch equal to
the padded width a tap is one shifted run over the band (the columns past the output's width
are computed and dropped), so planes with short rows still vectorise over long loops. Float:
K tiles of 128 are added into the PSUM as in ``gemm_float``. Indices are unsigned: numba then
omits its negative-index check and the loops vectorise.
"""

from __future__ import annotations

import numpy as np

from .gemm_float import _add_product
from .jit import kernel
from .requantize import FLOAT, requantize_float, requantize_value

__all__ = ["depthwise_f32_planes", "depthwise_i8_planes"]


#: Accumulators per band of output rows, sized with the band's input rows for L1.
_BAND_VALUES = 2048


@kernel(inline="always")
def _bands(height, width, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left):
    """(padded height, padded width, unit strides, accumulators per output row, output rows per band)."""
    padded_w = max((out_w - 1) * stride_w + (kernel_w - 1) * dil_w + 1, pad_left + width)
    padded_h = max((out_h - 1) * stride_h + (kernel_h - 1) * dil_h + 1, pad_top + height)
    unit = stride_h == 1 and stride_w == 1
    pitch = padded_w if unit else out_w
    return padded_h, padded_w, unit, pitch, max(1, _BAND_VALUES // pitch)


@kernel(inline="always")
def _plane_source(plane, out_channels, channels):
    """(n, o, n * C + c) for output plane ``plane = n * O + o``, whose input channel is
    c = o // (O / C)."""
    n, o = divmod(plane, out_channels)
    return n, o, n * channels + o // (out_channels // channels)


@kernel(inline="always")
def _load_plane(x, source, pad_top, pad_left, padded_w, zero, padded):
    """``padded`` = input plane ``source`` (flat n * C + c) minus ``zero``, at (pad_top, pad_left)
    of a plane of width ``padded_w``, zeros elsewhere. Called only when the plane changes: numba
    passes each array argument of an inlined function with atomic reference-count updates."""
    n, c = divmod(source, x.shape[1])
    padded[:] = 0
    for y in range(x.shape[2]):
        row = x[n, c, y]
        first = np.uint64((pad_top + y) * padded_w + pad_left)
        for xw in range(x.shape[3]):
            padded[first + np.uint64(xw)] = row[np.uint64(xw)] - zero


@kernel
def depthwise_i8_planes(x, w, x_zero_point, w_zero_points, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
                        plane_lo, plane_hi, bias, mode, multipliers, quantized_multipliers, shifts, y_zero_point,
                        low, high, out):
    """out[n, o] for planes [plane_lo, plane_hi): int32 sums of (x - zx)(w - zw[o]) + bias[o], then
    stored (mode 0) or requantized."""
    out_channels, kernel_h, kernel_w = w.shape[0], w.shape[2], w.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    padded_h, padded_w, unit, pitch, band = _bands(x.shape[2], x.shape[3], out_h, out_w, kernel_h, kernel_w, stride_h,
                                                   stride_w, dil_h, dil_w, pad_top, pad_left)
    padded = np.empty(padded_h * padded_w, np.int32)
    acc = np.empty(band * pitch, np.int32)
    loaded = -1  # the input plane in ``padded``
    for plane in range(plane_lo, plane_hi):
        n, o, source = _plane_source(plane, out_channels, x.shape[1])
        if source != loaded:
            loaded = source
            _load_plane(x, source, pad_top, pad_left, padded_w, x_zero_point, padded)
        b = bias[o]
        for oh0 in range(0, out_h, band):
            rows = min(band, out_h - oh0)
            span = (rows - 1) * pitch + out_w
            acc[:span] = 0
            for i in range(kernel_h):
                for j in range(kernel_w):
                    tap = np.int32(np.int32(w[o, 0, i, j]) - w_zero_points[o])
                    offset = i * dil_h * padded_w + j * dil_w
                    if unit:
                        first = np.uint64(oh0 * padded_w + offset)
                        for q in range(span):
                            acc[np.uint64(q)] = np.int32(acc[np.uint64(q)] + padded[first + np.uint64(q)] * tap)
                    else:
                        for r in range(rows):
                            first = np.uint64((oh0 + r) * stride_h * padded_w + offset)
                            at = np.uint64(r * pitch)
                            for ow in range(out_w):
                                source = padded[first + np.uint64(ow * stride_w)]
                                acc[at + np.uint64(ow)] = np.int32(acc[at + np.uint64(ow)] + source * tap)
            for r in range(rows):
                target = out[n, o, oh0 + r]
                at = np.uint64(r * pitch)
                if mode == 0:
                    for ow in range(out_w):
                        target[ow] = np.int32(acc[at + np.uint64(ow)] + b)
                elif mode == FLOAT:
                    scale = multipliers[o]
                    for ow in range(out_w):
                        target[ow] = requantize_float(np.int32(acc[at + np.uint64(ow)] + b), scale, y_zero_point, low,
                                                      high)
                else:
                    for ow in range(out_w):
                        target[ow] = requantize_value(np.int32(acc[at + np.uint64(ow)] + b), mode, np.float32(0),
                                                      quantized_multipliers[o], shifts[o], y_zero_point, low, high)


@kernel
def depthwise_f32_planes(x, w, k_tile, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, plane_lo, plane_hi,
                         bias, low, high, fused, out):
    """out[n, o] for planes [plane_lo, plane_hi) in the float engine's order, then bias and clamp:
    each output adds its taps in ascending k into a partial sum that goes into the PSUM every
    ``k_tile`` taps. A padded pixel is +0.0 in the padded plane and still multiplies its tap."""
    out_channels, kernel_h, kernel_w = w.shape[0], w.shape[2], w.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    padded_h, padded_w, unit, pitch, band = _bands(x.shape[2], x.shape[3], out_h, out_w, kernel_h, kernel_w, stride_h,
                                                   stride_w, dil_h, dil_w, pad_top, pad_left)
    padded = np.empty(padded_h * padded_w, np.float32)
    partial = np.empty(band * pitch, np.float32)
    psum = np.empty(band * pitch, np.float32)
    zero = np.float32(0.0)
    loaded = -1  # the input plane in ``padded``
    for plane in range(plane_lo, plane_hi):
        n, o, source = _plane_source(plane, out_channels, x.shape[1])
        if source != loaded:
            loaded = source
            _load_plane(x, source, pad_top, pad_left, padded_w, zero, padded)
        b = bias[o]
        for oh0 in range(0, out_h, band):
            rows = min(band, out_h - oh0)
            span = (rows - 1) * pitch + out_w
            partial[:span] = zero
            psum[:span] = zero
            k = 0
            for i in range(kernel_h):
                for j in range(kernel_w):
                    if k > 0 and k % k_tile == 0:
                        for q in range(span):
                            psum[q] = psum[q] + partial[q]
                            partial[q] = zero
                    tap = w[o, 0, i, j]
                    offset = i * dil_h * padded_w + j * dil_w
                    if unit:
                        first = np.uint64(oh0 * padded_w + offset)
                        for q in range(span):
                            at = np.uint64(q)
                            partial[at] = _add_product(fused, partial[at], padded[first + at], tap)
                    else:
                        for r in range(rows):
                            first = np.uint64((oh0 + r) * stride_h * padded_w + offset)
                            at = np.uint64(r * pitch)
                            for ow in range(out_w):
                                source = padded[first + np.uint64(ow * stride_w)]
                                partial[at + np.uint64(ow)] = _add_product(fused, partial[at + np.uint64(ow)], source,
                                                                           tap)
                    k += 1
            for r in range(rows):
                target = out[n, o, oh0 + r]
                at = np.uint64(r * pitch)
                for ow in range(out_w):
                    value = (psum[at + np.uint64(ow)] + partial[at + np.uint64(ow)]) + b
                    if value < low:
                        value = low
                    if value > high:
                        value = high
                    target[ow] = value
