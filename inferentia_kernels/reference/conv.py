"""Convolution, written directly from its definition (slow loops), for the tests.

NCHW input x [N, C, H, W], OIHW weights w [O, C/groups, kH, kW]; ``pads`` = (top, left, bottom,
right). Output pixel (n, o, oh, ow) contracts k = ((c * kH) + i) * kW + j within o's group in
ascending order. Integer convolution (ONNX ConvInteger) pads with the input zero point, so padded
pixels contribute nothing; float convolution pads with 0 and accumulates in the float tensor
engine's order (tiles of 128 k, see matmul_float).
"""

from __future__ import annotations

import numpy as np

from .matmul_float import K_TILE, round_to_precision
from .matmul_integer import wrap_int32


def output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _patch(x, n, c0, cg, kh, kw, oh, ow, stride, pads, dilation, pad_value):
    """The receptive field of one output pixel as a flat vector in k order."""
    values = []
    for c in range(cg):
        for i in range(kh):
            for j in range(kw):
                y = oh * stride[0] - pads[0] + i * dilation[0]
                xx = ow * stride[1] - pads[1] + j * dilation[1]
                inside = 0 <= y < x.shape[2] and 0 <= xx < x.shape[3]
                values.append(x[n, c0 + c, y, xx] if inside else pad_value)
    return values


def _shape(x, w, stride, pads, dilation):
    kh, kw = w.shape[2], w.shape[3]
    out_h = output_size(x.shape[2], kh, stride[0], pads[0], pads[2], dilation[0])
    out_w = output_size(x.shape[3], kw, stride[1], pads[1], pads[3], dilation[1])
    return kh, kw, out_h, out_w


def conv_integer(x, w, x_zero_point, w_zero_point, stride, pads, dilation, groups) -> np.ndarray:
    """ONNX ConvInteger: int32 sums of (x - zx)(w - zw[o]); zw scalar or one per output channel."""
    n_img, channels = x.shape[:2]
    out_ch, cg = w.shape[:2]
    kh, kw, out_h, out_w = _shape(x, w, stride, pads, dilation)
    zw = np.broadcast_to(np.asarray(w_zero_point, np.int64), (out_ch,))
    og = out_ch // groups
    out = np.zeros((n_img, out_ch, out_h, out_w), np.int64)
    for n in range(n_img):
        for o in range(out_ch):
            g = o // og
            weights = w[o].astype(np.int64).reshape(-1) - zw[o]
            for oh in range(out_h):
                for ow in range(out_w):
                    patch = np.array(_patch(x, n, g * cg, cg, kh, kw, oh, ow, stride, pads, dilation,
                                            int(x_zero_point)), np.int64)
                    out[n, o, oh, ow] = np.dot(patch - int(x_zero_point), weights)
    return wrap_int32(out)


def conv_float(x, w, bias, stride, pads, dilation, groups, precision, low=-np.inf, high=np.inf) -> np.ndarray:
    """Float convolution in the tensor engine's accumulation order, then bias and clamp."""
    x = round_to_precision(x, precision)
    w = round_to_precision(w, precision)
    n_img = x.shape[0]
    out_ch, cg = w.shape[:2]
    kh, kw, out_h, out_w = _shape(x, w, stride, pads, dilation)
    og = out_ch // groups
    out = np.zeros((n_img, out_ch, out_h, out_w), np.float32)
    with np.errstate(all="ignore"):
        for n in range(n_img):
            for o in range(out_ch):
                g = o // og
                weights = w[o].reshape(-1)
                for oh in range(out_h):
                    for ow in range(out_w):
                        patch = _patch(x, n, g * cg, cg, kh, kw, oh, ow, stride, pads, dilation, np.float32(0))
                        psum = np.float32(0)
                        for t in range(0, len(patch), K_TILE):
                            partial = np.float32(0)
                            for k in range(t, min(t + K_TILE, len(patch))):
                                partial = np.float32(partial + np.float32(patch[k] * weights[k]))
                            psum = np.float32(psum + partial)
                        if bias is not None:
                            psum = np.float32(psum + np.float32(bias[o]))
                        psum = min(max(psum, np.float32(low)), np.float32(high)) if not np.isnan(psum) else psum
                        out[n, o, oh, ow] = psum
    return out
