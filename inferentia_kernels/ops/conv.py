"""Convolutions on the tensor engine as GEMMs over im2col patches (ONNX Conv, ConvInteger,
QLinearConv).

Layout: activations NCHW, weights OIHW (O x C/groups x kH x kW). For group g the GEMM is
``out[p, o] = sum_k patches[p, k] * w[o, k]`` with p the output pixel ``(n, oh, ow)`` and
``k = ((c * kH) + i) * kW + j`` the (input channel within the group, kernel row, kernel column);
float precisions contract k in that order, in the tile order of the float engine; the patches are
gathered in bounded chunks of rows by the thread that uses them (implicit im2col) and results go
straight into the NCHW output. Integer sums do not depend on the order of k: the integer
convolutions use k = (i * kW + j) * C/groups + c and pack patch rows straight from a padded NHWC
copy of the input (contiguous channel runs), into all of packed A when that is small, else into
per-thread chunks; each tile then moves its block of the [pixels, channels] result into NCHW.
Scratch memory never holds the whole patch matrix (bounds in docs/kernels.md). Every op takes
``device=``: an ``inferentia_kernels.Device`` whose simulated cores own the output tiles and whose
open profiles record the convolution's GEMM view; None runs on the host. Padded pixels hold 0
(float) or the input zero point (integer), so they contribute nothing to integer sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeMismatchError, describe, invalid, wrong_dtype
from ..kernels.depthwise import depthwise_f32_planes, depthwise_i8_planes
from ..kernels.im2col import gather_patches, rows_to_planes, to_padded_nhwc
from ..kernels.int8_microkernel import pack_patches_groups
from ..numerics import QParams
from ._checks import int32_bias, integer_operand, zero_point
from . import _tiles
from ._float_engine import K_TILE, gemm_float_row_chunks
from ._scratch import scratch_vector
from ._int8_engine import Epilogue, Prepacked, conv_weight_matrices, gemm_int8_rows
from ._requant_params import requant_epilogue, scale_multipliers
from .matmul import PRECISIONS, float_activation_range, products_exact, round_to_precision
from .matmul_integer import warn_if_accumulator_can_wrap
from .requantize import output_qparams

__all__ = ["conv2d", "conv_integer", "im2col", "qlinear_conv"]

#: Integer convolutions pack all patch rows at once when that takes at most max(input bytes, this).
PACKED_PATCHES_BYTES = 4 * 1024 * 1024
#: Layout copies of fewer bytes run on the calling thread alone; larger ones go image by image
#: to the host threads as they come free.
PARALLEL_COPY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Geometry:
    """Sizes of one 2-D convolution, validated."""

    batch: int
    channels: int
    height: int
    width: int
    kernel_h: int
    kernel_w: int
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilation: tuple[int, int]
    groups: int
    out_h: int
    out_w: int

    @property
    def group_channels(self) -> int:
        return self.channels // self.groups

    @property
    def depth(self) -> int:
        """K of each group's GEMM."""
        return self.group_channels * self.kernel_h * self.kernel_w

    @property
    def pixels(self) -> int:
        return self.out_h * self.out_w


def _pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    items = (value, value) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(items, (tuple, list)) or len(items) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items)):
        raise invalid(op, name, f"an int >= {minimum} or a pair of them", repr(value))
    return int(items[0]), int(items[1])


def _pads(op: str, padding, size: tuple[int, int], kernel: tuple[int, int], stride, dilation) -> tuple[int, ...]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":  # ONNX SAME_UPPER: output = ceil(input / stride), extra pad at the end
        before, after = [], []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
            before.append(total // 2)
            after.append(total - total // 2)
        return (before[0], before[1], after[0], after[1])
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in padding):
            return tuple(int(v) for v in padding)
    else:
        try:
            ph, pw = _pair(op, "padding", padding, 0)
            return (ph, pw, ph, pw)
        except ValueError:
            pass
    raise invalid(op, "padding", 'an int, (ph, pw), (top, left, bottom, right), "valid" or "same"', repr(padding))


def geometry(op: str, x_shape: tuple, w_shape: tuple, kernel_only: bool, stride, padding, dilation,
             groups) -> Geometry:
    """Validated convolution sizes; ``w_shape`` is OIHW, or (kH, kW) when ``kernel_only``."""
    if len(x_shape) != 4:
        raise invalid(op, "x", "a 4-D NCHW array", f"shape {x_shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise invalid(op, "groups", "an int >= 1", repr(groups))
    batch, channels, height, width = x_shape
    if kernel_only:
        kernel_h, kernel_w = _pair(op, "kernel_shape", w_shape, 1)
    else:
        if len(w_shape) != 4:
            raise invalid(op, "w", "a 4-D OIHW array", f"shape {w_shape}")
        out_channels, group_channels, kernel_h, kernel_w = w_shape
        if channels % groups or out_channels % groups:
            raise invalid(op, "groups", f"a divisor of both C = {channels} and O = {out_channels}", groups)
        if group_channels != channels // groups:
            raise ShapeMismatchError(
                f"{op}: w must have C/groups = {channels // groups} input channels (axis 1), got shape {w_shape}"
            )
        if kernel_h < 1 or kernel_w < 1:
            raise invalid(op, "w", "a kernel of at least 1 x 1", f"shape {w_shape}")
    stride = _pair(op, "stride", stride, 1)
    dilation = _pair(op, "dilation", dilation, 1)
    pads = _pads(op, padding, (height, width), (kernel_h, kernel_w), stride, dilation)
    out_h = (height + pads[0] + pads[2] - dilation[0] * (kernel_h - 1) - 1) // stride[0] + 1
    out_w = (width + pads[1] + pads[3] - dilation[1] * (kernel_w - 1) - 1) // stride[1] + 1
    if out_h < 1 or out_w < 1:
        raise invalid(op, "x", "at least as large as the dilated kernel after padding", f"shape {x_shape}")
    return Geometry(batch, channels, height, width, kernel_h, kernel_w, stride, pads, dilation, int(groups),
                    out_h, out_w)


def record_convolution(op: str, geo: Geometry, out_channels: int, precision: str) -> None:
    """Record the convolution's GEMM view (one [Ho*Wo, K] x [K, O/groups] per group and image)."""
    _tiles.record_gemm(op, m=geo.pixels, k=geo.depth, n=out_channels // geo.groups, count=geo.groups,
                       batch=geo.batch, precision=precision)


def _depthwise(geo: Geometry) -> bool:
    """One input channel per group (depthwise, any channel multiplier): computed directly, since
    per-group GEMMs with a handful of columns would each cost more to set up than to run."""
    return geo.group_channels == 1 and geo.groups > 1


def _plane_ranges(out: np.ndarray) -> list[_tiles.Tile]:
    """The output's N x O planes (flat index n * O + o) in contiguous ranges inside one image each,
    at least one per thread."""
    batch, channels = out.shape[:2]
    step = max(1, -(-channels * batch // _tiles.THREADS))
    return [(n * channels + lo, n * channels + min(lo + step, channels), 0, 0)
            for n in range(batch) for lo in range(0, channels, step)]


def _plane_region(out: np.ndarray):
    """``region`` for ``_plane_ranges``: the planes of one image that a range covers."""
    channels = out.shape[1]
    return lambda planes: (planes[0] // channels, slice(planes[0] % channels, (planes[1] - 1) % channels + 1))


def _patch_filler(x: np.ndarray, geo: Geometry, group: int, pad_value):
    """``fill_rows`` for the row-chunk GEMMs: patch rows of one group, gathered from ``x``."""
    c_lo = group * geo.group_channels

    def fill(row_lo: int, buffer: np.ndarray) -> None:
        gather_patches(x, c_lo, geo.group_channels, geo.kernel_h, geo.kernel_w, geo.stride[0], geo.stride[1],
                       geo.pads[0], geo.pads[1], geo.dilation[0], geo.dilation[1], geo.out_h, geo.out_w,
                       row_lo, pad_value, buffer)

    return fill


def _output_rows(geo: Geometry, channels: slice):
    """``out_rows`` for the float row-chunk GEMMs: the index of rows [row_lo, row_hi) (pixels of
    one image) and ``channels`` in the [N, pixels, O] view of the NCHW output."""

    def index(row_lo: int, row_hi: int) -> tuple:
        n, p = divmod(row_lo, geo.pixels)
        return n, slice(p, p + (row_hi - row_lo)), channels

    return index


class _PatchRows:
    """The patch rows of one group of an integer convolution (a row source of the INT8 engine):
    row ``p`` is output pixel ``(n, oh, ow)``, k = (i * kW + j) * C/groups + c. Integer sums do not
    depend on the order of k, so this one reads contiguous channel runs from an NHWC image."""

    def __init__(self, image: np.ndarray, geo: Geometry, group: int):
        self.image, self.geo = image, geo
        self.c_lo = group * geo.group_channels
        self.rows, self.depth, self.dtype = geo.batch * geo.pixels, geo.depth, image.dtype

    def pack(self, flip, first, row_lo, row_hi, group, block, packed, row_sums) -> None:
        geo = self.geo
        pack_patches_groups(self.image, flip, self.c_lo, geo.group_channels, geo.kernel_h, geo.kernel_w,
                            *geo.stride, *geo.dilation, geo.out_h, geo.out_w, self.rows, first, row_lo, row_hi,
                            group, block, packed, row_sums)


def _padded_nhwc(x: np.ndarray, geo: Geometry, fill) -> np.ndarray:
    """x [N, C, H, W] as [N, H + pads, W + pads, C] with ``fill`` in the padding, in the calling
    thread's scratch (images spread over the host threads)."""
    top, left, bottom, right = geo.pads
    shape = (geo.batch, top + geo.height + bottom, left + geo.width + right, geo.channels)
    image = scratch_vector("conv nhwc", int(np.prod(shape)), x.dtype).reshape(shape)
    step = geo.batch if x.nbytes < PARALLEL_COPY_BYTES else 1
    _tiles.run_on_host(lambda images: to_padded_nhwc(x, images[0], images[1], top, left, fill, image),
                       [(lo, min(lo + step, geo.batch), 0, 0) for lo in range(0, geo.batch, step)])
    return image


def _integer_conv(op: str, x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups, make_epilogue):
    x = np.ascontiguousarray(integer_operand(op, "x", x))
    w = integer_operand(op, "w", w)
    geo = geometry(op, x.shape, w.shape, False, stride, padding, dilation, groups)
    zx = zero_point(op, "x_zero_point", x_zero_point, x.dtype, None)
    zw = zero_point(op, "w_zero_point", w_zero_point, w.dtype, w.shape[0])
    warn_if_accumulator_can_wrap(op, x, zx, w, zw, geo.depth)
    record_convolution(op, geo, w.shape[0], "int8")
    epilogue = make_epilogue(w.shape[0])
    out = np.empty((geo.batch, w.shape[0], geo.out_h, geo.out_w), epilogue.out_dtype)
    if _depthwise(geo):
        weights = w.weights if isinstance(w, Prepacked) else w
        multipliers, quantized, shifts = epilogue.arrays(w.shape[0])

        def run(planes: _tiles.Tile) -> None:
            depthwise_i8_planes(x, weights, zx, zw, *geo.stride, *geo.pads[:2], *geo.dilation, planes[0], planes[1],
                                epilogue.bias, epilogue.mode, multipliers, quantized, shifts,
                                np.int32(epilogue.zero_point), np.int32(epilogue.low), np.int32(epilogue.high), out)

        _tiles.run_tiles(run, _plane_ranges(out), out=out, region=_plane_region(out))
        return out
    if out.size == 0:
        return out
    image = _padded_nhwc(x, geo, x.dtype.type(zx))
    # Packed A whole (column strips: each thread reads only its part of B) up to this size, else
    # in row chunks: the scratch bound stated in docs/kernels.md.
    max_packed_bytes = max(x.nbytes, PACKED_PATCHES_BYTES)
    per_group = w.shape[0] // geo.groups
    if isinstance(w, Prepacked):
        weights = w.matrices(groups=geo.groups)
    else:
        weights = conv_weight_matrices(w, geo.groups)
    planes = out.reshape(geo.batch, w.shape[0], geo.pixels)
    for g in range(geo.groups):
        cols = slice(g * per_group, (g + 1) * per_group)
        group_epilogue = Epilogue(
            bias=epilogue.bias[cols], mode=epilogue.mode,
            multipliers=None if epilogue.multipliers is None else epilogue.multipliers[cols],
            quantized_multipliers=None if epilogue.quantized_multipliers is None else epilogue.quantized_multipliers[cols],
            shifts=None if epilogue.shifts is None else epilogue.shifts[cols],
            zero_point=epilogue.zero_point, low=epilogue.low, high=epilogue.high, out_dtype=epilogue.out_dtype,
        )

        def to_nchw(tile: _tiles.Tile, rows: np.ndarray, channel_lo: int = cols.start) -> None:
            """out[n, channel_lo + o, oh, ow] = rows[m, o] for the tile's block, (n * Ho + oh) * Wo + ow = tile[0] + m."""
            rows_to_planes(rows, tile[0], tile[2], tile[3], geo.pixels, channel_lo, planes)

        gemm_int8_rows(_PatchRows(image, geo, g), weights[g], int(zx), zw[cols], group_epilogue, None,
                       max_packed_bytes, tile_done=to_nchw, b_positions=geo.kernel_h * geo.kernel_w)
    return out


@_tiles.device_op("conv_integer")
def conv_integer(x, w, x_zero_point=0, w_zero_point=0, *, stride=1, padding=0, dilation=1, groups=1,
                 device=None) -> np.ndarray:
    """Integer convolution with int32 results (ONNX ConvInteger).

    ``x`` int8/uint8 [N, C, H, W], ``w`` int8/uint8 [O, C/groups, kH, kW]; ``x_zero_point`` a
    scalar, ``w_zero_point`` a scalar or one per output channel. Padded pixels hold
    ``x_zero_point``. Returns int32 [N, O, Ho, Wo], exact (wrapping modulo 2**32 beyond int32,
    with a warning when K and the zero points allow it).
    """
    return _integer_conv("conv_integer", x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups,
                         lambda out_channels: Epilogue(bias=np.zeros(out_channels, np.int32)))


@_tiles.device_op("qlinear_conv")
def qlinear_conv(x, x_qp: QParams, w, w_qp: QParams, y_qp: QParams, *, bias=None, stride=1, padding=0,
                 dilation=1, groups=1, activation=None, mode: str = "float", device=None) -> np.ndarray:
    """Quantized convolution (ONNX QLinearConv), requantized in the kernel's epilogue.

    ``x_qp`` per tensor; ``w_qp`` per tensor or per output channel (axis 0); ``y_qp`` per tensor.
    The multiplier of output channel o is ``f32(f32(s_x * s_w[o]) / s_y)`` in float mode and
    ``float(s_x) * float(s_w[o]) / float(s_y)`` in the fixed-point modes; ``bias`` is int32 [O]
    in the accumulator's scale. Returns ``y_qp.dtype`` [N, O, Ho, Wo].
    """
    op = "qlinear_conv"
    x_arr, w_arr = np.asarray(x), integer_operand(op, "w", w)
    for name, qp, array in (("x_qp", x_qp, x_arr), ("w_qp", w_qp, w_arr)):
        if not isinstance(qp, QParams):
            raise wrong_dtype(op, name, "a QParams", describe(qp))
        if qp.dtype != array.dtype:
            raise wrong_dtype(op, name, f"parameters for {array.dtype} (the dtype of {name[0]})", qp.dtype)
    if x_qp.per_axis:
        raise invalid(op, "x_qp", "per tensor (scalar scale)", x_qp)
    if w_qp.per_axis and (w_qp.axis not in (0, -4) or w_qp.scale.size != w_arr.shape[0]):
        raise invalid(op, "w_qp", f"per tensor or per output channel (axis 0 with {w_arr.shape[0]} scales)", w_qp)
    y_qp = output_qparams(op, y_qp)

    def epilogue(out_channels: int) -> Epilogue:
        float_multipliers, real_multipliers = scale_multipliers(x_qp, np.broadcast_to(w_qp.scale, (out_channels,)), y_qp)
        return requant_epilogue(op, mode, real_multipliers, float_multipliers, y_qp, activation,
                                int32_bias(op, bias, out_channels), "x_qp.scale * w_qp.scale / y_qp.scale")

    return _integer_conv(op, x_arr, w_arr, x_qp.zero_point, w_qp.zero_point, stride, padding, dilation, groups,
                         epilogue)


@_tiles.device_op("conv2d")
def conv2d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1, precision: str = "bf16",
           activation=None, device=None) -> np.ndarray:
    """Float convolution (ONNX Conv) on the float tensor engine.

    Inputs are rounded once to ``precision`` ("bf16", "fp16", "fp32": none) and accumulated in
    float32 in the engine's order over ``k = ((c * kH) + i) * kW + j``; then ``bias`` (float
    [O]) and ``activation``. Returns float32 [N, O, Ho, Wo].
    """
    op = "conv2d"
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise invalid(op, "precision", f"one of {PRECISIONS}", repr(precision))
    x32 = np.ascontiguousarray(round_to_precision(op, "x", x, precision))
    w32 = round_to_precision(op, "w", w, precision)
    geo = geometry(op, x32.shape, w32.shape, False, stride, padding, dilation, groups)
    out_channels = w32.shape[0]
    record_convolution(op, geo, out_channels, precision)
    if bias is None:
        bias32 = np.zeros(out_channels, np.float32)
    else:
        bias32 = round_to_precision(op, "bias", bias, "fp32")
        if bias32.shape != (out_channels,):
            raise invalid(op, "bias", f"of shape ({out_channels},), one per output channel", describe(bias32))
    low, high = float_activation_range(op, activation)
    out = np.empty((geo.batch, out_channels, geo.out_h, geo.out_w), np.float32)
    per_group = out_channels // geo.groups
    exact = products_exact(x32, w32, precision)
    if _depthwise(geo):
        w32 = np.ascontiguousarray(w32)

        def run(planes: _tiles.Tile) -> None:
            depthwise_f32_planes(x32, w32, K_TILE, *geo.stride, *geo.pads[:2], *geo.dilation, planes[0], planes[1],
                                 bias32, low, high, exact, out)

        _tiles.run_tiles(run, _plane_ranges(out), out=out, region=_plane_region(out))
        return out
    pixels_by_channel = out.reshape(geo.batch, out_channels, geo.pixels).transpose(0, 2, 1)  # a view
    weights = conv_weight_matrices(w32, geo.groups)
    for g in range(geo.groups):
        cols = slice(g * per_group, (g + 1) * per_group)
        gemm_float_row_chunks(_patch_filler(x32, geo, g, np.float32(0)), pixels_by_channel,
                              _output_rows(geo, cols), geo.batch * geo.pixels, geo.pixels, weights[g],
                              bias32[cols], low, high, exact)
    return out


def im2col(x, kernel_shape, *, stride=1, padding=0, dilation=1, pad_value=0) -> np.ndarray:
    """The patch matrix of a convolution: [N, C * kH * kW, Ho * Wo] with row
    ``k = ((c * kH) + i) * kW + j`` and column ``oh * Wo + ow``, padded with ``pad_value``.

    ``x`` is NCHW of any real dtype; the result has x's dtype. (The convolutions do not call this:
    they gather the same values in bounded chunks.)
    """
    op = "im2col"
    array = np.ascontiguousarray(np.asarray(x))
    if array.dtype.kind not in "fiu" and array.dtype.name != "bfloat16":
        raise wrong_dtype(op, "x", "a real numeric array", describe(array))
    geo = geometry(op, array.shape, kernel_shape, True, stride, padding, dilation, 1)
    try:
        pad = np.array(pad_value).astype(array.dtype, casting="safe" if np.ndim(pad_value) else "unsafe")
    except TypeError:
        raise invalid(op, "pad_value", f"a number representable in {array.dtype}", repr(pad_value)) from None
    if pad.ndim or pad != pad_value and not (np.isnan(pad) and np.isnan(pad_value)):
        raise invalid(op, "pad_value", f"a number representable in {array.dtype}", repr(pad_value))
    rows = np.empty((geo.batch * geo.pixels, geo.depth), array.dtype)
    # numba has no 16-bit float arrays: move their bit patterns (im2col only copies values).
    numeric = array.view(np.uint16) if array.dtype.name in ("bfloat16", "float16") else array
    if rows.size:
        gather_patches(numeric, 0, geo.channels, geo.kernel_h, geo.kernel_w, geo.stride[0], geo.stride[1],
                       geo.pads[0], geo.pads[1], geo.dilation[0], geo.dilation[1], geo.out_h, geo.out_w, 0,
                       pad.view(numeric.dtype)[()], rows.view(numeric.dtype))
    return np.ascontiguousarray(rows.reshape(geo.batch, geo.pixels, geo.depth).transpose(0, 2, 1))
