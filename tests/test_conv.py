"""Bit-exact tests of the convolutions, ``ik.ops.conv_integer`` (ONNX ConvInteger),
``ik.ops.qlinear_conv`` (ONNX QLinearConv), ``ik.ops.conv2d`` (ONNX Conv on the float engine) and
``ik.ops.im2col`` (DESIGN.md §1-§2, docs/numerics.md §8).

Oracles:
- ``inferentia_kernels.reference.conv`` (direct loops: ``conv_integer``, ``conv_float`` in the float
  engine's tile order) and ``reference.requantize.requantize`` for the requantizing op; the direct
  loops cost about 0.5 µs (integer) / 1 µs (float) per MAC, so hypothesis cases are capped at
  ``MAX_REF_MACS``;
- a one-hot input swept over every pixel, with the expected output *scattered* from the weights
  (the transposed view of the definition), which catches every indexing bug;
- ``numpy_im2col``: the patch matrix built from the definition with ``np.pad`` and strided slices;
- ``ik.ops.matmul`` / ``ik.ops.matmul_integer`` of those patches (the GEMM view of §8.2).

Every integer comparison checks dtype, shape and every element; every float comparison checks
float32 bit patterns (so -0.0 vs +0.0 counts). Padding is given to the library in all its forms
(int, pair, 4-tuple, "valid", "same") and to the reference as explicit (top, left, bottom, right)
pads computed here, independently of the library.
"""

from __future__ import annotations

import itertools
import math
import re
import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import inferentia_kernels as ik
from inferentia_kernels.errors import InferentiaKernelsError
from inferentia_kernels.ops import _float_engine, _int8_engine, _scratch, _tiles
from inferentia_kernels.ops import conv as conv_module
from inferentia_kernels.reference import conv as ref_conv
from inferentia_kernels.reference import requantize as ref_rq
from float_bits import assert_same_bits, bits
from int8_cases import expected_activation_range, fill_array, info, zero_point_value

QParams = ik.QParams
U8, S8 = np.dtype(np.uint8), np.dtype(np.int8)
BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [U8, S8]
DTYPE_PAIRS = list(itertools.product(DTYPES, repeat=2))
DTYPE_TRIPLES = list(itertools.product(DTYPES, repeat=3))
MODES = ("float", "fixed_point", "fixed_point_single")
PRECISIONS = ("bf16", "fp16", "fp32")
ACTIVATIONS = (None, "relu", "relu6", (-1.5, 2.25))
K_TILE = 128
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: Largest N·O·Ho·Wo·K one hypothesis example may cost with the slow direct reference.
MAX_REF_MACS = 24_000

seeds = st.integers(0, 2**32 - 1)


def ids(value):
    if isinstance(value, np.dtype):
        return value.name
    return None


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def assert_same(expected: np.ndarray, actual: np.ndarray, context: str = "") -> None:
    """Bit-exact for integer results: same dtype, same shape, every element equal."""
    assert isinstance(actual, np.ndarray), (type(actual), context)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, context)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, context)
    assert actual.flags.writeable, context
    np.testing.assert_array_equal(actual, expected, err_msg=context, strict=True)


def as_pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))


def explicit_pads(padding, size, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of every padding form (DESIGN.md §1; "same" is ONNX SAME_UPPER),
    written here independently of the library."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        assert padding == "same", padding
        before, after = [], []
        for n, k, s, d in zip(size, kernel, as_pair(stride), as_pair(dilation)):
            out = math.ceil(n / s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            before.append(total // 2)
            after.append(total - total // 2)
        return (before[0], before[1], after[0], after[1])
    if np.ndim(padding) == 0:
        return (int(padding),) * 4
    if len(padding) == 2:
        return (int(padding[0]), int(padding[1])) * 2
    return tuple(int(p) for p in padding)


def out_size(n, k, s, d, before, after) -> int:
    return (n + before + after - d * (k - 1) - 1) // s + 1


def output_hw(x_shape, kernel, stride, padding, dilation) -> tuple[int, int]:
    pads = explicit_pads(padding, x_shape[2:], kernel, stride, dilation)
    (sh, sw), (dh, dw) = as_pair(stride), as_pair(dilation)
    return (out_size(x_shape[2], kernel[0], sh, dh, pads[0], pads[2]),
            out_size(x_shape[3], kernel[1], sw, dw, pads[1], pads[3]))


def reference_conv_integer(x, w, xz, wz, stride, padding, dilation, groups) -> np.ndarray:
    pads = explicit_pads(padding, x.shape[2:], w.shape[2:], stride, dilation)
    wz_vector = np.broadcast_to(np.asarray(wz).astype(np.int64).reshape(-1), (w.shape[0],))
    return ref_conv.conv_integer(x, w, int(np.asarray(xz).reshape(())), wz_vector, as_pair(stride), pads,
                                 as_pair(dilation), groups)


def float_bounds(activation) -> tuple[float, float]:
    """The clamp of DESIGN.md §1 for a float output (bounds rounded to float32)."""
    if activation is None:
        return -np.inf, np.inf
    if activation == "relu":
        return 0.0, np.inf
    if activation == "relu6":
        return 0.0, 6.0
    return float(np.float32(activation[0])), float(np.float32(activation[1]))


def reference_conv_float(x, w, bias, stride, padding, dilation, groups, precision, activation=None) -> np.ndarray:
    pads = explicit_pads(padding, x.shape[2:], w.shape[2:], stride, dilation)
    low, high = float_bounds(activation)
    return ref_conv.conv_float(x, w, bias, as_pair(stride), pads, as_pair(dilation), groups, precision, low, high)


def float_multipliers(sx, sw, sy) -> np.ndarray:
    """Float mode: f32(f32(sx · sw[o]) / sy), every operation in float32."""
    with np.errstate(over="ignore", under="ignore"):
        return (np.float32(sx) * np.asarray(sw, np.float32)) / np.float32(sy)


def real_multipliers(sx, sw, sy) -> np.ndarray:
    """Fixed-point modes: float(sx) · float(sw[o]) / float(sy) in float64."""
    return float(np.float32(sx)) * np.asarray(sw, np.float32).astype(np.float64) / float(np.float32(sy))


def reference_qlinear_conv(x, x_qp: QParams, w, w_qp: QParams, y_qp: QParams, bias, stride, padding, dilation,
                           groups, activation, mode) -> np.ndarray:
    """requantize(reference.conv_integer(...) + bias, multiplier per output channel)."""
    out_channels = w.shape[0]
    acc = reference_conv_integer(x, w, x_qp.zero_point, w_qp.zero_point, stride, padding, dilation, groups)
    acc = acc.astype(np.int64)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)[None, :, None, None]
        acc = ((acc - INT32_MIN) % 2**32 + INT32_MIN).astype(np.int64)  # int32 wrap-around
    sw = np.broadcast_to(np.asarray(w_qp.scale), (out_channels,))
    if mode == "float":
        multiplier = float_multipliers(x_qp.scale, sw, y_qp.scale).astype(np.float64)
    else:
        multiplier = real_multipliers(x_qp.scale, sw, y_qp.scale)
    rng = expected_activation_range(activation, y_qp.scale, int(y_qp.zero_point), y_qp.dtype)
    channels_last = np.moveaxis(acc, 1, -1)
    y = ref_rq.requantize(channels_last, multiplier, int(y_qp.zero_point), y_qp.dtype, mode=mode,
                          activation_range=rng)
    return np.ascontiguousarray(np.moveaxis(y, -1, 1))


def numpy_im2col(x: np.ndarray, kernel, stride, padding, dilation, pad_value) -> np.ndarray:
    """[N, C·kH·kW, Ho·Wo] from the definition: pad with ``pad_value``, then for each (c, i, j) in
    k order the strided window x_pad[n, c, i·dH + oh·sH, j·dW + ow·sW]."""
    kh, kw = kernel
    (sh, sw), (dh, dw) = as_pair(stride), as_pair(dilation)
    top, left, bottom, right = explicit_pads(padding, x.shape[2:], kernel, stride, dilation)
    ho, wo = output_hw(x.shape, kernel, stride, padding, dilation)
    padded = np.full((x.shape[0], x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right),
                     np.array(pad_value).astype(x.dtype), x.dtype)
    padded[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    rows = []
    for c in range(x.shape[1]):
        for i in range(kh):
            for j in range(kw):
                window = padded[:, c, i * dh: i * dh + (ho - 1) * sh + 1: sh, j * dw: j * dw + (wo - 1) * sw + 1: sw]
                assert window.shape[1:] == (ho, wo)
                rows.append(window.reshape(x.shape[0], ho * wo))
    return np.stack(rows, axis=1)


# ------------------------------------------------------------------------------------------------
# strategies and data
# ------------------------------------------------------------------------------------------------

FILLS = ("random", "min", "max", "minmax", "zero_point", "near_extremes")


@st.composite
def x_zero_point(draw, dt):
    """A scalar zero point: Python int, numpy scalar of x's dtype, int32 0-d or size-1 array."""
    value = draw(zero_point_value(dt))
    kind = draw(st.sampled_from(["int", "numpy", "int32", "size1"]))
    if kind == "int":
        return value
    if kind == "numpy":
        return dt.type(value)
    if kind == "int32":
        return np.int32(value)
    return np.array([value], dt)


@st.composite
def w_zero_point(draw, dt, out_channels: int):
    """A scalar or one per output channel (in w's dtype or int32)."""
    if draw(st.booleans()):
        values = draw(st.lists(zero_point_value(dt), min_size=out_channels, max_size=out_channels))
        return np.array(values, draw(st.sampled_from([dt, np.dtype(np.int32)])))
    return draw(x_zero_point(dt))


small = st.integers(1, 3)
pair_or_int = st.one_of(small, st.tuples(small, small))
pad_amount = st.integers(0, 3)
padding_strategy = st.one_of(
    pad_amount,
    st.tuples(pad_amount, pad_amount),
    st.tuples(pad_amount, pad_amount, pad_amount, pad_amount),
    st.lists(pad_amount, min_size=4, max_size=4),
    st.sampled_from(["valid", "same"]),
)


@st.composite
def conv_geometry(draw, max_macs: int = MAX_REF_MACS, max_batch: int = 3):
    """A valid convolution: dict(batch, channels, out_channels, groups, hw, kernel, stride, padding,
    dilation), dense, grouped or depthwise (including channel multipliers > 1)."""
    layout = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if layout == "dense":
        groups, per_group_in, multiplier = 1, draw(st.integers(1, 6)), draw(st.integers(1, 6))
    elif layout == "grouped":
        groups = draw(st.integers(2, 3))
        per_group_in, multiplier = draw(st.integers(1, 6 // groups)), draw(st.integers(1, 3))
    else:  # depthwise: groups = C, O = multiplier · C
        groups, per_group_in, multiplier = draw(st.integers(1, 6)), 1, draw(st.integers(1, 3))
    channels, out_channels = groups * per_group_in, groups * multiplier
    batch = draw(st.integers(1, max_batch))
    hw = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    kernel = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    stride = draw(pair_or_int)
    dilation = draw(pair_or_int)
    padding = draw(padding_strategy)
    if min(output_hw((1, 1, *hw), kernel, stride, padding, dilation)) < 1:
        dilation = 1  # make it fit: first undilate, then shrink the kernel to the padded input
        if min(output_hw((1, 1, *hw), kernel, stride, padding, dilation)) < 1:
            pads = explicit_pads(padding, hw, kernel, stride, dilation)
            kernel = [min(kernel[0], hw[0] + pads[0] + pads[2]), min(kernel[1], hw[1] + pads[1] + pads[3])]
    out_hw = output_hw((1, 1, *hw), kernel, stride, padding, dilation)
    assert min(out_hw) >= 1
    macs = out_channels * out_hw[0] * out_hw[1] * per_group_in * kernel[0] * kernel[1]
    batch = max(1, min(batch, max_macs // max(macs, 1)))
    assume(batch * macs <= max_macs)
    return dict(batch=batch, channels=channels, out_channels=out_channels, groups=groups, hw=hw,
                kernel=tuple(kernel), stride=stride, padding=padding, dilation=dilation)


def conv_kwargs(geo) -> dict:
    return dict(stride=geo["stride"], padding=geo["padding"], dilation=geo["dilation"], groups=geo["groups"])


def shapes(geo) -> tuple[tuple, tuple]:
    x_shape = (geo["batch"], geo["channels"], *geo["hw"])
    w_shape = (geo["out_channels"], geo["channels"] // geo["groups"], *geo["kernel"])
    return x_shape, w_shape


def describe_geo(geo) -> str:
    x_shape, w_shape = shapes(geo)
    return (f"x{x_shape} w{w_shape} stride={geo['stride']} padding={geo['padding']!r} "
            f"dilation={geo['dilation']} groups={geo['groups']}")


FLOAT_KINDS = ("normal", "wide", "ints", "cancel", "special")


def random_float(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    """float32 data; "cancel" makes the summation order visible, "special" adds ±0, ±Inf,
    subnormals and values at the fp16 / bf16 rounding edges (no NaN inputs: when two NaN payloads
    meet IEEE does not say which survives)."""
    with np.errstate(all="ignore"):
        if kind == "normal":
            x = rng.standard_normal(shape)
        elif kind == "wide":
            x = rng.choice([-1.0, 1.0], shape) * np.ldexp(1.0 + rng.random(shape), rng.integers(-30, 31, shape))
        elif kind == "ints":
            x = rng.integers(-3, 4, shape).astype(np.float64)
        elif kind == "cancel":
            big = rng.choice([-1.0, 1.0], shape) * np.ldexp(1.0, rng.integers(12, 31, shape))
            small_values = rng.choice([-1.0, -0.5, 0.5, 1.0, 2.0**-10, 3.0], shape)
            x = np.where(rng.random(shape) < 0.3, big, small_values)
        else:
            x = rng.standard_normal(shape)
            specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-45, 3e38, -3e38, 65504.0, 65520.0,
                                 2.0**24, 1.0 + 2.0**-8, 1.0 + 2.0**-11], np.float64)
            x = np.where(rng.random(shape) < 0.05, rng.choice(specials, shape), x)
        return np.asarray(x).astype(np.float32)


float_activation = st.one_of(
    st.sampled_from(ACTIVATIONS),
    st.tuples(st.floats(-8, 8, width=32), st.floats(-8, 8, width=32)).map(lambda p: (min(p), max(p))),
)


def quantized_activation():
    bound = st.one_of(st.floats(-300, 300), st.integers(-300, 300).map(float),
                      st.sampled_from([0.0, 6.0, -0.5, 0.5, -float("inf"), float("inf")]))
    pair = st.tuples(bound, bound).map(lambda p: (min(p), max(p)))
    return st.one_of(st.none(), st.sampled_from(["relu", "relu6"]), pair)


# Scales: exact powers of two (acc · s lands on .5 ties) or arbitrary float32 values.
pow2_scale = st.integers(-12, 4).map(lambda e: 2.0**e)
any_scale = st.floats(2.0**-13, 4.0, width=32)
scale = st.one_of(pow2_scale, any_scale, st.sampled_from([0.0066, 0.00705, 0.0107, 1 / 3]))
out_scale = st.one_of(scale, st.sampled_from([1e-6, 1e-4]))


# ------------------------------------------------------------------------------------------------
# 1. bit-exact against the direct reference
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
@settings(max_examples=100)
@given(geo=conv_geometry(), fills=st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)), seed=seeds,
       data=st.data())
def test_conv_integer_vs_reference(tx, tw, geo, fills, seed, data):
    rng = np.random.default_rng(seed)
    x_shape, w_shape = shapes(geo)
    xz = data.draw(x_zero_point(tx), label="x_zero_point")
    wz = data.draw(w_zero_point(tw, w_shape[0]), label="w_zero_point")
    x = fill_array(rng, tx, x_shape, fills[0], int(np.asarray(xz).reshape(-1)[0]))
    w = fill_array(rng, tw, w_shape, fills[1], int(np.asarray(wz).reshape(-1)[0]))
    expected = reference_conv_integer(x, w, xz, wz, geo["stride"], geo["padding"], geo["dilation"], geo["groups"])
    actual = ik.ops.conv_integer(x, w, xz, wz, **conv_kwargs(geo))
    assert_same(expected, actual, f"{describe_geo(geo)} xz={xz!r} wz={wz!r}")


@settings(max_examples=150)
@given(geo=conv_geometry(), precision=st.sampled_from(PRECISIONS),
       kinds=st.tuples(st.sampled_from(FLOAT_KINDS), st.sampled_from(FLOAT_KINDS)),
       with_bias=st.booleans(), activation=float_activation, seed=seeds)
def test_conv2d_vs_reference(geo, precision, kinds, with_bias, activation, seed):
    rng = np.random.default_rng(seed)
    x_shape, w_shape = shapes(geo)
    x = random_float(rng, x_shape, kinds[0])
    w = random_float(rng, w_shape, kinds[1])
    bias = random_float(rng, (w_shape[0],), "normal") if with_bias else None
    expected = reference_conv_float(x, w, bias, geo["stride"], geo["padding"], geo["dilation"], geo["groups"],
                                    precision, activation)
    actual = ik.ops.conv2d(x, w, bias, precision=precision, activation=activation, **conv_kwargs(geo))
    assert_same_bits(actual, expected, f"{describe_geo(geo)} {precision} {kinds} bias={with_bias} {activation!r}")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("channels", "groups", "kernel", "padding", "stride"), [
    (20, 1, (3, 3), 1, 1),  # K = 180: the k = 128 tile boundary falls inside channel 14
    (40, 2, (3, 3), (1, 0, 0, 2), 2),  # K = 180 per group
    (29, 1, (3, 3), "same", (1, 2)),  # K = 261: three tiles, the last one of 5 products
    (33, 1, (2, 2), "valid", 1),  # K = 132
    (64, 1, (1, 2), 0, 1),  # K = 128 exactly: one full tile
])
def test_conv2d_k_beyond_one_tile(precision, channels, groups, kernel, padding, stride):
    """K > 128: the tile partials go into the PSUM in ascending order (§2), with cancellation-heavy
    data so that any other order changes bits."""
    rng = np.random.default_rng(channels * 7 + groups)
    x = random_float(rng, (2, channels, 4, 5), "cancel")
    w = random_float(rng, (4, channels // groups, *kernel), "cancel" if precision == "fp32" else "normal")
    bias = random_float(rng, (4,), "normal")
    expected = reference_conv_float(x, w, bias, stride, padding, 1, groups, precision, "relu6")
    actual = ik.ops.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups, precision=precision,
                           activation="relu6")
    assert_same_bits(actual, expected, f"C={channels} groups={groups} kernel={kernel}")
    plain = ik.ops.conv2d(x, w, None, stride=stride, padding=padding, groups=groups, precision=precision)
    assert_same_bits(plain, reference_conv_float(x, w, None, stride, padding, 1, groups, precision))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_conv2d_input_forms(precision):
    """16-bit and float64 inputs are widened (float64 through float32) and rounded once; strided,
    read-only and non-contiguous inputs give the contiguous result; inputs are not written to."""
    rng = np.random.default_rng(14)
    x = random_float(rng, (2, 6, 7, 5), "normal")
    w = random_float(rng, (4, 3, 3, 2), "normal")
    kwargs = dict(padding=(1, 0, 2, 1), stride=(2, 1), groups=2, precision=precision)
    expected = ik.ops.conv2d(x, w, **kwargs)
    assert_same_bits(expected, reference_conv_float(x, w, None, (2, 1), (1, 0, 2, 1), 1, 2, precision))
    assert_same_bits(ik.ops.conv2d(x.astype(np.float64), w.astype(np.float64), **kwargs), expected, "float64")
    for dtype in (BF16, np.dtype(np.float16)):
        x16, w16 = x.astype(dtype), w.astype(dtype)
        assert_same_bits(ik.ops.conv2d(x16, w16, **kwargs),
                         ik.ops.conv2d(x16.astype(np.float32), w16.astype(np.float32), **kwargs), dtype.name)
    big = random_float(rng, (2, 12, 14, 5), "normal")
    strided = big[:, ::2, ::2]
    before = big.copy()
    x_strided = np.ascontiguousarray(strided)
    assert_same_bits(ik.ops.conv2d(strided, w, **kwargs), ik.ops.conv2d(x_strided, w, **kwargs), "strided")
    x_ro = x.copy()
    x_ro.setflags(write=False)
    assert_same_bits(ik.ops.conv2d(x_ro, np.asfortranarray(w), **kwargs), expected, "read-only / Fortran")
    assert_same_bits(big, before)


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
def test_conv_integer_input_forms(tx, tw):
    rng = np.random.default_rng(15)
    big = fill_array(rng, tx, (2, 8, 12, 5), "random")
    x = big[:, ::2, ::2]  # non-contiguous
    w = fill_array(rng, tw, (6, 2, 2, 3), "random")
    kwargs = dict(padding="same", dilation=(1, 2), groups=2)
    expected = ik.ops.conv_integer(np.ascontiguousarray(x), w, 5, 1, **kwargs)
    assert_same(reference_conv_integer(x, w, 5, 1, 1, "same", (1, 2), 2), expected)
    assert_same(expected, ik.ops.conv_integer(x, np.asfortranarray(w), 5, 1, **kwargs))
    w_ro = w.copy()
    w_ro.setflags(write=False)
    assert_same(expected, ik.ops.conv_integer(x, w_ro, np.array([5]), np.full(6, 1, np.int32), **kwargs))


def test_worked_example_of_the_docs():
    """docs/numerics.md §8.2: x [2, 6, 5, 7], w [4, 3, 3, 3] one-hot at [3, 2, 1, 0], groups 2,
    stride (2, 1), dilation (1, 2), "same": out[1, 3, 2, 3] = x[1, 5, 4, 1] = 415, out[1, 3, 2, 0] = 0."""
    x = (np.arange(420).reshape(2, 6, 5, 7) + 1).astype(np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    w[3, 2, 1, 0] = 1.0
    kwargs = dict(stride=(2, 1), dilation=(1, 2), padding="same", groups=2)
    assert explicit_pads("same", (5, 7), (3, 3), (2, 1), (1, 2)) == (1, 2, 1, 2)
    out = ik.ops.conv2d(x, w, precision="fp32", **kwargs)
    assert out.shape == (2, 4, 3, 7)
    assert out[1, 3, 2, 3] == 415.0 == x[1, 5, 4, 1]
    assert bits(out[1, 3, 2, 0]).tolist() == [0]
    assert_same_bits(out, reference_conv_float(x, w, None, precision="fp32", **kwargs))
    cols = ik.ops.im2col(x, (3, 3), stride=(2, 1), dilation=(1, 2), padding="same")
    k, p = ((2 * 3) + 1) * 3 + 0, 2 * 7 + 3  # group 1 starts at row 27 of the all-channel im2col
    assert cols[1, 27 + k, p] == x[1, 5, 4, 1]
    assert cols[1, 27 + k, 2 * 7 + 0] == 0.0


# ------------------------------------------------------------------------------------------------
# 2. qlinear_conv against requantize(reference.conv_integer + bias)
# ------------------------------------------------------------------------------------------------


@st.composite
def int32_bias(draw, out_channels: int):
    if draw(st.booleans()):
        return None
    element = st.one_of(st.integers(-(2**20), 2**20), st.integers(-300, 300),
                        st.sampled_from([INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1]))
    return np.array(draw(st.lists(element, min_size=out_channels, max_size=out_channels)), np.int32)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=100)
@given(geo=conv_geometry(), types=st.sampled_from(DTYPE_TRIPLES),
       fills=st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)), seed=seeds, data=st.data())
def test_qlinear_conv_vs_composition(mode, geo, types, fills, seed, data):
    tx, tw, ty = types
    rng = np.random.default_rng(seed)
    x_shape, w_shape = shapes(geo)
    out_channels = w_shape[0]
    xz = data.draw(zero_point_value(tx), label="xz")
    x_qp = QParams(data.draw(scale, label="sx"), xz, tx)
    if data.draw(st.booleans(), label="per_channel"):
        sw = np.array(data.draw(st.lists(scale, min_size=out_channels, max_size=out_channels), label="sw"),
                      np.float32)
        zw = data.draw(st.one_of(zero_point_value(tw), st.lists(zero_point_value(tw), min_size=out_channels,
                                                                 max_size=out_channels)), label="zw")
        w_qp = QParams(sw, zw, tw, axis=data.draw(st.sampled_from([0, -4]), label="axis"))
    else:
        w_qp = QParams(data.draw(scale, label="sw"), data.draw(zero_point_value(tw), label="zw"), tw)
    y_qp = QParams(data.draw(out_scale, label="sy"), data.draw(zero_point_value(ty), label="zy"), ty)
    bias = data.draw(int32_bias(out_channels), label="bias")
    activation = data.draw(quantized_activation(), label="activation")
    x = fill_array(rng, tx, x_shape, fills[0], xz)
    w = fill_array(rng, tw, w_shape, fills[1], int(np.asarray(w_qp.zero_point).reshape(-1)[0]))
    expected = reference_qlinear_conv(x, x_qp, w, w_qp, y_qp, bias, geo["stride"], geo["padding"],
                                      geo["dilation"], geo["groups"], activation, mode)
    actual = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=bias, activation=activation, mode=mode,
                                 **conv_kwargs(geo))
    assert_same(expected, actual, f"{describe_geo(geo)} {x_qp} {w_qp} {y_qp} bias={bias} {activation!r} {mode}")


def test_multiplier_formulas_match_the_reference():
    """The multipliers composed above are reference.requantize.qlinear_multiplier's."""
    sx, sy = np.float32(0.0066), np.float32(1 / 3)
    sw = np.array([0.00705, 0.0107, 2.0**-7, 1.7], np.float32)
    for mode in MODES:
        ours = float_multipliers(sx, sw, sy) if mode == "float" else real_multipliers(sx, sw, sy)
        theirs = ref_rq.qlinear_multiplier(sx, sw, sy, 4, mode)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), mode


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("tx", "tw", "ty"), DTYPE_TRIPLES, ids=ids)
def test_qlinear_conv_ties_and_saturation(tx, tw, ty, mode):
    """acc · 2^-e lands on .5 ties; tiny output scales saturate; per-channel scales and zero points."""
    rng = np.random.default_rng(5)
    x = fill_array(rng, tx, (2, 4, 6, 5), "random")
    w = fill_array(rng, tw, (6, 2, 3, 2), "near_extremes")
    zw = fill_array(rng, tw, (6,), "random")
    kwargs = dict(stride=(1, 2), padding=(2, 0, 1, 3), dilation=(2, 1), groups=2)
    for sx, sw, sy in [(0.5, [2.0**-e for e in range(6)], 1.0), (0.05, [0.0107] * 6, 1e-6), (1.0, [1.0] * 6, 4.0)]:
        x_qp = QParams(sx, info(tx)[1] - 3, tx)
        w_qp = QParams(np.array(sw, np.float32), zw, tw, axis=0)
        y_qp = QParams(sy, 0 if ty == S8 else 100, ty)
        bias = np.arange(-3, 3, dtype=np.int32) * 1000
        for activation in (None, "relu", (-2.0, 3.0)):
            expected = reference_qlinear_conv(x, x_qp, w, w_qp, y_qp, bias, activation=activation, mode=mode,
                                              **kwargs)
            actual = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=bias, activation=activation, mode=mode,
                                         **kwargs)
            assert_same(expected, actual, f"{sx} {sw} {sy} {activation!r}")


# ------------------------------------------------------------------------------------------------
# 3. one-hot sweeps and im2col
# ------------------------------------------------------------------------------------------------


def one_hot_batch(channels: int, height: int, width: int, background, value, dtype) -> np.ndarray:
    """Image p of the batch is ``background`` everywhere but ``value`` at pixel p = (c, y, x)."""
    count = channels * height * width
    x = np.full((count, channels, height, width), background, dtype)
    x.reshape(count, count)[np.arange(count), np.arange(count)] = value
    return x


def scattered(w_effective: np.ndarray, x_shape, stride, padding, dilation, groups) -> np.ndarray:
    """Expected output of a one-hot batch (``one_hot_batch``) with unit value: image p = (c, y, x)
    sends weight w[o, c - g·C/G, i, j] to every output (oh, ow) with oh·sH − top + i·dH = y and
    ow·sW − left + j·dW = x, for the output channels o of c's group g (the transposed view)."""
    count, channels, height, width = x_shape
    out_channels, per_group_in, kh, kw = w_effective.shape
    per_group_out = out_channels // groups
    (sh, sw), (dh, dw) = as_pair(stride), as_pair(dilation)
    top, left, _, _ = explicit_pads(padding, (height, width), (kh, kw), stride, dilation)
    ho, wo = output_hw(x_shape, (kh, kw), stride, padding, dilation)
    out = np.zeros((count, out_channels, ho, wo), np.int64)
    for p, (c, y, xx) in enumerate(itertools.product(range(channels), range(height), range(width))):
        g = c // per_group_in
        outs = slice(g * per_group_out, (g + 1) * per_group_out)
        for i in range(kh):
            for j in range(kw):
                oh, rem_h = divmod(y + top - i * dh, sh)
                ow, rem_w = divmod(xx + left - j * dw, sw)
                if rem_h == 0 and rem_w == 0 and 0 <= oh < ho and 0 <= ow < wo:
                    out[p, outs, oh, ow] += w_effective[outs, c - g * per_group_in, i, j]
    return out


ONE_HOT_CASES = [
    # channels, groups, out_channels, hw, kernel, stride, padding, dilation
    (1, 1, 1, (5, 6), (3, 3), 1, 1, 1),
    (2, 1, 3, (5, 4), (3, 2), 1, "valid", 1),
    (3, 1, 2, (6, 5), (3, 3), 2, "same", 1),
    (3, 3, 6, (5, 5), (2, 3), (2, 1), (1, 0, 2, 1), (2, 1)),  # depthwise, multiplier 2
    (4, 2, 4, (7, 5), (3, 3), (1, 2), (0, 2), (1, 2)),
    (2, 1, 2, (4, 7), (4, 1), 3, (3, 3, 0, 1), (1, 1)),
    (2, 2, 2, (6, 6), (2, 2), (3, 2), "same", 3),
    (1, 1, 2, (3, 3), (3, 3), 1, 4, 2),  # pads wider than the image: outputs that see only padding
    (5, 1, 1, (1, 1), (1, 1), 1, 0, 1),
]


@pytest.mark.parametrize(("channels", "groups", "out_channels", "hw", "kernel", "stride", "padding", "dilation"),
                         ONE_HOT_CASES)
def test_one_hot_sweep_every_pixel(channels, groups, out_channels, hw, kernel, stride, padding, dilation):
    rng = np.random.default_rng(channels * 100 + out_channels)
    w_shape = (out_channels, channels // groups, *kernel)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    # integer: background = x's zero point, one pixel zx + v
    for tx, tw in DTYPE_PAIRS:
        zx = info(tx)[0] + 7
        v = 100
        w = fill_array(rng, tw, w_shape, "random")
        zw = fill_array(rng, tw, (out_channels,), "random")
        x = one_hot_batch(channels, *hw, zx, zx + v, tx)
        expected = (v * scattered(w.astype(np.int64) - zw.astype(np.int64)[:, None, None, None], x.shape,
                                  stride, padding, dilation, groups)).astype(np.int32)
        assert_same(expected, ik.ops.conv_integer(x, w, zx, zw, **kwargs), f"{tx}x{tw}")
    # float: background 0, one pixel 1.0; small integer weights are exact in every precision
    w = rng.integers(-8, 9, w_shape).astype(np.float32)
    x = one_hot_batch(channels, *hw, 0.0, 1.0, np.float32)
    expected = scattered(w.astype(np.int64), x.shape, stride, padding, dilation, groups).astype(np.float32)
    for precision in PRECISIONS:
        assert_same_bits(ik.ops.conv2d(x, w, precision=precision, **kwargs), expected, precision)
    # and the scattered view agrees with the direct reference (a few images of the batch)
    chosen = rng.choice(x.shape[0], min(4, x.shape[0]), replace=False)
    assert_same_bits(ik.ops.conv2d(x[chosen], w, precision="fp32", **kwargs),
                     reference_conv_float(x[chosen], w, None, precision="fp32", **kwargs))


@settings(max_examples=60)
@given(geo=conv_geometry(max_macs=10**9), dtype=st.sampled_from([np.dtype(np.float32), S8, U8, BF16,
                                                                 np.dtype(np.float64), np.dtype(np.int16)]),
       seed=seeds, data=st.data())
def test_im2col_matches_numpy_definition(geo, dtype, seed, data):
    rng = np.random.default_rng(seed)
    x_shape, _ = shapes(geo)
    if dtype.kind in "iu":
        x = fill_array(rng, dtype, x_shape, "random")
        pad_value = data.draw(zero_point_value(dtype), label="pad_value")
    else:
        with np.errstate(over="ignore"):  # 3e38 is +-Inf in float16 / rounds to Inf in bfloat16
            x = random_float(rng, x_shape, "special").astype(dtype)
        pad_value = data.draw(st.sampled_from([0.0, -0.0, 1.5, -3.0, float("inf")]), label="pad_value")
    kwargs = dict(stride=geo["stride"], padding=geo["padding"], dilation=geo["dilation"])
    expected = numpy_im2col(x, geo["kernel"], pad_value=pad_value, **kwargs)
    actual = ik.ops.im2col(x, geo["kernel"], pad_value=pad_value, **kwargs)
    assert isinstance(actual, np.ndarray) and actual.dtype == dtype and actual.shape == expected.shape
    width = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
    np.testing.assert_array_equal(actual.view(width), expected.view(width), err_msg=describe_geo(geo), strict=True)


def test_im2col_float16():
    x = np.arange(1, 13, dtype=np.float16).reshape(1, 1, 3, 4)
    cols = ik.ops.im2col(x, (3, 3), padding=1, pad_value=-0.5)
    expected = numpy_im2col(x, (3, 3), 1, 1, 1, -0.5)
    assert cols.dtype == np.float16
    np.testing.assert_array_equal(cols.view(np.uint16), expected.view(np.uint16), strict=True)


def test_im2col_default_pad_value_is_zero():
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
    cols = ik.ops.im2col(x, (3, 3), padding=1)
    assert cols.shape == (1, 9, 12)
    assert cols[0, 0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7]  # (i, j) = (0, 0): up-left neighbour
    assert cols[0, 4].tolist() == list(range(1, 13))  # the centre tap is the image itself


@settings(max_examples=40)
@given(geo=conv_geometry(max_macs=10**9), precision=st.sampled_from(PRECISIONS), with_bias=st.booleans(),
       activation=float_activation, seed=seeds)
def test_conv2d_equals_matmul_of_im2col(geo, precision, with_bias, activation, seed):
    """§8.2: for group g, conv2d(...)[n] is matmul(cols_g.T, w_g.reshape(O/G, K).T) transposed."""
    rng = np.random.default_rng(seed)
    x_shape, w_shape = shapes(geo)
    x = random_float(rng, x_shape, "cancel")
    w = random_float(rng, w_shape, "normal")
    bias = random_float(rng, (w_shape[0],), "normal") if with_bias else None
    kwargs = dict(stride=geo["stride"], padding=geo["padding"], dilation=geo["dilation"])
    out = ik.ops.conv2d(x, w, bias, precision=precision, activation=activation, groups=geo["groups"], **kwargs)
    cols = ik.ops.im2col(x, geo["kernel"], **kwargs)
    groups, depth = geo["groups"], int(np.prod(w_shape[1:]))
    per_group = w_shape[0] // groups
    ho, wo = out.shape[2:]
    for n in range(x_shape[0]):
        for g in range(groups):
            outs = slice(g * per_group, (g + 1) * per_group)
            product = ik.ops.matmul(cols[n, g * depth:(g + 1) * depth].T, w[outs].reshape(per_group, depth).T,
                                    precision=precision, bias=None if bias is None else bias[outs],
                                    activation=activation)
            assert_same_bits(out[n, outs], product.T.reshape(per_group, ho, wo), f"{describe_geo(geo)} n={n} g={g}")


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
@settings(max_examples=25)
@given(geo=conv_geometry(max_macs=10**9), seed=seeds, data=st.data())
def test_conv_integer_equals_matmul_integer_of_im2col(tx, tw, geo, seed, data):
    """conv_integer is matmul_integer of im2col(x, pad_value=x_zero_point) with the reshaped weights."""
    rng = np.random.default_rng(seed)
    x_shape, w_shape = shapes(geo)
    xz = data.draw(zero_point_value(tx), label="xz")
    wz = fill_array(rng, tw, (w_shape[0],), "random")
    x = fill_array(rng, tx, x_shape, "random")
    w = fill_array(rng, tw, w_shape, "random")
    kwargs = dict(stride=geo["stride"], padding=geo["padding"], dilation=geo["dilation"])
    out = ik.ops.conv_integer(x, w, xz, wz, groups=geo["groups"], **kwargs)
    cols = ik.ops.im2col(x, geo["kernel"], pad_value=xz, **kwargs)
    groups, depth = geo["groups"], int(np.prod(w_shape[1:]))
    per_group = w_shape[0] // groups
    ho, wo = out.shape[2:]
    for n in range(x_shape[0]):
        for g in range(groups):
            outs = slice(g * per_group, (g + 1) * per_group)
            product = ik.ops.matmul_integer(cols[n, g * depth:(g + 1) * depth].T,
                                            np.ascontiguousarray(w[outs].reshape(per_group, depth).T), xz, wz[outs])
            assert_same(product.T.reshape(per_group, ho, wo), np.ascontiguousarray(out[n, outs]),
                        f"{describe_geo(geo)} n={n} g={g}")


# ------------------------------------------------------------------------------------------------
# 4. chunking and threads do not change results
# ------------------------------------------------------------------------------------------------


CHUNK_CASES = [
    # x shape, w shape, kwargs: Ho·Wo not a multiple of 4, batch > 1, so chunks meet image boundaries
    ((3, 5, 9, 7), (6, 5, 3, 3), dict(padding=1)),
    ((2, 6, 7, 9), (9, 2, 2, 3), dict(padding=(0, 1, 2, 1), stride=(2, 1), dilation=(1, 2), groups=3)),
    ((4, 3, 5, 5), (3, 1, 3, 3), dict(padding="same", groups=3)),
    ((2, 20, 5, 3), (5, 20, 3, 3), dict(padding=1)),  # K = 180 > 128
    ((5, 2, 1, 3), (2, 2, 1, 1), dict()),  # 3 pixels per image
]


def test_chunking_and_threads_do_not_change_results(monkeypatch, fresh_pool):
    rng = np.random.default_rng(23)
    cases = []
    for x_shape, w_shape, kwargs in CHUNK_CASES:
        x8 = fill_array(rng, U8, x_shape, "random")
        w8 = fill_array(rng, S8, w_shape, "random")
        zw = fill_array(rng, S8, (w_shape[0],), "random")
        x_qp, w_qp = QParams(0.02, 131, U8), QParams(rng.uniform(0.001, 0.02, w_shape[0]), zw, S8, axis=0)
        y_qp = QParams(0.07, 3, S8)
        xf = random_float(rng, x_shape, "cancel")
        wf = random_float(rng, w_shape, "normal")
        bias = random_float(rng, (w_shape[0],), "normal")
        results = {
            "conv_integer": ik.ops.conv_integer(x8, w8, 131, zw, **kwargs),
            "qlinear_conv": ik.ops.qlinear_conv(x8, x_qp, w8, w_qp, y_qp, activation="relu", **kwargs),
            **{f"conv2d {p}": ik.ops.conv2d(xf, wf, bias, precision=p, **kwargs) for p in PRECISIONS},
        }
        # the default split against the reference once
        assert_same(reference_conv_integer(x8, w8, 131, zw, kwargs.get("stride", 1), kwargs.get("padding", 0),
                                           kwargs.get("dilation", 1), kwargs.get("groups", 1)),
                    results["conv_integer"])
        assert_same_bits(results["conv2d bf16"],
                         reference_conv_float(xf, wf, bias, kwargs.get("stride", 1), kwargs.get("padding", 0),
                                              kwargs.get("dilation", 1), kwargs.get("groups", 1), "bf16"))
        cases.append((x8, w8, zw, x_qp, w_qp, y_qp, xf, wf, bias, kwargs, results))
    # Integer convolutions pack all patch rows at once below PACKED_PATCHES_BYTES (the default
    # here), else in chunks (0: always, since A is larger than x in every case).
    splits = [(1, 0), (64, 0), (1000, 0), (1000, conv_module.PACKED_PATCHES_BYTES)]
    for threads, (chunk_bytes, packed_bytes) in itertools.product([1, 3], splits):
        with monkeypatch.context() as patch:
            patch.setattr(_tiles, "THREADS", threads)
            patch.setattr(_int8_engine, "CHUNK_BYTES", chunk_bytes)
            patch.setattr(_float_engine, "CHUNK_BYTES", chunk_bytes)
            patch.setattr(conv_module, "PACKED_PATCHES_BYTES", packed_bytes)
            fresh_pool()
            for x8, w8, zw, x_qp, w_qp, y_qp, xf, wf, bias, kwargs, results in cases:
                context = (f"THREADS={threads} CHUNK_BYTES={chunk_bytes} PACKED_PATCHES_BYTES={packed_bytes} "
                           f"x{x8.shape} w{w8.shape} {kwargs}")
                assert_same(results["conv_integer"], ik.ops.conv_integer(x8, w8, 131, zw, **kwargs), context)
                assert_same(results["qlinear_conv"],
                            ik.ops.qlinear_conv(x8, x_qp, w8, w_qp, y_qp, activation="relu", **kwargs), context)
                for p in PRECISIONS:
                    assert_same_bits(ik.ops.conv2d(xf, wf, bias, precision=p, **kwargs), results[f"conv2d {p}"],
                                     f"{context} {p}")
    fresh_pool()


def test_chunks_really_split_at_tiny_chunk_bytes(monkeypatch):
    """The patched CHUNK_BYTES reaches the planners: with 1 byte every chunk is 4 rows, or for the
    float convolution an image's rest (integer patch rows are packed per row, across images)."""
    seen = []
    original = _tiles.row_chunks

    def spy(rows, segment, limit, cols, **kwargs):
        tiles = original(rows, segment, limit, cols, **kwargs)
        seen.append((rows, segment, tiles))
        return tiles

    monkeypatch.setattr(_tiles, "row_chunks", spy)
    monkeypatch.setattr(_int8_engine, "CHUNK_BYTES", 1)
    monkeypatch.setattr(_float_engine, "CHUNK_BYTES", 1)
    monkeypatch.setattr(conv_module, "PACKED_PATCHES_BYTES", 0)
    x = np.zeros((3, 2, 3, 3), np.uint8)
    ik.ops.conv_integer(x, np.zeros((2, 2, 1, 1), np.int8))
    ik.ops.conv2d(x.astype(np.float32), np.zeros((2, 2, 1, 1), np.float32))
    assert [(rows, segment) for rows, segment, _ in seen] == [(27, 27), (27, 9)]
    integer, floating = ([(lo, hi) for lo, hi, _, _ in tiles] for _, _, tiles in seen)
    assert integer == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24), (24, 27)]
    assert floating == [(0, 4), (4, 8), (8, 9), (9, 13), (13, 17), (17, 18), (18, 22), (22, 26), (26, 27)]


# ------------------------------------------------------------------------------------------------
# 5. memory bound: at most twice input plus output (implicit im2col)
# ------------------------------------------------------------------------------------------------


def _peak_ratio(run, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Peak traced allocation of ``run()`` over (x + output) bytes. The op runs once untraced first,
    so one-time costs (kernel compilation / cache loading for these array layouts, the thread
    pool) are not counted; only the call's own buffers are. The calling thread's scratch buffers
    (kept for later calls: the NHWC copy, the result rows) are dropped first, so they count too."""
    run()  # result dropped at once
    _scratch._scratch.buffers = {}
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / (x.nbytes + out.nbytes), out


@pytest.mark.slow
def test_memory_resnet_layer_int8():
    """56×56×64 → 64, 3×3, pad 1, batch 8 (K = 576): the patch matrix alone would be 9× the input;
    peak traced allocation must stay ≤ 2·(input + output)."""
    rng = np.random.default_rng(29)
    x = rng.integers(-128, 128, (8, 64, 56, 56)).astype(np.int8)
    w = rng.integers(-128, 128, (64, 64, 3, 3)).astype(np.int8)
    x_qp, w_qp, y_qp = QParams(0.05, 3, S8), QParams(0.01, 0, S8), QParams(0.2, -5, S8)
    ratio, out = _peak_ratio(lambda: ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, padding=1), x)
    print(f"\nqlinear_conv int8 56x56x64->64 3x3 batch 8: peak traced / (input + output) = {ratio:.3f}")
    assert out.shape == (8, 64, 56, 56) and out.dtype == np.int8
    assert ratio <= 2.0, ratio
    # spot-check the top-left corner (padding included) of two channels against the reference
    sub = x[:1, :, :3, :3]
    expected = reference_qlinear_conv(sub, x_qp, w[:2], w_qp, y_qp, None, 1, (1, 1, 0, 0), 1, 1, None, "float")
    assert_same(expected[0, :, :2, :2], out[0, :2, :2, :2])


@pytest.mark.slow
@pytest.mark.parametrize("precision", PRECISIONS)
def test_memory_resnet_layer_float(precision):
    """The same layer in float32 through conv2d: the inputs rounded to the precision (one float32
    copy of x), the output, and bounded per-thread patch buffers."""
    rng = np.random.default_rng(31)
    x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    ratio, out = _peak_ratio(lambda: ik.ops.conv2d(x, w, padding=1, precision=precision), x)
    print(f"\nconv2d {precision} float32 56x56x64->64 3x3 batch 8: peak traced / (input + output) = {ratio:.3f}")
    assert out.shape == (8, 64, 56, 56) and out.dtype == np.float32
    assert ratio <= 2.0, ratio
    sub = x[:1, :, :3, :3]
    expected = reference_conv_float(sub, w[:2], None, 1, (1, 1, 0, 0), 1, 1, precision)
    assert_same_bits(out[0, :2, :2, :2], expected[0, :, :2, :2])


def test_tracemalloc_sees_numpy_allocations():
    """The memory tests rely on numpy reporting its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        block = np.empty(4 << 20, np.uint8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak >= block.nbytes


# ------------------------------------------------------------------------------------------------
# 6. padding semantics
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
def test_integer_padding_is_the_input_zero_point(tx, tw):
    """An image equal to x's zero point everywhere gives 0 everywhere, borders included, for any
    weights and weight zero points: padded pixels hold the zero point and add nothing."""
    rng = np.random.default_rng(3)
    w = fill_array(rng, tw, (4, 3, 3, 4), "near_extremes")
    zw = fill_array(rng, tw, (4,), "random")
    for zx in sorted({info(tx)[0], info(tx)[1], 0 if tx == S8 else 128, 17}):
        x = np.full((2, 3, 5, 4), zx, tx)
        for padding in (1, (3, 2), (0, 3, 2, 1), "same", 4):
            out = ik.ops.conv_integer(x, w, zx, zw, padding=padding, dilation=(2, 1))
            assert out.dtype == np.int32 and (out == 0).all(), (zx, padding)
            x_qp, w_qp = QParams(0.1, zx, tx), QParams(np.full(4, 0.05), zw, tw, axis=0)
            y_qp = QParams(0.5, 7, S8)
            y = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, padding=padding, dilation=(2, 1))
            assert (y == 7).all(), (zx, padding)
    # with a border pixel that is not the zero point, only the windows covering it are non-zero
    zx = info(tx)[0] + 1
    x = np.full((1, 3, 5, 4), zx, tx)
    x[0, 1, 0, 0] = zx + 1
    out = ik.ops.conv_integer(x, w, zx, zw, padding=2)
    assert_same(reference_conv_integer(x, w, zx, zw, 1, 2, 1, 1), out)
    assert (out[:, :, 3:, :] == 0).all() and (out[:, :, :, 3:] == 0).all()


def test_integer_padding_differs_from_zero_padding():
    """With a non-zero x zero point, padding with 0 instead of the zero point would change borders."""
    x = np.full((1, 1, 3, 3), 10, np.uint8)
    w = np.ones((1, 1, 3, 3), np.uint8)
    out = ik.ops.conv_integer(x, w, 10, 0, padding=1)
    assert (out == 0).all()
    cols = ik.ops.im2col(x, (3, 3), padding=1)  # pad_value 0
    assert ik.ops.matmul_integer(cols[0].T, w.reshape(1, 9).T, 10, 0).min() < 0


@pytest.mark.parametrize(("hw", "kernel", "stride", "dilation"), [
    ((5, 7), (3, 3), 1, 1), ((5, 7), (2, 4), 1, 1), ((6, 7), (3, 3), 2, 1), ((7, 5), (3, 2), (2, 3), (1, 2)),
    ((9, 8), (4, 3), 3, 2), ((1, 6), (1, 2), 1, 3), ((4, 4), (2, 2), 1, 1),
])
def test_same_is_same_upper(hw, kernel, stride, dilation):
    """"same": output ⌈H/s⌉ × ⌈W/s⌉, an odd total pad puts the extra pixel at the bottom / right."""
    rng = np.random.default_rng(sum(hw) + sum(kernel))
    x = rng.integers(0, 256, (2, 3, *hw)).astype(np.uint8)
    w = rng.integers(-128, 128, (2, 3, *kernel)).astype(np.int8)
    (sh, sw), (dh, dw) = as_pair(stride), as_pair(dilation)
    totals = [max(0, (math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n)
              for n, k, s, d in zip(hw, kernel, (sh, sw), (dh, dw))]
    upper = (totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2)
    lower = (upper[2], upper[3], upper[0], upper[1])
    kwargs = dict(stride=stride, dilation=dilation)
    same = ik.ops.conv_integer(x, w, 7, 3, padding="same", **kwargs)
    assert same.shape[2:] == (math.ceil(hw[0] / sh), math.ceil(hw[1] / sw))
    assert_same(ik.ops.conv_integer(x, w, 7, 3, padding=upper, **kwargs), same)
    assert_same(reference_conv_integer(x, w, 7, 3, stride, upper, dilation, 1), same)
    if upper != lower:  # SAME_LOWER is a different convolution here
        assert not np.array_equal(ik.ops.conv_integer(x, w, 7, 3, padding=lower, **kwargs), same)
    xf = x.astype(np.float32)
    wf = w.astype(np.float32)
    assert_same_bits(ik.ops.conv2d(xf, wf, padding="same", precision="fp32", **kwargs),
                     ik.ops.conv2d(xf, wf, padding=upper, precision="fp32", **kwargs))
    cols = ik.ops.im2col(x, kernel, padding="same", **kwargs)
    assert np.array_equal(cols, ik.ops.im2col(x, kernel, padding=upper, **kwargs))


def test_valid_is_zero_padding_and_padding_forms_agree():
    rng = np.random.default_rng(8)
    x = rng.integers(-128, 128, (1, 2, 7, 6)).astype(np.int8)
    w = rng.integers(-128, 128, (3, 2, 3, 2)).astype(np.int8)
    base = ik.ops.conv_integer(x, w, -3, 5, padding=(0, 0, 0, 0), stride=(2, 1))
    for padding in ("valid", 0, (0, 0), [0, 0, 0, 0], np.int64(0), (np.int32(0), 0)):
        assert_same(base, ik.ops.conv_integer(x, w, -3, 5, padding=padding, stride=(2, 1)), repr(padding))
    pair = ik.ops.conv_integer(x, w, -3, 5, padding=(2, 1))
    assert_same(ik.ops.conv_integer(x, w, -3, 5, padding=(2, 1, 2, 1)), pair)
    assert_same(ik.ops.conv_integer(x, w, -3, 5, padding=[2, 1]), pair)
    assert_same(ik.ops.conv_integer(x, w, -3, 5, padding=2), ik.ops.conv_integer(x, w, -3, 5, padding=(2, 2, 2, 2)))


def test_float_padding_is_zero_and_multiplies_like_any_value():
    """docs/numerics.md §8.3: 3×3 ones, padding 1, one Inf weight at [0, 0]: NaN along the top row
    and the left column (Inf · padded 0), +Inf elsewhere."""
    x = np.ones((1, 1, 3, 3), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.inf
    for precision in PRECISIONS:
        out = ik.ops.conv2d(x, w, padding=1, precision=precision)[0, 0]
        assert np.isnan(out[0, :]).all() and np.isnan(out[:, 0]).all(), precision
        assert (out[1:, 1:] == np.inf).all(), precision
        assert_same_bits(out, reference_conv_float(x, w, None, 1, 1, 1, 1, precision)[0, 0])
    # finite weights: the padded zeros change nothing, -0.0 products do not leak a -0.0 result
    w = -np.ones((1, 1, 3, 3), np.float32)
    out = ik.ops.conv2d(np.zeros((1, 1, 2, 2), np.float32), w, padding=1, precision="fp32")
    assert bits(out).tolist() == [0] * 4


# ------------------------------------------------------------------------------------------------
# 7. bad input names the argument
# ------------------------------------------------------------------------------------------------

ci, qc, c2, i2c = ik.ops.conv_integer, ik.ops.qlinear_conv, ik.ops.conv2d, ik.ops.im2col
_x = np.zeros((1, 4, 5, 5), np.uint8)
_w = np.zeros((6, 2, 3, 3), np.int8)  # groups = 2
_xf = _x.astype(np.float32)
_wf = _w.astype(np.float32)
_qx, _qw, _qy = QParams(0.1, 3, np.uint8), QParams(0.05, 0, np.int8), QParams(0.2, 1, np.int8)


def _g(**kwargs):
    return dict(groups=2, **kwargs)


BAD_INPUTS = {
    # x / w ranks and dtypes
    "ci x 3-d": (lambda: ci(_x[0], _w, **_g()), ValueError, "conv_integer", "x"),
    "ci x 5-d": (lambda: ci(_x[None], _w, **_g()), ValueError, "conv_integer", "x"),
    "ci x 0-d": (lambda: ci(np.uint8(3), _w, **_g()), ValueError, "conv_integer", "x"),
    "ci w 3-d": (lambda: ci(_x, _w[0], **_g()), ValueError, "conv_integer", "w"),
    "ci w 5-d": (lambda: ci(_x, _w[None], **_g()), ValueError, "conv_integer", "w"),
    "ci x float32": (lambda: ci(_xf, _w, **_g()), TypeError, "conv_integer", "x"),
    "ci x int32": (lambda: ci(_x.astype(np.int32), _w, **_g()), TypeError, "conv_integer", "x"),
    "ci x bool": (lambda: ci(_x.astype(bool), _w, **_g()), TypeError, "conv_integer", "x"),
    "ci x int16": (lambda: ci(_x.astype(np.int16), _w, **_g()), TypeError, "conv_integer", "x"),
    "ci w float32": (lambda: ci(_x, _wf, **_g()), TypeError, "conv_integer", "w"),
    "ci w uint16": (lambda: ci(_x, _w.astype(np.uint16), **_g()), TypeError, "conv_integer", "w"),
    "ci x list": (lambda: ci(_x.tolist(), _w, **_g()), TypeError, "conv_integer", "x"),
    "c2 x int8": (lambda: c2(_x.astype(np.int8), _wf, **_g()), TypeError, "conv2d", "x"),
    "c2 w int32": (lambda: c2(_xf, _w.astype(np.int32), **_g()), TypeError, "conv2d", "w"),
    "c2 x complex": (lambda: c2(_xf.astype(np.complex64), _wf, **_g()), TypeError, "conv2d", "x"),
    "c2 x 3-d": (lambda: c2(_xf[0], _wf, **_g()), ValueError, "conv2d", "x"),
    "c2 w 2-d": (lambda: c2(_xf, _wf[:, :, 0, 0], **_g()), ValueError, "conv2d", "w"),
    "qc x 3-d": (lambda: qc(_x[0], _qx, _w, _qw, _qy, **_g()), ValueError, "qlinear_conv", "x"),
    "qc x float32": (lambda: qc(_xf, _qx, _w, _qw, _qy, **_g()), TypeError, "qlinear_conv", "x|x_qp"),
    "qc w uint8 vs w_qp int8": (lambda: qc(_x, _qx, _w.astype(np.uint8), _qw, _qy, **_g()), TypeError,
                                "qlinear_conv", "w|w_qp"),
    "i2c x 3-d": (lambda: i2c(_xf[0], (3, 3)), ValueError, "im2col", "x"),
    "i2c x complex": (lambda: i2c(_xf.astype(np.complex64), (3, 3)), TypeError, "im2col", "x"),
    "i2c x object": (lambda: i2c(_xf.astype(object), (3, 3)), TypeError, "im2col", "x"),
    # channels and groups
    "ci C mismatch": (lambda: ci(_x, _w), ValueError, "conv_integer", "w|groups"),
    "ci C mismatch groups 4": (lambda: ci(_x, _w, groups=4), ValueError, "conv_integer", "w|groups"),
    "ci groups not dividing C": (lambda: ci(np.zeros((1, 6, 5, 5), np.uint8), np.zeros((6, 2, 1, 1), np.int8),
                                            groups=4), ValueError, "conv_integer", "groups"),
    "ci groups not dividing O": (lambda: ci(_x, np.zeros((5, 2, 3, 3), np.int8), groups=2), ValueError,
                                 "conv_integer", "groups"),
    "c2 groups not dividing O": (lambda: c2(_xf, np.zeros((3, 1, 3, 3), np.float32), groups=4), ValueError,
                                 "conv2d", "groups"),
    "qc groups not dividing C": (lambda: qc(_x, _qx, np.zeros((3, 1, 3, 3), np.int8), _qw, _qy, groups=3),
                                 ValueError, "qlinear_conv", "groups"),
    "ci groups 0": (lambda: ci(_x, _w, groups=0), ValueError, "conv_integer", "groups"),
    "ci groups -2": (lambda: ci(_x, _w, groups=-2), ValueError, "conv_integer", "groups"),
    "ci groups float": (lambda: ci(_x, _w, groups=2.0), ValueError, "conv_integer", "groups"),
    "ci groups bool": (lambda: ci(_x, _w, groups=True), ValueError, "conv_integer", "groups"),
    "ci groups str": (lambda: ci(_x, _w, groups="2"), ValueError, "conv_integer", "groups"),
    "c2 groups None": (lambda: c2(_xf, _wf, groups=None), ValueError, "conv2d", "groups"),
    # stride and dilation
    **{f"{name} stride {value!r}": (lambda f=f, value=value: f(stride=value), ValueError, op, "stride")
       for value in (0, -1, (1, 0), (0, 2), 1.5, (1.0, 1), (1, 2, 3), (1,), True, (True, 1), "1", None)
       for name, op, f in (("ci", "conv_integer", lambda **k: ci(_x, _w, groups=2, **k)),
                           ("c2", "conv2d", lambda **k: c2(_xf, _wf, groups=2, **k)))},
    **{f"{name} dilation {value!r}": (lambda f=f, value=value: f(dilation=value), ValueError, op, "dilation")
       for value in (0, -2, (2, 0), 2.0, (1, 1, 1), False, "2", None)
       for name, op, f in (("ci", "conv_integer", lambda **k: ci(_x, _w, groups=2, padding=3, **k)),
                           ("qc", "qlinear_conv", lambda **k: qc(_x, _qx, _w, _qw, _qy, groups=2, padding=3, **k)))},
    "i2c stride 0": (lambda: i2c(_xf, (3, 3), stride=0), ValueError, "im2col", "stride"),
    "i2c dilation 0": (lambda: i2c(_xf, (3, 3), dilation=(1, 0)), ValueError, "im2col", "dilation"),
    # padding
    **{f"{name} padding {value!r}": (lambda f=f, value=value: f(padding=value), ValueError, op, "padding")
       for value in (-1, (1, -1), (0, 0, 0, -1), (1, 2, 3), (1, 2, 3, 4, 5), (), "full", "SAME", "same_lower",
                     "VALID", 1.5, (1.0, 1), True, (True, 0, 0, 0), None, {"top": 1})
       for name, op, f in (("ci", "conv_integer", lambda **k: ci(_x, _w, groups=2, **k)),
                           ("c2", "conv2d", lambda **k: c2(_xf, _wf, groups=2, **k)),
                           ("i2c", "im2col", lambda **k: i2c(_xf, (3, 3), **k)))},
    # kernel larger than the padded input
    "ci kernel too large": (lambda: ci(_x[:, :, :2, :], _w, groups=2), ValueError, "conv_integer", "x|w"),
    "ci dilated kernel too large": (lambda: ci(_x, _w, groups=2, dilation=3), ValueError, "conv_integer", "x|w"),
    "ci kernel too large asymmetric": (lambda: ci(_x[:, :, :, :1], _w, groups=2, padding=(0, 1, 0, 0)), ValueError,
                                       "conv_integer", "x|w"),
    "c2 kernel too large": (lambda: c2(_xf[:, :, :1, :1], _wf, groups=2), ValueError, "conv2d", "x|w"),
    "qc kernel too large": (lambda: qc(_x[:, :, :2, :2], _qx, _w, _qw, _qy, groups=2), ValueError, "qlinear_conv",
                            "x|w"),
    "i2c kernel too large": (lambda: i2c(_xf, (6, 1)), ValueError, "im2col", "x|kernel_shape"),
    "ci empty kernel": (lambda: ci(_x, _w[:, :, :0], groups=2), ValueError, "conv_integer", "w"),
    # im2col arguments
    "i2c kernel 0": (lambda: i2c(_xf, (0, 3)), ValueError, "im2col", "kernel_shape"),
    "i2c kernel triple": (lambda: i2c(_xf, (3, 3, 3)), ValueError, "im2col", "kernel_shape"),
    "i2c kernel float": (lambda: i2c(_xf, 2.5), ValueError, "im2col", "kernel_shape"),
    "i2c pad_value 256 uint8": (lambda: i2c(_x, (3, 3), padding=1, pad_value=256), ValueError, "im2col",
                                "pad_value"),
    "i2c pad_value -1 uint8": (lambda: i2c(_x, (3, 3), padding=1, pad_value=-1), ValueError, "im2col",
                               "pad_value"),
    "i2c pad_value 1.5 int8": (lambda: i2c(_x.astype(np.int8), (3, 3), pad_value=1.5), ValueError, "im2col",
                               "pad_value"),
    "i2c pad_value array": (lambda: i2c(_xf, (3, 3), pad_value=np.zeros(2)), ValueError, "im2col", "pad_value"),
    "i2c pad_value str": (lambda: i2c(_xf, (3, 3), pad_value="0"), ValueError, "im2col", "pad_value"),
    # zero points
    "ci xz 256": (lambda: ci(_x, _w, 256, **_g()), ValueError, "conv_integer", "x_zero_point"),
    "ci xz -1 uint8": (lambda: ci(_x, _w, -1, **_g()), ValueError, "conv_integer", "x_zero_point"),
    "ci xz 128 int8": (lambda: ci(_x.astype(np.int8), _w, 128, **_g()), ValueError, "conv_integer", "x_zero_point"),
    "ci xz per channel": (lambda: ci(_x, _w, np.array([1, 2, 3, 4]), **_g()), ValueError, "conv_integer",
                          "x_zero_point"),
    "ci xz 2-d": (lambda: ci(_x, _w, np.zeros((1, 1), np.uint8), **_g()), ValueError, "conv_integer",
                  "x_zero_point"),
    "ci xz float": (lambda: ci(_x, _w, 1.0, **_g()), TypeError, "conv_integer", "x_zero_point"),
    "ci xz bool": (lambda: ci(_x, _w, True, **_g()), TypeError, "conv_integer", "x_zero_point"),
    "ci xz None": (lambda: ci(_x, _w, None, **_g()), TypeError, "conv_integer", "x_zero_point"),
    "ci wz 128": (lambda: ci(_x, _w, 0, 128, **_g()), ValueError, "conv_integer", "w_zero_point"),
    "ci wz -129": (lambda: ci(_x, _w, 0, -129, **_g()), ValueError, "conv_integer", "w_zero_point"),
    "ci wz per channel out of range": (lambda: ci(_x, _w, 0, np.array([0, 0, 0, 0, 0, 200]), **_g()), ValueError,
                                       "conv_integer", "w_zero_point"),
    "ci wz wrong length": (lambda: ci(_x, _w, 0, np.zeros(5, np.int8), **_g()), ValueError, "conv_integer",
                           "w_zero_point"),
    "ci wz per input channel": (lambda: ci(_x, _w, 0, np.zeros(2, np.int8), **_g()), ValueError, "conv_integer",
                                "w_zero_point"),
    "ci wz 2-d": (lambda: ci(_x, _w, 0, np.zeros((6, 1), np.int8), **_g()), ValueError, "conv_integer",
                  "w_zero_point"),
    "ci wz float": (lambda: ci(_x, _w, 0, np.zeros(6, np.float32), **_g()), TypeError, "conv_integer",
                    "w_zero_point"),
    # quantization parameters of qlinear_conv
    "qc x_qp dtype": (lambda: qc(_x, QParams(0.1, 3, np.int8), _w, _qw, _qy, **_g()), TypeError, "qlinear_conv",
                      "x_qp"),
    "qc w_qp dtype": (lambda: qc(_x, _qx, _w, QParams(0.1, 3, np.uint8), _qy, **_g()), TypeError, "qlinear_conv",
                      "w_qp"),
    "qc x_qp None": (lambda: qc(_x, None, _w, _qw, _qy, **_g()), TypeError, "qlinear_conv", "x_qp"),
    "qc w_qp tuple": (lambda: qc(_x, _qx, _w, (0.05, 0), _qy, **_g()), TypeError, "qlinear_conv", "w_qp"),
    "qc y_qp float": (lambda: qc(_x, _qx, _w, _qw, 0.2, **_g()), TypeError, "qlinear_conv", "y_qp"),
    "qc x_qp per axis": (lambda: qc(_x, QParams([0.1] * 4, 3, np.uint8, axis=1), _w, _qw, _qy, **_g()), ValueError,
                         "qlinear_conv", "x_qp"),
    "qc w_qp axis 1": (lambda: qc(_x, _qx, _w, QParams([0.05] * 2, 0, np.int8, axis=1), _qy, **_g()), ValueError,
                       "qlinear_conv", "w_qp"),
    "qc w_qp axis 1 of O": (lambda: qc(_x, _qx, np.zeros((2, 2, 3, 3), np.int8), QParams([0.05] * 2, 0, np.int8,
                                                                                         axis=1), _qy, **_g()),
                            ValueError, "qlinear_conv", "w_qp"),
    "qc w_qp axis -1": (lambda: qc(_x, _qx, _w, QParams([0.05] * 3, 0, np.int8, axis=-1), _qy, **_g()), ValueError,
                        "qlinear_conv", "w_qp"),
    "qc w_qp axis 0 wrong length": (lambda: qc(_x, _qx, _w, QParams([0.05] * 5, 0, np.int8, axis=0), _qy, **_g()),
                                    ValueError, "qlinear_conv", "w_qp"),
    "qc y_qp per axis": (lambda: qc(_x, _qx, _w, _qw, QParams([0.2] * 6, 0, np.int8, axis=1), **_g()), ValueError,
                         "qlinear_conv", "y_qp"),
    "qc multiplier overflows float32": (
        lambda: qc(_x, QParams(1e30, 0, np.uint8), _w, QParams(1e30, 0, np.int8), QParams(1.0, 0, np.int8), **_g()),
        ValueError, "qlinear_conv", re.escape("x_qp.scale * w_qp.scale / y_qp.scale"),
    ),
    "qc multiplier 2^30 fixed_point": (
        lambda: qc(_x, QParams(2.0**15, 0, np.uint8), _w, QParams(2.0**15, 0, np.int8), QParams(1.0, 0, np.int8),
                   mode="fixed_point", **_g()),
        ValueError, "qlinear_conv", re.escape("x_qp.scale * w_qp.scale / y_qp.scale"),
    ),
    # bias
    "qc bias int64": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=np.zeros(6, np.int64), **_g()), TypeError,
                      "qlinear_conv", "bias"),
    "qc bias float32": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=np.zeros(6, np.float32), **_g()), TypeError,
                        "qlinear_conv", "bias"),
    "qc bias list": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=[0] * 6, **_g()), TypeError, "qlinear_conv", "bias"),
    "qc bias length": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=np.zeros(5, np.int32), **_g()), ValueError,
                       "qlinear_conv", "bias"),
    "qc bias per input channel": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=np.zeros(4, np.int32), **_g()),
                                  ValueError, "qlinear_conv", "bias"),
    "qc bias 2-d": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=np.zeros((6, 1), np.int32), **_g()), ValueError,
                    "qlinear_conv", "bias"),
    "qc bias 0-d": (lambda: qc(_x, _qx, _w, _qw, _qy, bias=np.int32(0), **_g()), ValueError, "qlinear_conv",
                    "bias"),
    "c2 bias length": (lambda: c2(_xf, _wf, np.zeros(5, np.float32), **_g()), ValueError, "conv2d", "bias"),
    "c2 bias 2-d": (lambda: c2(_xf, _wf, np.zeros((1, 6), np.float32), **_g()), ValueError, "conv2d", "bias"),
    "c2 bias scalar": (lambda: c2(_xf, _wf, 1.0, **_g()), ValueError, "conv2d", "bias"),
    "c2 bias int32": (lambda: c2(_xf, _wf, np.zeros(6, np.int32), **_g()), TypeError, "conv2d", "bias"),
    "c2 bias str": (lambda: c2(_xf, _wf, ["a"] * 6, **_g()), TypeError, "conv2d", "bias"),
    # activation, mode, precision
    **{f"{name} activation {value!r}": (lambda f=f, value=value: f(activation=value), ValueError, op, "activation")
       for value in ("gelu", "RELU", (1.0, -1.0), (float("nan"), 1.0), (0, 1, 2), [0, 6], 6.0, (None, 1.0),
                     np.array([0.0, 6.0]), (False, True))
       for name, op, f in (("c2", "conv2d", lambda **k: c2(_xf, _wf, groups=2, **k)),
                           ("qc", "qlinear_conv", lambda **k: qc(_x, _qx, _w, _qw, _qy, groups=2, **k)))},
    "qc mode unknown": (lambda: qc(_x, _qx, _w, _qw, _qy, mode="exact", **_g()), ValueError, "qlinear_conv", "mode"),
    "qc mode None": (lambda: qc(_x, _qx, _w, _qw, _qy, mode=None, **_g()), ValueError, "qlinear_conv", "mode"),
    "qc mode upper": (lambda: qc(_x, _qx, _w, _qw, _qy, mode="FLOAT", **_g()), ValueError, "qlinear_conv", "mode"),
    "c2 precision bf32": (lambda: c2(_xf, _wf, precision="bf32", **_g()), ValueError, "conv2d", "precision"),
    "c2 precision None": (lambda: c2(_xf, _wf, precision=None, **_g()), ValueError, "conv2d", "precision"),
    "c2 precision upper": (lambda: c2(_xf, _wf, precision="FP32", **_g()), ValueError, "conv2d", "precision"),
    "c2 precision float32": (lambda: c2(_xf, _wf, precision="float32", **_g()), ValueError, "conv2d", "precision"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_names_the_argument(name):
    call, exc, op, argument = BAD_INPUTS[name]
    with pytest.raises(exc) as raised:
        call()
    assert isinstance(raised.value, InferentiaKernelsError), repr(raised.value)
    message = str(raised.value)
    assert re.match(rf"^{op}: ({argument}) must", message), message


def test_good_variants_of_the_bad_table_pass():
    """The fixtures of the bad-input table are otherwise valid (each row breaks one thing)."""
    assert ik.ops.conv_integer(_x, _w, 3, np.zeros(6, np.int8), groups=2).shape == (1, 6, 3, 3)
    assert ik.ops.conv2d(_xf, _wf, np.zeros(6, np.float32), groups=2, activation="relu").shape == (1, 6, 3, 3)
    assert ik.ops.qlinear_conv(_x, _qx, _w, QParams([0.05] * 6, 0, np.int8, axis=0), _qy, groups=2,
                               bias=np.zeros(6, np.int32)).shape == (1, 6, 3, 3)
    assert ik.ops.im2col(_x, (3, 3), padding=1, pad_value=255).shape == (1, 36, 25)
    assert ik.ops.conv_integer(_x, _w, groups=2, dilation=2).shape == (1, 6, 1, 1)


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_depthwise_padding_still_multiplies_non_finite_taps(precision):
    """Padded pixels hold +0.0 and contribute 0 * w: an Inf tap makes border outputs NaN."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    w[1, 0, 0, 0] = np.inf
    w[4, 0, 2, 1] = np.nan
    got = ik.ops.conv2d(x, w, stride=1, padding=1, groups=3, precision=precision)
    expected = ref_conv.conv_float(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 3, precision)
    assert np.isnan(got[0, 1, 0]).all() and not np.isnan(got[0, 1, -1, -1])
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_depthwise_kernel_with_more_taps_than_a_k_tile():
    """13 x 11 = 143 taps: the first 128 form one tile partial, the rest the next (float order)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 1, 13, 11)).astype(np.float32)
    got = ik.ops.conv2d(x, w, padding=(6, 5, 6, 5), groups=2, precision="fp32")
    expected = ref_conv.conv_float(x, w, None, (1, 1), (6, 5, 6, 5), (1, 1), 2, "fp32")
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
