"""quantize / dequantize bit-exact against ONNX Runtime's QuantizeLinear / DequantizeLinear.

Models are built in memory (opset 21) with the scale and zero point as graph *inputs*, so one
cached session per (op, dtype, axis, rank) serves every hypothesis example. Sessions run on the
CPU provider with one intra-op thread.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import inferentia_kernels as ik

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

OPSET = 21  # per-axis needs >= 13; ONNX Runtime 1.32 accepts <= 25
F32 = np.finfo(np.float32)
TINY_SUBNORMAL = float(F32.smallest_subnormal)
INT_DTYPES = (np.int8, np.uint8)
ONNX_TYPE = {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8}


@functools.lru_cache(maxsize=None)
def session(op: str, dtype_name: str, axis: int | None, rank: int):
    """An InferenceSession for QuantizeLinear (op "q") or DequantizeLinear (op "dq")."""
    int_type = ONNX_TYPE[np.dtype(dtype_name)]
    dims = [f"d{i}" for i in range(rank)]
    in_type, out_type = (TensorProto.FLOAT, int_type) if op == "q" else (int_type, TensorProto.FLOAT)
    param_shape = [] if axis is None else ["channels"]
    inputs = [
        helper.make_tensor_value_info("x", in_type, dims),
        helper.make_tensor_value_info("scale", TensorProto.FLOAT, param_shape),
        helper.make_tensor_value_info("zero_point", int_type, param_shape),
    ]
    output = helper.make_tensor_value_info("y", out_type, dims)
    attributes = {} if axis is None else {"axis": axis}
    node = helper.make_node(
        "QuantizeLinear" if op == "q" else "DequantizeLinear", ["x", "scale", "zero_point"], ["y"], **attributes
    )
    graph = helper.make_graph([node], f"{op}_{dtype_name}_{axis}_{rank}", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_ort(op, x, scale, zero_point, dtype, axis):
    feeds = {
        "x": np.asarray(x, order="C"),  # (np.ascontiguousarray would turn 0-d into shape (1,))
        "scale": np.asarray(scale, dtype=np.float32, order="C"),
        "zero_point": np.asarray(zero_point, dtype=dtype, order="C"),
    }
    return session(op, np.dtype(dtype).name, axis, np.ndim(x)).run(None, feeds)[0]


# ---------------------------------------------------------------------------------------------
# case generation (same families as tests/test_quantize.py)
# ---------------------------------------------------------------------------------------------

SPECIAL_FLOATS = [
    0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, float(F32.max), -float(F32.max), 1e38, -1e38,
    float(F32.smallest_normal), -float(F32.smallest_normal), TINY_SUBNORMAL, -TINY_SUBNORMAL,
    float(np.array(0xFFC01234, np.uint32).view(np.float32)),  # NaN with sign and payload
]
raw_floats = st.one_of(st.floats(width=32), st.sampled_from(SPECIAL_FLOATS))
units = st.one_of(
    st.integers(-300, 300).map(lambda k: k + 0.5),  # exact ties, also at the clamp bounds
    st.integers(-300, 300).map(float),
    st.tuples(st.integers(-300, 300), st.sampled_from([-1e-6, 1e-6, -0.4999999, 0.4999999])).map(sum),
    st.floats(-400.0, 400.0),  # beyond [qmin - zp, qmax - zp]: saturation at both ends
)
scales = st.one_of(
    st.sampled_from(
        [1.0, 0.5, 2.0, 0.1, 1 / 3, 0.007874016, 255 / 7, 2.0**-20, 2.0**-140, TINY_SUBNORMAL, 1e-30, 1e30]
    ),
    st.floats(min_value=TINY_SUBNORMAL, max_value=2.0**120, width=32),
    st.builds(lambda m, e: float(np.float32(m * 2.0**e)), st.floats(1.0, 2.0), st.integers(-30, 30)),
)


@st.composite
def layouts(draw, per_axis: bool):
    dtype = draw(st.sampled_from(INT_DTYPES))
    rank = draw(st.integers(1 if per_axis else 0, 4))
    # sizes around ONNX Runtime's vector widths (4, 8, 16) so its tail loops are exercised too
    shape = draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))
    if rank and draw(st.booleans()):
        shape[-1] = draw(st.sampled_from([7, 15, 16, 17, 33, 64]))
    info = np.iinfo(dtype)
    zero_points = st.integers(int(info.min), int(info.max))
    if per_axis:
        axis = draw(st.integers(-rank, rank - 1))
        n = shape[axis]
        scale = np.array(draw(st.lists(scales, min_size=n, max_size=n)), np.float32)
        zero_point = np.array(draw(st.lists(zero_points, min_size=n, max_size=n)), dtype)
    else:
        axis = None
        scale, zero_point = np.array(draw(scales), np.float32), np.array(draw(zero_points), dtype)
    return dtype, tuple(shape), axis, scale, zero_point


def broadcast_along(values, ndim, axis):
    if axis is None:
        return values
    shape = [1] * ndim
    shape[axis] = values.size
    return values.reshape(shape)


@st.composite
def quantize_cases(draw, per_axis: bool):
    dtype, shape, axis, scale, zero_point = draw(layouts(per_axis))
    raw = draw(hnp.arrays(np.float32, shape, elements=raw_floats))
    unit = draw(hnp.arrays(np.float64, shape, elements=units))
    use_unit = draw(hnp.arrays(np.bool_, shape))
    with np.errstate(over="ignore"):
        scaled = (unit * broadcast_along(scale, len(shape), axis).astype(np.float64)).astype(np.float32)
    return np.where(use_unit, scaled, raw).astype(np.float32), scale, zero_point, dtype, axis


@st.composite
def dequantize_cases(draw, per_axis: bool):
    dtype, shape, axis, scale, zero_point = draw(layouts(per_axis))
    return draw(hnp.arrays(dtype, shape)), scale, zero_point, dtype, axis


def check_quantize(x, scale, zero_point, dtype, axis):
    ours = ik.quantize(x, ik.QParams(scale, zero_point.astype(np.int32), dtype, axis))
    theirs = run_ort("q", x, scale, zero_point, dtype, axis)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if not np.array_equal(ours, theirs):
        rows = []
        for index in map(tuple, np.argwhere(ours != theirs)[:5]):
            c = index[axis] if axis is not None else ()
            rows.append(
                f"x[{index}]={float(x[index])!r} (0x{int(x[index].view(np.uint32)):08x}) "
                f"scale={float(scale[c])!r} (0x{int(scale[c].view(np.uint32)):08x}) zp={int(zero_point[c])} "
                f"{np.dtype(dtype).name}: ours {ours[index]}, onnxruntime {theirs[index]}"
            )
        pytest.fail("QuantizeLinear disagrees with ONNX Runtime:\n" + "\n".join(rows))


def check_dequantize(q, scale, zero_point, dtype, axis):
    ours = ik.dequantize(q, ik.QParams(scale, zero_point.astype(np.int32), dtype, axis))
    theirs = run_ort("dq", q, scale, zero_point, dtype, axis)
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape
    ours_bits, theirs_bits = ours.view(np.uint32), np.asarray(theirs, order="C").view(np.uint32)
    if not np.array_equal(ours_bits, theirs_bits):
        rows = []
        for index in map(tuple, np.argwhere(ours_bits != theirs_bits)[:5]):
            c = index[axis] if axis is not None else ()
            rows.append(
                f"q[{index}]={int(q[index])} scale={float(scale[c])!r} zp={int(zero_point[c])}: "
                f"ours {ours[index]!r}, onnxruntime {theirs[index]!r}"
            )
        pytest.fail("DequantizeLinear disagrees with ONNX Runtime:\n" + "\n".join(rows))


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------


@given(quantize_cases(per_axis=False))
def test_quantize_per_tensor_matches_onnxruntime(case):
    check_quantize(*case)


@given(quantize_cases(per_axis=True))
def test_quantize_per_axis_matches_onnxruntime(case):
    check_quantize(*case)


@given(dequantize_cases(per_axis=False))
def test_dequantize_per_tensor_matches_onnxruntime(case):
    check_dequantize(*case)


@given(dequantize_cases(per_axis=True))
def test_dequantize_per_axis_matches_onnxruntime(case):
    check_dequantize(*case)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 15, 16, 17, 31, 32, 33, 1000])
def test_special_values_every_length(dtype, n):
    """NaN, +-Inf, exact ties and both saturation ends at every position of vectors whose lengths
    hit ONNX Runtime's vector and scalar (tail) code paths."""
    info = np.iinfo(dtype)
    pool = np.array(
        [np.nan, -np.nan, np.inf, -np.inf, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, 128.5, -127.5,
         -128.5, -129.5, 254.5, 255.5, 1e30, -1e30, F32.max, -F32.max, TINY_SUBNORMAL, -0.0],
        np.float32,
    )
    for shift in range(len(pool)):
        x = np.resize(np.roll(pool, shift), n)
        for zero_point in {0, int(info.min), int(info.max), int(info.min) + 77}:
            check_quantize(x, np.array(1.0, np.float32), np.array(zero_point, dtype), dtype, None)
            check_quantize(x, np.array(0.5, np.float32), np.array(zero_point, dtype), dtype, None)


def test_large_tensor_matches_onnxruntime():
    """One large tensor of mixed values, per tensor and per axis (ONNX Runtime's blocked paths)."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((64, 1031)) * 200).astype(np.float32)
    ties = rng.random(x.shape) < 0.2
    x[ties] = np.rint(x[ties]) + np.float32(0.5)
    x[rng.random(x.shape) < 0.01] = np.nan
    x[rng.random(x.shape) < 0.01] = np.inf
    x[rng.random(x.shape) < 0.01] = -np.inf
    for dtype in INT_DTYPES:
        info = np.iinfo(dtype)
        check_quantize(x, np.array(1.0, np.float32), np.array(int(info.min) + 100, dtype), dtype, None)
        scale = rng.uniform(0.25, 3.0, 64).astype(np.float32)
        zero_point = rng.integers(info.min, info.max + 1, 64).astype(dtype)
        check_quantize(x, scale, zero_point, dtype, 0)
        q = rng.integers(info.min, info.max + 1, (64, 1031)).astype(dtype)
        check_dequantize(q, scale, zero_point, dtype, 0)
