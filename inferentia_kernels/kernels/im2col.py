"""Gather convolution patches into GEMM rows (im2col), one bounded chunk of rows at a time; copy
NCHW activations into a padded NHWC image; put GEMM rows back into NCHW planes.

Row ``p`` of the patch matrix is output pixel ``p = (n * out_h + oh) * out_w + ow``; column
``k = ((c * kernel_h) + i) * kernel_w + j`` holds ``x[n, c_lo + c, y, x]`` with
``y = oh * stride_h - pad_top + i * dil_h`` and ``x = ow * stride_w - pad_left + j * dil_w``,
or ``pad_value`` where (y, x) falls outside the image.
"""

from __future__ import annotations

from .jit import kernel
from .transpose import transpose_copy

__all__ = ["gather_patches", "rows_to_planes", "to_padded_nhwc"]


@kernel
def gather_patches(x, c_lo, channels, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                   dil_h, dil_w, out_h, out_w, p_lo, pad_value, out):
    """Fill ``out`` [rows, channels * kernel_h * kernel_w] with patch rows p_lo .. p_lo + rows.

    For each (c, i, j) the pixels of one output row are copied in one loop, split into the
    padded prefix, the in-image run (contiguous in x when stride_w is 1) and the padded suffix,
    so the inner loops have no bounds tests.
    """
    rows = out.shape[0]
    height = x.shape[2]
    width = x.shape[3]
    plane = out_h * out_w
    p = p_lo
    p_end = p_lo + rows
    while p < p_end:
        n = p // plane
        oh = (p % plane) // out_w
        ow_start = p % out_w
        ow_stop = min(out_w, ow_start + (p_end - p))
        base = p - p_lo - ow_start  # row of out that holds (n, oh, ow = 0)
        k = 0
        for c in range(channels):
            for i in range(kernel_h):
                y = oh * stride_h - pad_top + i * dil_h
                inside = 0 <= y < height
                for j in range(kernel_w):
                    x_off = j * dil_w - pad_left
                    lo = ow_start
                    hi = ow_start
                    if inside:
                        # in-image ow: 0 <= ow * stride_w + x_off < width
                        lo = min(max(-(x_off // stride_w), ow_start), ow_stop)
                        hi = min(max(-((x_off - width) // stride_w), lo), ow_stop)
                    for ow in range(ow_start, lo):
                        out[base + ow, k] = pad_value
                    if inside:
                        source = x[n, c_lo + c, y]
                        for ow in range(lo, hi):
                            out[base + ow, k] = source[ow * stride_w + x_off]
                    for ow in range(hi, ow_stop):
                        out[base + ow, k] = pad_value
                    k += 1
        p += ow_stop - ow_start


@kernel
def rows_to_planes(rows, first, col_lo, col_hi, pixels, channel_lo, planes):
    """``planes[n, channel_lo + o, q] = rows[m, o]`` for o in [col_lo, col_hi) and every row m of
    ``rows``, with n * pixels + q = first + m: GEMM rows [M', O'] (one per output pixel, from
    pixel ``first`` on) into NCHW planes [N, O, pixels], one blocked transpose per image that the
    rows cover."""
    count, width = rows.shape
    out_channels = planes.shape[1]
    source = rows.reshape(-1)
    target = planes.reshape(-1)
    m0 = 0
    while m0 < count:
        n = (first + m0) // pixels
        m1 = min(count, (n + 1) * pixels - first)
        transpose_copy(source, m0 * width + col_lo, width, target,
                       (n * out_channels + channel_lo + col_lo) * pixels + first + m0 - n * pixels, pixels, m1 - m0,
                       col_hi - col_lo)
        m0 = m1


@kernel
def to_padded_nhwc(x, image_lo, image_hi, top, left, fill, image):
    """``image[n, top + y, left + w, c] = x[n, c, y, w]`` (NCHW to NHWC) for images [image_lo, image_hi),
    and ``fill`` in the rest of those images (the padding): a blocked transpose of [C, W] per row."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    padded_h, padded_w = image.shape[1], image.shape[2]
    source = x.reshape(-1)
    target = image.reshape(-1)
    for n in range(image_lo, image_hi):
        for y in range(padded_h):
            row = image[n, y]
            if y < top or y >= top + height:
                row[:, :] = fill
                continue
            row[:left, :] = fill
            row[left + width:, :] = fill
            transpose_copy(source, (n * channels * height + y - top) * width, height * width, target,
                           ((n * padded_h + y) * padded_w + left) * channels, channels, channels, width)
