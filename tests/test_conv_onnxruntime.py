"""Bit-exact tests of the convolutions against ONNX Runtime and the ONNX backend node cases.

* ``ik.ops.conv_integer`` against ORT ``ConvInteger`` (all four u8/s8 combinations are implemented
  by ORT 1.32's CPU provider; ORT accepts only a per-tensor w zero point);
* ``ik.ops.qlinear_conv`` (``mode="float"``) against ORT ``QLinearConv`` for the (x, w, y) dtype
  combinations ORT implements (u8/u8/u8, u8/s8/u8, s8/s8/s8; the others skip with ORT's reason),
  per-tensor and per-output-channel w scale and zero point, int32 bias;
* the ONNX backend node cases ``test_qlinearconv``, ``test_convinteger_*``, ``test_basic_conv_*`` and
  ``test_conv_with_*`` through our ops (float ``Conv`` through ``conv2d(precision="fp32")`` within a
  derived tolerance, see ``fp32_reordering_bound``).

Models are built in memory with ``onnx.helper`` at opset 21 (ConvInteger and QLinearConv are
opset-10 operators). x, w, zero points, scales and bias are graph inputs; the convolution
attributes are not, so one single-threaded ``InferenceSession`` is cached per (dtypes, attributes).
ONNX ``pads`` are ``[top, left, bottom, right]`` (x1_begin, x2_begin, x1_end, x2_end), exactly our
4-tuple; ``auto_pad`` SAME_UPPER is our ``"same"`` and VALID our ``"valid"``.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import inferentia_kernels as ik
from inferentia_kernels.reference import conv as ref_conv

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from int8_cases import FILLS, assert_same, fill_array, ids, info, zero_point_value
from onnx_node_cases import case_data_sets, case_model, node_cases

ort.set_default_logger_severity(3)  # the probes of unsupported combinations log errors otherwise

QParams = ik.QParams
OPSET = 21
U8, S8 = np.dtype(np.uint8), np.dtype(np.int8)
DTYPES = [U8, S8]
DTYPE_PAIRS = list(itertools.product(DTYPES, repeat=2))
DTYPE_TRIPLES = list(itertools.product(DTYPES, repeat=3))
ONNX_TYPE = {U8: TensorProto.UINT8, S8: TensorProto.INT8}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------------------------------------
# geometry: ONNX attributes and our arguments side by side
# ------------------------------------------------------------------------------------------------


def same_upper_pads(hw, kernel, strides, dilations) -> tuple[int, int, int, int]:
    before, after = [], []
    for n, k, s, d in zip(hw, kernel, strides, dilations):
        total = max(0, (math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n)
        before.append(total // 2)
        after.append(total - total // 2)
    return before[0], before[1], after[0], after[1]


def output_hw(hw, kernel, strides, dilations, pads) -> tuple[int, int]:
    return tuple((n + pads[a] + pads[a + 2] - d * (k - 1) - 1) // s + 1
                 for a, (n, k, s, d) in enumerate(zip(hw, kernel, strides, dilations)))


@st.composite
def ort_geometry(draw):
    """A valid 2-D convolution as (x shape, w shape, ONNX attributes, our keyword arguments)."""
    layout = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if layout == "dense":
        groups, per_group_in, multiplier = 1, draw(st.integers(1, 8)), draw(st.integers(1, 8))
    elif layout == "grouped":
        groups, per_group_in, multiplier = draw(st.integers(2, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    else:
        groups, per_group_in, multiplier = draw(st.integers(1, 8)), 1, draw(st.integers(1, 3))
    if draw(st.integers(0, 9)) == 0:  # now and then K > 128 (the 3x3 kernels below give K = 9·C)
        groups, per_group_in, multiplier = 1, draw(st.integers(15, 30)), draw(st.integers(1, 3))
    batch = draw(st.integers(1, 3))
    hw = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    kernel = [draw(st.integers(1, 5)), draw(st.integers(1, 5))]
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilations = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "VALID"]))
    explicit = tuple(draw(st.integers(0, 3)) for _ in range(4))

    def pads_of():
        if auto_pad == "SAME_UPPER":
            return same_upper_pads(hw, kernel, strides, dilations)
        return (0, 0, 0, 0) if auto_pad == "VALID" else explicit

    if min(output_hw(hw, kernel, strides, dilations, pads_of())) < 1:
        dilations = [1, 1]
        if min(output_hw(hw, kernel, strides, dilations, pads_of())) < 1:
            pads = pads_of()
            kernel = [min(kernel[0], hw[0] + pads[0] + pads[2]), min(kernel[1], hw[1] + pads[1] + pads[3])]
    pads = pads_of()
    out = output_hw(hw, kernel, strides, dilations, pads)
    assert min(out) >= 1
    assume(batch * groups * multiplier * out[0] * out[1] * per_group_in * kernel[0] * kernel[1] <= 2_000_000)
    attributes = {"strides": list(strides), "dilations": list(dilations), "group": groups}
    if auto_pad == "NOTSET":
        attributes["pads"] = list(explicit)
        padding = explicit
    elif auto_pad == "SAME_UPPER" and dilations != [1, 1]:
        # ORT 1.32: "Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER";
        # give ORT the SAME_UPPER pads explicitly, ours "same"
        attributes["pads"] = list(pads)
        padding = "same"
    else:
        attributes["auto_pad"] = auto_pad
        padding = "same" if auto_pad == "SAME_UPPER" else "valid"
    if draw(st.booleans()):
        attributes["kernel_shape"] = list(kernel)
    ours = dict(stride=strides, padding=padding, dilation=tuple(dilations), groups=groups)
    x_shape = (batch, groups * per_group_in, *hw)
    w_shape = (groups * multiplier, per_group_in, *kernel)
    return x_shape, w_shape, attributes, ours


def freeze(attributes: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes.items()))


# ------------------------------------------------------------------------------------------------
# ONNX Runtime sessions
# ------------------------------------------------------------------------------------------------


def _value_info(name: str, elem_type: int, rank: int):
    return helper.make_tensor_value_info(name, elem_type, [f"{name}_{i}" for i in range(rank)])


def _session(node, inputs, outputs) -> ort.InferenceSession:
    graph = helper.make_graph([node], node.op_type.lower(), inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@functools.cache
def conv_integer_session(tx: np.dtype, tw: np.dtype, wz_rank: int, attributes: tuple):
    node = helper.make_node("ConvInteger", ["x", "w", "x_zero_point", "w_zero_point"], ["y"],
                            **{k: list(v) if isinstance(v, tuple) else v for k, v in attributes})
    inputs = [_value_info("x", ONNX_TYPE[tx], 4), _value_info("w", ONNX_TYPE[tw], 4),
              _value_info("x_zero_point", ONNX_TYPE[tx], 0), _value_info("w_zero_point", ONNX_TYPE[tw], wz_rank)]
    return _session(node, inputs, [helper.make_tensor_value_info("y", TensorProto.INT32, None)])


QLC_INPUTS = ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point"]


@functools.cache
def qlinear_conv_session(tx: np.dtype, tw: np.dtype, ty: np.dtype, w_rank: int, with_bias: bool,
                         attributes: tuple):
    types = [ONNX_TYPE[tx], TensorProto.FLOAT, ONNX_TYPE[tx], ONNX_TYPE[tw], TensorProto.FLOAT, ONNX_TYPE[tw],
             TensorProto.FLOAT, ONNX_TYPE[ty]]
    ranks = [4, 0, 0, 4, w_rank, w_rank, 0, 0]
    names = QLC_INPUTS + (["B"] if with_bias else [])
    inputs = [_value_info(n, t, r) for n, t, r in zip(QLC_INPUTS, types, ranks)]
    if with_bias:
        inputs.append(_value_info("B", TensorProto.INT32, 1))
    node = helper.make_node("QLinearConv", names, ["y"],
                            **{k: list(v) if isinstance(v, tuple) else v for k, v in attributes})
    return _session(node, inputs, [helper.make_tensor_value_info("y", ONNX_TYPE[ty], None)])


def _ort_support(build) -> str | None:
    """None when ORT builds the session, else ORT's NOT_IMPLEMENTED reason (other errors propagate)."""
    try:
        build()
    except Exception as error:  # noqa: BLE001 - ORT raises its own exception classes
        if "NOT_IMPLEMENTED" not in str(error):
            raise
        return str(error).splitlines()[0][:200]
    return None


BASIC = freeze({"strides": [1, 1], "dilations": [1, 1], "group": 1, "pads": [0, 0, 0, 0]})


@functools.cache
def conv_integer_support(tx, tw) -> str | None:
    return _ort_support(lambda: conv_integer_session(tx, tw, 0, BASIC))


@functools.cache
def qlinear_conv_support(tx, tw, ty) -> str | None:
    return _ort_support(lambda: qlinear_conv_session(tx, tw, ty, 0, False, BASIC))


def require_conv_integer(tx, tw) -> None:
    reason = conv_integer_support(tx, tw)
    if reason:
        pytest.skip(f"ONNX Runtime {ort.__version__} has no CPU ConvInteger kernel for x={tx}, w={tw} ({reason})")


def require_qlinear_conv(tx, tw, ty) -> None:
    reason = qlinear_conv_support(tx, tw, ty)
    if reason:
        pytest.skip(f"ONNX Runtime {ort.__version__} has no CPU QLinearConv kernel for x={tx}, w={tw}, y={ty} "
                    f"({reason})")


def ort_conv_integer(x, w, xz, wz, attributes: dict) -> np.ndarray:
    wz = np.asarray(wz).astype(w.dtype)
    session = conv_integer_session(x.dtype, w.dtype, wz.ndim, freeze(attributes))
    feeds = {"x": x, "w": w, "x_zero_point": np.asarray(xz).astype(x.dtype), "w_zero_point": wz}
    return session.run(None, feeds)[0]


def ort_qlinear_conv(x, x_qp: QParams, w, w_qp: QParams, y_qp: QParams, bias, attributes: dict) -> np.ndarray:
    session = qlinear_conv_session(x.dtype, w.dtype, y_qp.dtype, w_qp.scale.ndim, bias is not None,
                                   freeze(attributes))
    values = [x, np.asarray(x_qp.scale, np.float32), np.asarray(x_qp.zero_point).astype(x.dtype), w,
              np.asarray(w_qp.scale, np.float32), np.asarray(w_qp.zero_point).astype(w.dtype),
              np.asarray(y_qp.scale, np.float32), np.asarray(y_qp.zero_point).astype(y_qp.dtype)]
    feeds = dict(zip(QLC_INPUTS, values))
    if bias is not None:
        feeds["B"] = bias
    return session.run(None, feeds)[0]


# ------------------------------------------------------------------------------------------------
# ConvInteger
# ------------------------------------------------------------------------------------------------


def test_ort_conv_integer_support():
    """ORT 1.32's CPU provider implements ConvInteger for all four u8/s8 combinations."""
    supported = [pair for pair in DTYPE_PAIRS if conv_integer_support(*pair) is None]
    assert (U8, U8) in supported, supported


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
@settings(max_examples=60)
@given(geometry=ort_geometry(), fills=st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)), seed=seeds,
       data=st.data())
def test_conv_integer_vs_ort(tx, tw, geometry, fills, seed, data):
    require_conv_integer(tx, tw)
    x_shape, w_shape, attributes, ours = geometry
    rng = np.random.default_rng(seed)
    x = fill_array(rng, tx, x_shape, fills[0])
    w = fill_array(rng, tw, w_shape, fills[1])
    xz = data.draw(zero_point_value(tx), label="xz")
    wz = data.draw(zero_point_value(tw), label="wz")
    expected = ort_conv_integer(x, w, xz, wz, attributes)
    actual = ik.ops.conv_integer(x, w, xz, wz, **ours)
    assert_same(expected, actual, f"x{x_shape} w{w_shape} {attributes} xz={xz} wz={wz}")


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
def test_conv_integer_extremes_vs_ort(tx, tw):
    """Extreme values and zero points, K = 9·60 = 540 with sums far beyond 2^24, padding 2."""
    require_conv_integer(tx, tw)
    rng = np.random.default_rng(3)
    x = fill_array(rng, tx, (2, 60, 6, 5), "minmax")
    w = fill_array(rng, tw, (5, 60, 3, 3), "minmax")
    attributes = {"pads": [2, 1, 0, 2], "strides": [1, 2], "dilations": [2, 1], "group": 1}
    ours = dict(padding=(2, 1, 0, 2), stride=(1, 2), dilation=(2, 1))
    x[1] = info(tx)[1]  # image 1 all max, output channel 0 all min: 540 aligned extreme terms
    w[0] = info(tw)[0]
    largest = 0
    for xz, wz in itertools.product(info(tx) + (0,), info(tw) + (1,)):
        expected = ort_conv_integer(x, w, xz, wz, attributes)
        largest = max(largest, int(np.abs(expected.astype(np.int64)).max()))
        assert_same(expected, ik.ops.conv_integer(x, w, xz, wz, **ours), f"xz={xz} wz={wz}")
    assert largest > 2**24


@pytest.mark.parametrize(("tx", "tw"), DTYPE_PAIRS, ids=ids)
def test_conv_integer_per_channel_w_zero_point_vs_ort(tx, tw):
    """Ours takes a w zero point per output channel; ORT 1.32's ConvInteger refuses one ("Non
    per-tensor quantization is not supported now"), so this compares where ORT can and skips
    with ORT's message otherwise (the per-channel case is covered by the reference tests and by
    the ONNX node case test_convinteger_with_padding)."""
    require_conv_integer(tx, tw)
    rng = np.random.default_rng(4)
    x = fill_array(rng, tx, (1, 2, 5, 5), "random")
    w = fill_array(rng, tw, (3, 2, 2, 2), "random")
    wz = fill_array(rng, tw, (3,), "random")
    attributes = {"pads": [1, 1, 1, 1], "strides": [1, 1], "dilations": [1, 1], "group": 1}
    try:
        expected = ort_conv_integer(x, w, 5, wz, attributes)
    except Exception as error:  # noqa: BLE001 - ORT raises its own exception classes
        message = str(error)
        if "per-tensor" not in message:
            raise
        reason = message[message.index("IsScalarOr1ElementVector"):].splitlines()[0] \
            if "IsScalarOr1ElementVector" in message else message.splitlines()[0][-160:]
        pytest.skip(f"ONNX Runtime {ort.__version__} ConvInteger refuses a per-channel w_zero_point: {reason}")
    assert_same(expected, ik.ops.conv_integer(x, w, 5, wz, padding=1))


# ------------------------------------------------------------------------------------------------
# QLinearConv (float mode)
# ------------------------------------------------------------------------------------------------


def test_ort_qlinear_conv_support():
    """Which (x, w, y) combinations ORT 1.32's CPU provider implements (the others skip with ORT's reason)."""
    supported = [combo for combo in DTYPE_TRIPLES if qlinear_conv_support(*combo) is None]
    assert (U8, U8, U8) in supported and (U8, S8, U8) in supported, supported


pow2_scale = st.integers(-12, 4).map(lambda e: 2.0**e)
any_scale = st.floats(2.0**-13, 4.0, width=32)
scale = st.one_of(pow2_scale, any_scale, st.sampled_from([0.0066, 0.00705, 0.0107, 1 / 3]))
out_scale = st.one_of(scale, st.sampled_from([1e-6, 1e-4, 0.5, 8.0]))


@st.composite
def qlinear_operands(draw, tx, tw, ty, out_channels: int):
    x_qp = QParams(draw(scale), draw(zero_point_value(tx)), tx)
    if draw(st.booleans()):
        sw = np.array(draw(st.lists(scale, min_size=out_channels, max_size=out_channels)), np.float32)
        zw = np.array(draw(st.lists(zero_point_value(tw), min_size=out_channels, max_size=out_channels)))
        w_qp = QParams(sw, zw, tw, axis=0)
    else:
        w_qp = QParams(draw(scale), draw(zero_point_value(tw)), tw)
    y_qp = QParams(draw(out_scale), draw(zero_point_value(ty)), ty)
    bias = None
    if draw(st.booleans()):
        element = st.one_of(st.integers(-(2**20), 2**20), st.integers(-300, 300),
                            st.sampled_from([INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1]))
        bias = np.array(draw(st.lists(element, min_size=out_channels, max_size=out_channels)), np.int32)
    return x_qp, w_qp, y_qp, bias


@pytest.mark.parametrize(("tx", "tw", "ty"), DTYPE_TRIPLES, ids=ids)
@settings(max_examples=60)
@given(geometry=ort_geometry(), fills=st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)), seed=seeds,
       data=st.data())
def test_qlinear_conv_vs_ort(tx, tw, ty, geometry, fills, seed, data):
    require_qlinear_conv(tx, tw, ty)
    x_shape, w_shape, attributes, ours = geometry
    rng = np.random.default_rng(seed)
    x = fill_array(rng, tx, x_shape, fills[0])
    w = fill_array(rng, tw, w_shape, fills[1])
    x_qp, w_qp, y_qp, bias = data.draw(qlinear_operands(tx, tw, ty, w_shape[0]), label="parameters")
    expected = ort_qlinear_conv(x, x_qp, w, w_qp, y_qp, bias, attributes)
    actual = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=bias, mode="float", **ours)
    assert_same(expected, actual, f"x{x_shape} w{w_shape} {attributes} {x_qp} {w_qp} {y_qp} bias={bias}")


@pytest.mark.parametrize(("tx", "tw", "ty"), DTYPE_TRIPLES, ids=ids)
def test_qlinear_conv_ties_and_saturation_vs_ort(tx, tw, ty):
    """Power-of-two scales put acc · s on .5 ties (round half to even, then + zero point); tiny
    output scales saturate; per-channel scales and zero points; a depthwise layer with K > 128 in
    the dense one."""
    require_qlinear_conv(tx, tw, ty)
    rng = np.random.default_rng(9)
    cases = [
        ((2, 4, 7, 6), (8, 1, 3, 3), {"pads": [1, 1, 1, 1], "strides": [1, 1], "dilations": [1, 1], "group": 4},
         dict(padding=1, groups=4)),
        ((1, 20, 5, 6), (7, 20, 3, 3), {"pads": [0, 2, 1, 0], "strides": [2, 1], "dilations": [1, 2], "group": 1},
         dict(padding=(0, 2, 1, 0), stride=(2, 1), dilation=(1, 2))),
        ((3, 6, 4, 4), (6, 2, 2, 2), {"auto_pad": "SAME_UPPER", "strides": [3, 3], "dilations": [1, 1],
                                      "group": 3}, dict(padding="same", stride=3, groups=3)),
    ]
    for x_shape, w_shape, attributes, ours in cases:
        x = fill_array(rng, tx, x_shape, "random")
        w = fill_array(rng, tw, w_shape, "near_extremes")
        out_channels = w_shape[0]
        zw = fill_array(rng, tw, (out_channels,), "random")
        for sx, sw, sy in [(0.5, [2.0 ** -(o % 6) for o in range(out_channels)], 1.0),
                           (2.0**-3, [2.0**-2] * out_channels, 2.0**-4),
                           (0.05, list(np.linspace(0.001, 0.03, out_channels)), 1e-6),
                           (0.0066, [0.00705] * out_channels, 0.0107)]:
            x_qp = QParams(sx, info(tx)[1] - 9, tx)
            y_qp = QParams(sy, 0 if ty == S8 else 100, ty)
            bias = (np.arange(out_channels, dtype=np.int32) - 3) * 517
            for w_qp in (QParams(np.array(sw, np.float32), zw, tw, axis=0), QParams(sw[0], int(zw[0]), tw)):
                for b in (None, bias):
                    expected = ort_qlinear_conv(x, x_qp, w, w_qp, y_qp, b, attributes)
                    actual = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=b, **ours)
                    assert_same(expected, actual, f"x{x_shape} w{w_shape} {x_qp} {w_qp} {y_qp} bias={b}")


@pytest.mark.parametrize(("tx", "tw", "ty"), DTYPE_TRIPLES, ids=ids)
def test_qlinear_conv_bias_wraps_like_ort(tx, tw, ty):
    """acc + bias wraps around in int32 (two's complement) in ORT as in ours."""
    require_qlinear_conv(tx, tw, ty)
    rng = np.random.default_rng(12)
    x = fill_array(rng, tx, (1, 3, 5, 5), "random")
    w = fill_array(rng, tw, (4, 3, 3, 3), "random")
    bias = np.array([INT32_MAX, INT32_MIN, INT32_MAX - 100, INT32_MIN + 100], np.int32)
    x_qp, w_qp = QParams(0.5, 3, tx), QParams(0.5, 1, tw)
    attributes = {"pads": [1, 1, 1, 1], "strides": [1, 1], "dilations": [1, 1], "group": 1}
    for y_qp in (QParams(2.0**20, 0, ty), QParams(2.0**24, 7, ty)):
        expected = ort_qlinear_conv(x, x_qp, w, w_qp, y_qp, bias, attributes)
        assert_same(expected, ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=bias, padding=1), f"{y_qp}")
    acc = ik.ops.conv_integer(x, w, 3, 1, padding=1).astype(np.int64) + bias[None, :, None, None]
    assert ((acc > INT32_MAX) | (acc < INT32_MIN)).any()  # the wrap-around really happens here


def test_qlinear_conv_resnet_layer_vs_ort():
    """A ResNet-50 3×3 layer (28×28×128 → 128, pad 1, batch 2; K = 1152), u8 activations, s8
    per-channel weights."""
    require_qlinear_conv(U8, S8, U8)
    rng = np.random.default_rng(11)
    x = fill_array(rng, U8, (2, 128, 28, 28), "random")
    w = fill_array(rng, S8, (128, 128, 3, 3), "random")
    x_qp = QParams(0.02, 131, U8)
    w_qp = QParams(rng.uniform(0.0005, 0.002, 128).astype(np.float32), 0, S8, axis=0)
    y_qp = QParams(0.1, 128, U8)
    bias = rng.integers(-20000, 20000, 128).astype(np.int32)
    attributes = {"pads": [1, 1, 1, 1], "strides": [1, 1], "dilations": [1, 1], "group": 1, "kernel_shape": [3, 3]}
    expected = ort_qlinear_conv(x, x_qp, w, w_qp, y_qp, bias, attributes)
    actual = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=bias, padding=1)
    assert len(np.unique(actual)) > 50  # not saturated: the comparison means something
    assert_same(expected, actual)


# ------------------------------------------------------------------------------------------------
# ONNX backend node cases
# ------------------------------------------------------------------------------------------------

NODE_PREFIXES = ("test_convinteger_", "test_basic_conv_", "test_conv_with_")


NODE_CASES = node_cases(lambda name: name == "test_qlinearconv" or name.startswith(NODE_PREFIXES))


def _attributes(node) -> dict:
    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if isinstance(values.get("auto_pad"), bytes):
        values["auto_pad"] = values["auto_pad"].decode()
    return values


SUPPORTED_ATTRIBUTES = {"auto_pad", "pads", "strides", "dilations", "group", "kernel_shape"}


def _unsupported(case) -> str | None:
    """Why a node case is outside what our ops model (2-D NCHW, SAME_UPPER / VALID / explicit pads)."""
    graph = case_model(case).graph
    if len(graph.node) != 1 or graph.node[0].op_type not in ("Conv", "ConvInteger", "QLinearConv"):
        return f"not a single Conv / ConvInteger / QLinearConv node: {[n.op_type for n in graph.node]}"
    node = graph.node[0]
    attributes = _attributes(node)
    unknown = set(attributes) - SUPPORTED_ATTRIBUTES
    if unknown:
        return f"attributes {sorted(unknown)}"
    auto_pad = attributes.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "VALID"):
        return f"auto_pad={auto_pad} (our 'same' is SAME_UPPER; SAME_LOWER puts the odd pad first)"
    x_info = next(i for i in graph.input if i.name == node.input[0])
    rank = len(x_info.type.tensor_type.shape.dim)
    if rank != 4:
        return f"{rank - 2}-D convolution (ours is 2-D NCHW)"
    elem = x_info.type.tensor_type.elem_type
    if node.op_type == "Conv" and elem != TensorProto.FLOAT:
        return f"Conv on {TensorProto.DataType.Name(elem)} (conv2d is float32 in / out here)"
    if node.op_type != "Conv" and elem not in (TensorProto.UINT8, TensorProto.INT8):
        return f"{node.op_type} on {TensorProto.DataType.Name(elem)}"
    return None


SELECTED = sorted(name for name, case in NODE_CASES.items() if _unsupported(case) is None)
EXCLUDED = sorted(name for name, case in NODE_CASES.items() if _unsupported(case) is not None)


def _our_geometry(attributes: dict, w_shape) -> dict:
    auto_pad = attributes.get("auto_pad", "NOTSET")
    if "kernel_shape" in attributes:
        assert tuple(attributes["kernel_shape"]) == tuple(w_shape[2:]), (attributes, w_shape)
    if auto_pad == "SAME_UPPER":
        padding = "same"
    elif auto_pad == "VALID":
        padding = "valid"
    else:
        padding = tuple(attributes.get("pads", (0, 0, 0, 0)))  # ONNX [top, left, bottom, right]
    return dict(stride=tuple(attributes.get("strides", (1, 1))), padding=padding,
                dilation=tuple(attributes.get("dilations", (1, 1))), groups=int(attributes.get("group", 1)))


def _explicit_pads(x_shape, w_shape, geometry) -> tuple[int, int, int, int]:
    padding = geometry["padding"]
    if padding == "same":
        return same_upper_pads(x_shape[2:], w_shape[2:], geometry["stride"], geometry["dilation"])
    return (0, 0, 0, 0) if padding == "valid" else padding


def _abs_conv64(x, w, geometry) -> np.ndarray:
    """Σ_k |x|·|w| per output, in float64, from the definition (zero padding)."""
    pads = _explicit_pads(x.shape, w.shape, geometry)
    (sh, sw), (dh, dw), groups = geometry["stride"], geometry["dilation"], geometry["groups"]
    ho, wo = output_hw(x.shape[2:], w.shape[2:], (sh, sw), (dh, dw), pads)
    xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + pads[0] + pads[2], x.shape[3] + pads[1] + pads[3]))
    xp[:, :, pads[0]:pads[0] + x.shape[2], pads[1]:pads[1] + x.shape[3]] = np.abs(x.astype(np.float64))
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    per_in, per_out = w.shape[1], w.shape[0] // groups
    for o in range(w.shape[0]):
        g = o // per_out
        for c in range(per_in):
            for i in range(w.shape[2]):
                for j in range(w.shape[3]):
                    window = xp[:, g * per_in + c, i * dh: i * dh + (ho - 1) * sh + 1: sh,
                                j * dw: j * dw + (wo - 1) * sw + 1: sw]
                    out[:, o] += window * abs(float(w[o, c, i, j]))
    return out


def gamma(n: int, unit: float) -> float:
    return n * unit / (1.0 - n * unit)


def fp32_reordering_bound(x, w, bias, geometry) -> np.ndarray:
    """How far two float32 evaluations of the same convolution may differ, elementwise.

    With T = Σ_k |x_k·w_k| (+ |b|), any float32 evaluation of Σ_k x_k·w_k (+ b) that rounds each
    of the K products and each of the at most K additions once (u = 2^-24 each), in any order,
    possibly with a final rounding of a wider result to float32, lies within γ_{K+2}·T of the exact
    value (Higham, Accuracy and Stability of Numerical Algorithms, §3.1 and §4.2:
    |ŝ − s| ≤ γ_n·Σ|terms| for n rounding errors on every path, γ_n = n·u / (1 − n·u)). Ours
    (conv2d, fp32: products rounded, tile order) and ONNX's expected output (its reference
    implementation's own order) are two such evaluations, so they differ by at most
    2·γ_{K+2}·T. T itself is computed in float64 and inflated by (1 + γ_{K+1}(2^-53)) to cover
    its own rounding.
    """
    depth = int(np.prod(w.shape[1:]))
    total = _abs_conv64(x, w, geometry)
    if bias is not None:
        total = total + np.abs(bias.astype(np.float64))[None, :, None, None]
    total *= 1.0 + gamma(depth + 1, 2.0**-53)
    return 2.0 * gamma(depth + 2, 2.0**-24) * total


def test_node_cases_selected():
    assert len(SELECTED) >= 1, (sorted(NODE_CASES), EXCLUDED)
    assert "test_qlinearconv" in SELECTED
    assert any(name.startswith("test_convinteger_") for name in SELECTED)
    assert any(name.startswith("test_basic_conv_") for name in SELECTED)
    assert any(name.startswith("test_conv_with_") for name in SELECTED)


@pytest.mark.parametrize("name", SELECTED)
def test_onnx_node_case(name):
    case = NODE_CASES[name]
    model = case_model(case)
    graph = model.graph
    node = graph.node[0]
    attributes = _attributes(node)
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    feed_names = [i.name for i in graph.input if i.name not in constants]
    data_sets = case_data_sets(case)
    assert data_sets, name
    for inputs, outputs in data_sets:
        values = dict(constants)
        values.update(zip(feed_names, inputs))
        operands = [values[n] if n else None for n in node.input]
        (expected,) = outputs
        x, w = operands[0], operands[1] if node.op_type != "QLinearConv" else operands[3]
        geometry = _our_geometry(attributes, w.shape)
        if node.op_type == "ConvInteger":
            xz = operands[2] if len(operands) > 2 and operands[2] is not None else 0
            wz = operands[3] if len(operands) > 3 and operands[3] is not None else 0
            wz = np.asarray(wz)
            actual = ik.ops.conv_integer(x, w, np.asarray(xz).reshape(()), wz.reshape(()) if wz.size == 1 else wz,
                                         **geometry)
            assert_same(expected, actual, name)
        elif node.op_type == "QLinearConv":
            _, sx, zx, _, sw, zw, sy, zy = operands[:8]
            bias = operands[8] if len(operands) > 8 else None
            sw, zw = np.asarray(sw), np.asarray(zw)
            if sw.size == 1:
                w_qp = QParams(sw.reshape(()), zw.reshape(()), w.dtype)
            else:
                w_qp = QParams(sw, np.broadcast_to(zw.reshape(-1), sw.shape), w.dtype, axis=0)
            x_qp = QParams(np.asarray(sx).reshape(()), np.asarray(zx).reshape(()), x.dtype)
            y_qp = QParams(np.asarray(sy).reshape(()), np.asarray(zy).reshape(()), np.asarray(zy).dtype)
            actual = ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, bias=bias, mode="float", **geometry)
            assert_same(expected, actual, name)
        else:
            bias = operands[2] if len(operands) > 2 else None
            actual = ik.ops.conv2d(x, w, bias, precision="fp32", **geometry)
            assert actual.dtype == expected.dtype == np.float32 and actual.shape == expected.shape, name
            bound = fp32_reordering_bound(x, w, bias, geometry)
            diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
            assert np.isfinite(actual).all()
            worst = np.unravel_index(np.argmax(diff - bound), diff.shape)
            assert (diff <= bound).all(), (name, worst, actual[worst], expected[worst], bound[worst])
            # and ours is the reference's tile order, bit for bit
            pads = _explicit_pads(x.shape, w.shape, geometry)
            reference = ref_conv.conv_float(x, w, bias, geometry["stride"], pads, geometry["dilation"],
                                            geometry["groups"], "fp32")
            np.testing.assert_array_equal(actual.view(np.uint32), reference.view(np.uint32), strict=True)


@pytest.mark.parametrize("name", EXCLUDED)
def test_onnx_node_case_out_of_scope(name):
    pytest.skip(f"{name}: {_unsupported(NODE_CASES[name])}")
