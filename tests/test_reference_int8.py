"""Tests of the INT8 executable specification (inferentia_kernels/reference) itself.

(a) matmul_integer against ONNX Runtime MatMulInteger, all four u8/s8 × u8/s8 combinations;
(b) qlinear_matmul ("float" mode) against ONNX Runtime QLinearMatMul, incl. exact .5 ties and saturation;
(c) the fixed-point primitives against tests/tflite_fixedpoint.py, an independent transcription of the
    TFLite / gemmlowp C++ sources;
(d) quantize_multiplier golden values computed by hand;
(e) the ONNX backend node cases test_matmulinteger and test_qlinearmatmul_*.
"""

from __future__ import annotations

import functools
import glob
import itertools
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tflite_fixedpoint as tfl
from inferentia_kernels.reference.matmul_integer import matmul_integer
from inferentia_kernels.reference.requantize import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    qlinear_matmul,
    qlinear_multiplier,
    quantize_multiplier,
    requantize,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
U8, S8 = np.dtype(np.uint8), np.dtype(np.int8)
ONNX_TYPE = {U8: TensorProto.UINT8, S8: TensorProto.INT8}
OPSET = 21


# ------------------------------------------------------------------------------------------------
# ONNX Runtime sessions (built in memory, cached per dtype combination, one thread)
# ------------------------------------------------------------------------------------------------


def _session(model) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


@functools.cache
def matmul_integer_session(ta: np.dtype, tb: np.dtype) -> ort.InferenceSession:
    node = helper.make_node("MatMulInteger", ["A", "B", "a_zero_point", "b_zero_point"], ["Y"])
    inputs = [
        helper.make_tensor_value_info("A", ONNX_TYPE[ta], None),
        helper.make_tensor_value_info("B", ONNX_TYPE[tb], None),
        helper.make_tensor_value_info("a_zero_point", ONNX_TYPE[ta], None),
        helper.make_tensor_value_info("b_zero_point", ONNX_TYPE[tb], None),
    ]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.INT32, None)]
    graph = helper.make_graph([node], "matmul_integer", inputs, outputs)
    return _session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]))


QLMM_INPUTS = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"]


@functools.cache
def qlinear_matmul_session(ta: np.dtype, tb: np.dtype, ty: np.dtype) -> ort.InferenceSession:
    types = [ONNX_TYPE[ta], TensorProto.FLOAT, ONNX_TYPE[ta], ONNX_TYPE[tb], TensorProto.FLOAT,
             ONNX_TYPE[tb], TensorProto.FLOAT, ONNX_TYPE[ty]]
    node = helper.make_node("QLinearMatMul", QLMM_INPUTS, ["y"])
    inputs = [helper.make_tensor_value_info(n, t, None) for n, t in zip(QLMM_INPUTS, types)]
    outputs = [helper.make_tensor_value_info("y", ONNX_TYPE[ty], None)]
    graph = helper.make_graph([node], "qlinear_matmul", inputs, outputs)
    return _session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]))


def _ort_per_column(v: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ORT rejects a 1-D per-column b zero point / scale when b has batch dimensions ("B zero point is
    not valid"); it wants shape [*batch, 1, N]. The reference takes the 1-D vector (DESIGN.md)."""
    v = np.asarray(v)
    if v.ndim == 1 and v.size > 1 and b.ndim > 2:
        return np.ascontiguousarray(np.broadcast_to(v, b.shape[:-2] + (1, v.size)))
    return v


def ort_matmul_integer(a, b, za, zb) -> np.ndarray:
    sess = matmul_integer_session(a.dtype, b.dtype)
    feeds = {"A": a, "B": b, "a_zero_point": np.asarray(za, a.dtype),
             "b_zero_point": _ort_per_column(np.asarray(zb, b.dtype), b)}
    return sess.run(None, feeds)[0]


def ort_qlinear_matmul(a, sa, za, b, sb, zb, sy, zy, ty) -> np.ndarray:
    sess = qlinear_matmul_session(a.dtype, b.dtype, np.dtype(ty))
    values = [a, np.asarray(sa, np.float32), np.asarray(za, a.dtype), b,
              _ort_per_column(np.asarray(sb, np.float32), b), _ort_per_column(np.asarray(zb, b.dtype), b),
              np.asarray(sy, np.float32), np.asarray(zy, ty)]
    return sess.run(None, dict(zip(QLMM_INPUTS, values)))[0]


def assert_same(expected: np.ndarray, actual: np.ndarray, context="") -> None:
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, context)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, context)
    if not np.array_equal(actual, expected):
        bad = np.argwhere(actual != expected)[:10]
        raise AssertionError(
            f"{context}: {np.count_nonzero(actual != expected)} mismatches, e.g. at {bad.tolist()}: "
            f"expected {expected[tuple(bad.T)].tolist()}, got {actual[tuple(bad.T)].tolist()}"
        )


# ------------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------------

DTYPE_PAIRS = [(U8, U8), (U8, S8), (S8, U8), (S8, S8)]
# ORT 1.32 CPU QLinearMatMul kernels: (a, b, y) in {(u8, u8, u8), (u8, s8, u8), (s8, s8, s8)}; the other
# five combinations fail at session creation with NOT_IMPLEMENTED (checked in test_ort_qlinear_support).
QLMM_SUPPORTED = [(U8, U8, U8), (U8, S8, U8), (S8, S8, S8)]


def int_value(dt: np.dtype):
    info = np.iinfo(dt)
    return st.integers(int(info.min), int(info.max))


@st.composite
def matmul_operands(draw, ta: np.dtype, tb: np.dtype, max_k: int = 12):
    """(a, b, za, zb) with broadcastable batch dims, M, N, K >= 1, zb scalar or per column."""
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    m = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    k = draw(st.integers(1, max_k))
    a = draw(hnp.arrays(ta, batch_a + (m, k), elements=int_value(ta)))
    b = draw(hnp.arrays(tb, batch_b + (k, n), elements=int_value(tb)))
    za = draw(int_value(ta))
    if draw(st.booleans()):
        zb = np.array(draw(st.lists(int_value(tb), min_size=n, max_size=n)), dtype=tb)
    else:
        zb = draw(int_value(tb))
    return a, b, za, zb


# ------------------------------------------------------------------------------------------------
# (a) matmul_integer vs ONNX Runtime MatMulInteger
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=lambda t: t.name)
@settings(deadline=None)
@given(data=st.data())
def test_matmul_integer_vs_ort(ta, tb, data):
    a, b, za, zb = data.draw(matmul_operands(ta, tb))
    expected = matmul_integer(a, b, za, zb)
    assert expected.dtype == np.int32
    assert_same(ort_matmul_integer(a, b, za, zb), expected, f"{ta}x{tb}")


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=lambda t: t.name)
@pytest.mark.parametrize(("a_shape", "b_shape"), [((4,), (4, 3)), ((2, 4), (4,)), ((4,), (4,)), ((1, 1), (1, 1))])
def test_matmul_integer_1d_and_tiny_vs_ort(ta, tb, a_shape, b_shape):
    rng = np.random.default_rng(sum(a_shape) * 7 + sum(b_shape))
    a = rng.integers(np.iinfo(ta).min, np.iinfo(ta).max, a_shape, endpoint=True).astype(ta)
    b = rng.integers(np.iinfo(tb).min, np.iinfo(tb).max, b_shape, endpoint=True).astype(tb)
    expected = matmul_integer(a, b, 3, 5)
    assert expected.shape == np.matmul(a.astype(np.int64), b.astype(np.int64)).shape
    assert_same(ort_matmul_integer(a, b, 3, 5), expected)


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=lambda t: t.name)
def test_matmul_integer_extremes_vs_ort(ta, tb):
    """Largest |(a − za)(b − zb)| terms, both signs, with per-column zero points."""
    lo_a, hi_a = int(np.iinfo(ta).min), int(np.iinfo(ta).max)
    lo_b, hi_b = int(np.iinfo(tb).min), int(np.iinfo(tb).max)
    a = np.array([[lo_a] * 64, [hi_a] * 64, [lo_a, hi_a] * 32], dtype=ta)
    b = np.array([[lo_b, hi_b, lo_b, hi_b]] * 64, dtype=tb)
    for za, zb in [(lo_a, [lo_b, hi_b, hi_b, lo_b]), (hi_a, [hi_b, lo_b, lo_b, hi_b]), (0, 0)]:
        zb = np.asarray(zb, tb)
        expected = matmul_integer(a, b, za, zb)
        exact = (a.astype(np.int64) - za) @ (b.astype(np.int64) - zb.astype(np.int64))
        assert np.array_equal(expected, exact)
        assert_same(ort_matmul_integer(a, b, za, zb), expected)


@pytest.mark.parametrize(("ta", "tb", "x", "za"), [(U8, U8, 0, 255), (S8, S8, -128, 127), (U8, S8, 255, 0)])
def test_matmul_integer_int32_wraparound(ta, tb, x, za):
    """K = 33,027 extreme terms overflow int32: both the reference and ORT wrap (two's complement)."""
    k = 33_027
    a = np.full((1, k), x, ta)
    b = np.full((k, 2), x if tb == ta else -128, tb)
    zb = za if tb == ta else 127
    exact = k * (x - za) * ((x if tb == ta else -128) - zb)
    assert not INT32_MIN <= exact <= INT32_MAX
    wrapped = (exact + 2**31) % 2**32 - 2**31
    expected = matmul_integer(a, b, za, zb)
    assert expected.tolist() == [[wrapped, wrapped]]
    assert_same(ort_matmul_integer(a, b, za, zb), expected)


def test_matmul_integer_rejects_bad_arguments():
    a = np.zeros((2, 3), np.uint8)
    b = np.zeros((3, 4), np.int8)
    with pytest.raises(TypeError):
        matmul_integer(a.astype(np.int16), b)
    with pytest.raises(ValueError):
        matmul_integer(a, b.T)
    with pytest.raises(ValueError):
        matmul_integer(a, b, a_zero_point=[1, 2])  # per-row zero points are not part of the contract
    with pytest.raises(ValueError):
        matmul_integer(a, b, b_zero_point=np.zeros(3, np.int8))
    with pytest.raises(ValueError):
        matmul_integer(a, b, a_zero_point=256)
    with pytest.raises(ValueError):
        matmul_integer(a, b, b_zero_point=128)


# ------------------------------------------------------------------------------------------------
# (b) qlinear_matmul ("float" mode) vs ONNX Runtime QLinearMatMul
# ------------------------------------------------------------------------------------------------


def test_ort_qlinear_support():
    """Documents which QLinearMatMul type combinations ORT 1.32's CPU provider implements."""
    for combo in itertools.product([U8, S8], repeat=3):
        if combo in QLMM_SUPPORTED:
            qlinear_matmul_session(*combo)
        else:
            with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
                qlinear_matmul_session(*combo)


# Scales: either exact powers of two (so that acc · s lands exactly on .5 ties) or arbitrary float32.
pow2_scale = st.integers(-12, 4).map(lambda e: np.float32(2.0**e))
any_scale = st.floats(2.0**-13, 4.0, width=32).map(np.float32)
scale = st.one_of(pow2_scale, any_scale)


@pytest.mark.parametrize(("ta", "tb", "ty"), QLMM_SUPPORTED, ids=lambda t: t.name)
@settings(deadline=None)
@given(data=st.data())
def test_qlinear_matmul_float_vs_ort(ta, tb, ty, data):
    a, b, za, zb = data.draw(matmul_operands(ta, tb))
    n = b.shape[-1]
    sa = data.draw(scale)
    if np.ndim(zb) == 1:  # per column: b_scale and b_zero_point of the same shape, as ONNX requires
        sb = np.array(data.draw(st.lists(scale, min_size=n, max_size=n)), np.float32)
    else:
        sb = data.draw(scale)
    sy = data.draw(scale)
    zy = data.draw(int_value(ty))
    expected = qlinear_matmul(a, sa, za, b, sb, zb, sy, zy, ty)
    assert expected.dtype == ty
    assert_same(ort_qlinear_matmul(a, sa, za, b, sb, zb, sy, zy, ty), expected,
                f"sa={sa!r} sb={sb!r} sy={sy!r} za={za} zb={zb!r} zy={zy}")


@pytest.mark.parametrize(("ta", "tb", "ty"), QLMM_SUPPORTED, ids=lambda t: t.name)
def test_qlinear_matmul_exact_ties_vs_ort(ta, tb, ty):
    """acc · 0.5 = ±0.5, ±1.5, ±2.5, ...: round half to even, then + zero point, then clamp."""
    # acc[0, j] = (a − za)·(b[0, j] − zb) with a − za = 1 and b − zb running over −7..7
    za = 0 if ta == U8 else -1
    a = np.array([[za + 1]], ta)
    zb = 8 if tb == U8 else 0
    b = np.array([[zb + v for v in range(-7, 8)]], tb)
    zy = 0 if ty == S8 else 100
    y = qlinear_matmul(a, np.float32(0.5), za, b, np.float32(1.0), zb, np.float32(1.0), zy, ty)
    halves = [-3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]
    rne = [-4, -3, -2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2, 3, 4]
    assert [float(v) / 2 for v in range(-7, 8)] == halves
    assert y.tolist() == [[r + zy for r in rne]]
    assert_same(ort_qlinear_matmul(a, np.float32(0.5), za, b, np.float32(1.0), zb, np.float32(1.0), zy, ty), y)


@pytest.mark.parametrize(("ta", "tb", "ty"), QLMM_SUPPORTED, ids=lambda t: t.name)
def test_qlinear_matmul_saturation_vs_ort(ta, tb, ty):
    rng = np.random.default_rng(1)
    a = rng.integers(np.iinfo(ta).min, np.iinfo(ta).max, (4, 16), endpoint=True).astype(ta)
    b = rng.integers(np.iinfo(tb).min, np.iinfo(tb).max, (16, 6), endpoint=True).astype(tb)
    for sy in (np.float32(1e-6), np.float32(3.0e-3)):
        y = qlinear_matmul(a, np.float32(0.05), 3, b, np.float32(0.02), 1, sy, 5, ty)
        info = np.iinfo(ty)
        if sy < 1e-5:
            assert set(np.unique(y).tolist()) <= {info.min, info.max}
        assert_same(ort_qlinear_matmul(a, np.float32(0.05), 3, b, np.float32(0.02), 1, sy, 5, ty), y)
    # a vanishing multiplier leaves the zero point alone, here at the top of the range
    y = qlinear_matmul(a, np.float32(1.0), 0, b, np.float32(1.0), 0, np.float32(1e30), np.iinfo(ty).max, ty)
    assert (y == np.iinfo(ty).max).all()


def test_qlinear_float_int32_to_float32_rounding_vs_ort():
    """acc = 2^24 + 1 is not a float32: f32(acc) = 2^24 (RNE), so acc · 2^−25 becomes the tie 0.5 → 0,
    whereas the exact product 0.50000003 rounds to 1 (which the fixed-point modes give)."""
    k = 259
    a = np.full((1, k), 255, np.uint8)
    a[0, -1] = 59  # 258 · 255² + 59 · 13 = 2^24 + 1
    b = np.full((k, 1), 255, np.uint8)
    b[-1, 0] = 13
    assert matmul_integer(a, b).tolist() == [[2**24 + 1]]
    sa, sb, sy = np.float32(2.0**-12), np.float32(2.0**-13), np.float32(1.0)
    y = qlinear_matmul(a, sa, 0, b, sb, 0, sy, 10, np.uint8)
    assert y.tolist() == [[10]]
    assert_same(ort_qlinear_matmul(a, sa, 0, b, sb, 0, sy, 10, np.uint8), y)
    for mode in ("fixed_point", "fixed_point_single"):
        assert qlinear_matmul(a, sa, 0, b, sb, 0, sy, 10, np.uint8, mode=mode).tolist() == [[11]]


def test_qlinear_multiplier_float32_arithmetic():
    sa, sb, sy = np.float32(0.0066), np.float32(0.00705), np.float32(0.0107)
    s = qlinear_multiplier(sa, sb, sy, 1, "float")
    assert s.dtype == np.float32
    assert s == np.float32(np.float32(sa * sb) / sy)
    d = qlinear_multiplier(sa, sb, sy, 1, "fixed_point")
    assert d.dtype == np.float64
    assert d == float(sa) * float(sb) / float(sy)
    per_col = qlinear_multiplier(0.5, np.array([0.25, 0.125], np.float32), 2.0, 2, "float")
    assert per_col.tolist() == [0.0625, 0.03125]


def test_qlinear_matmul_bias_and_activation():
    a = np.array([[1, 2], [3, 4]], np.int8)
    b = np.array([[1, -1, 0], [2, 0, -3]], np.int8)
    acc = matmul_integer(a, b)
    bias = np.array([100, -7, 2**31 - 1], np.int32)
    with_bias = (acc.astype(np.int64) + bias + 2**31) % 2**32 - 2**31  # int32 wrap-around
    m = 0.5
    for mode in ("float", "fixed_point", "fixed_point_single"):
        y = qlinear_matmul(a, 1.0, 0, b, 1.0, 0, 2.0, -3, np.int8, bias=bias, mode=mode,
                           activation_range=(-10, 60))
        direct = requantize(with_bias, m, -3, np.int8, mode=mode)
        assert_same(np.clip(direct, -10, 60).astype(np.int8), y, mode)
    with pytest.raises(ValueError):
        requantize(acc, m, 0, np.int8, activation_range=(200, 300))


# ------------------------------------------------------------------------------------------------
# (c) fixed-point primitives vs the independent transcription
# ------------------------------------------------------------------------------------------------

EDGE_X = [INT32_MIN, INT32_MIN + 1, -(2**30), -3, -1, 0, 1, 3, 2**30, INT32_MAX - 1, INT32_MAX]
VALID_Q = [0, 2**30, 2**30 + 1, 3 * 2**29, 2**31 - 2, 2**31 - 1]  # what quantize_multiplier yields (q >= 0)
ANY_Q = VALID_Q + [INT32_MIN, INT32_MIN + 1, -(2**30), -1, 1]
SHIFTS = list(range(-31, 31))
int32s = st.integers(INT32_MIN, INT32_MAX)
valid_q = st.one_of(st.just(0), st.integers(2**30, 2**31 - 1))


def test_srdhm_grid_vs_transcription():
    xs, qs = zip(*itertools.product(EDGE_X + ANY_Q, EDGE_X + ANY_Q))
    got = saturating_rounding_doubling_high_mul(np.array(xs), np.array(qs))
    assert got.tolist() == [tfl.SaturatingRoundingDoublingHighMul(x, q) for x, q in zip(xs, qs)]


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=50))
def test_srdhm_vs_transcription(pairs):
    xs, qs = zip(*pairs)
    got = saturating_rounding_doubling_high_mul(np.array(xs), np.array(qs))
    assert got.tolist() == [tfl.SaturatingRoundingDoublingHighMul(x, q) for x, q in pairs]


def test_srdhm_edges():
    srdhm = saturating_rounding_doubling_high_mul
    assert srdhm(INT32_MIN, INT32_MIN) == INT32_MAX  # the only overflow: saturates
    assert srdhm(INT32_MIN, INT32_MAX) == -INT32_MAX
    assert srdhm(INT32_MAX, INT32_MAX) == INT32_MAX - 1
    # exact ties a·b/2^31 = k + 0.5 go toward +inf (DESIGN.md): +0.5 → 1, −0.5 → 0, ±1.5 → 2 / −1
    assert srdhm(2**15, 2**15) == 1
    assert srdhm(-(2**15), 2**15) == 0
    assert srdhm(3 * 2**15, 2**15) == 2
    assert srdhm(-3 * 2**15, 2**15) == -1
    assert srdhm(-5 * 2**15, 2**15) == -2
    # not ties: nearest
    assert srdhm(2**15 - 1, 2**15) == 0  # 0.49998
    assert srdhm(-(2**15) - 1, 2**15) == -1  # −0.50002
    for a, b in [(2**15, 2**15), (-(2**15), 2**15), (-3 * 2**15, 2**15)]:
        assert srdhm(a, b) == tfl.SaturatingRoundingDoublingHighMul(a, b)


def test_rdbpot_grid_vs_transcription():
    xs, es = zip(*itertools.product(EDGE_X + [-6, -5, -2, 2, 5, 6], range(0, 32)))
    got = rounding_divide_by_pot(np.array(xs), np.array(es))
    assert got.tolist() == [tfl.RoundingDivideByPOT(x, e) for x, e in zip(xs, es)]


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=50))
def test_rdbpot_vs_transcription(pairs):
    xs, es = zip(*pairs)
    got = rounding_divide_by_pot(np.array(xs), np.array(es))
    assert got.tolist() == [tfl.RoundingDivideByPOT(x, e) for x, e in pairs]


def test_rdbpot_ties_away_from_zero():
    rdbpot = rounding_divide_by_pot
    assert [int(rdbpot(x, 1)) for x in (-5, -3, -1, 1, 3, 5)] == [-3, -2, -1, 1, 2, 3]
    assert [int(rdbpot(x, 2)) for x in (-10, -6, -2, 2, 6, 10)] == [-3, -2, -1, 1, 2, 3]
    assert [int(rdbpot(x, 2)) for x in (-7, -5, 5, 7)] == [-2, -1, 1, 2]  # not ties
    assert int(rdbpot(2**30, 31)) == 1 and int(rdbpot(-(2**30), 31)) == -1
    assert int(rdbpot(INT32_MIN, 31)) == -1 and int(rdbpot(INT32_MAX, 31)) == 1
    assert int(rdbpot(-7, 0)) == -7
    with pytest.raises(ValueError):
        rdbpot(1, 32)


def test_mbqm_grid_vs_transcription():
    """Every shift in [−31, 30] × edge x × q, incl. negative q and INT32_MIN (double rounding has no
    check on q)."""
    xs, qs, ss = zip(*itertools.product(EDGE_X, ANY_Q, SHIFTS))
    got = multiply_by_quantized_multiplier(np.array(xs), np.array(qs), np.array(ss))
    assert got.tolist() == [tfl.MultiplyByQuantizedMultiplier(x, q, s) for x, q, s in zip(xs, qs, ss)]


@given(st.lists(st.tuples(int32s, valid_q, st.integers(-31, 30)), min_size=1, max_size=50))
def test_mbqm_vs_transcription(triples):
    xs, qs, ss = zip(*triples)
    got = multiply_by_quantized_multiplier(np.array(xs), np.array(qs), np.array(ss))
    assert got.tolist() == [tfl.MultiplyByQuantizedMultiplier(*t) for t in triples]


def test_mbqm_left_shift_wraps():
    # 2^30 · 2 wraps to INT32_MIN before the high multiply: 2^30 · 0.5 · 2 gives −2^30, not 2^30
    assert int(multiply_by_quantized_multiplier(2**30, 2**30, 1)) == -(2**30)
    assert tfl.MultiplyByQuantizedMultiplier(2**30, 2**30, 1) == -(2**30)
    assert int(multiply_by_quantized_multiplier(-1, 2**30, 30)) == -(2**29)
    with pytest.raises(ValueError):
        multiply_by_quantized_multiplier(1, 2**30, 31)


def _check_single(x: int, q: int, s: int, got: int) -> None:
    exact = (x * q + 2 ** (30 - s)) >> (31 - s)
    assert got == exact
    if INT32_MIN <= exact <= INT32_MAX:
        assert got == tfl.MultiplyByQuantizedMultiplierSingleRounding(x, q, s)
    else:
        # a debug TFLite build aborts on its DCHECK; a release build wraps with static_cast<int32_t>;
        # the reference keeps the exact int64 value (documented in reference/requantize.py)
        with pytest.raises(tfl.CheckFailed):
            tfl.MultiplyByQuantizedMultiplierSingleRounding(x, q, s)
        assert tfl.int32(got) == tfl.MultiplyByQuantizedMultiplierSingleRounding(x, q, s, debug=False)


def test_mbqm_single_rounding_grid_vs_transcription():
    xs, qs, ss = zip(*itertools.product(EDGE_X, VALID_Q, SHIFTS))
    got = multiply_by_quantized_multiplier_single_rounding(np.array(xs), np.array(qs), np.array(ss))
    for x, q, s, g in zip(xs, qs, ss, got.tolist()):
        _check_single(x, q, s, g)


@given(st.lists(st.tuples(int32s, valid_q, st.integers(-31, 30)), min_size=1, max_size=50))
def test_mbqm_single_rounding_vs_transcription(triples):
    xs, qs, ss = zip(*triples)
    got = multiply_by_quantized_multiplier_single_rounding(np.array(xs), np.array(qs), np.array(ss))
    for (x, q, s), g in zip(triples, got.tolist()):
        _check_single(x, q, s, g)


def test_mbqm_single_rounding_ties_and_checks():
    f = multiply_by_quantized_multiplier_single_rounding
    # q = 2^30, shift = 0 is ×0.5: ties go toward +inf (arithmetic shift of x·q + 2^30)
    assert [int(f(x, 2**30, 0)) for x in (-3, -1, 1, 3)] == [-1, 0, 1, 2]
    with pytest.raises(ValueError):
        f(1, -(2**30), 0)  # TFLITE_DCHECK(quantized_multiplier >= 0)
    with pytest.raises(ValueError):
        f(1, 2**30, 31)


# ------------------------------------------------------------------------------------------------
# requantize fixed-point modes vs the transcription
# ------------------------------------------------------------------------------------------------

multiplier = st.one_of(
    st.floats(2.0**-34, 2.0**12, allow_subnormal=False),
    st.integers(-33, 12).map(lambda e: 2.0**e),
    st.just(0.0),
)


@pytest.mark.parametrize("mode", ["fixed_point", "fixed_point_single"])
@pytest.mark.parametrize("dtype", [U8, S8], ids=lambda t: t.name)
@given(data=st.data())
def test_requantize_fixed_point_vs_transcription(mode, dtype, data):
    n = data.draw(st.integers(1, 4))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)) + (n,)
    acc = data.draw(hnp.arrays(np.int32, shape, elements=int32s))
    ms = data.draw(st.one_of(multiplier, st.lists(multiplier, min_size=n, max_size=n)))
    zp = data.draw(int_value(dtype))
    lo, hi = sorted(data.draw(st.tuples(st.integers(-200, 300), st.integers(-200, 300))))
    rng = data.draw(st.sampled_from([None, (lo, hi)]))
    info = np.iinfo(dtype)
    qlo, qhi = int(info.min), int(info.max)
    if rng is not None:
        qlo, qhi = max(qlo, lo), min(qhi, hi)
        if qlo > qhi:
            with pytest.raises(ValueError):
                requantize(acc, ms, zp, dtype, mode=mode, activation_range=rng)
            return
    got = requantize(acc, ms, zp, dtype, mode=mode, activation_range=rng)
    assert got.dtype == dtype and got.shape == acc.shape
    single = mode == "fixed_point_single"
    col_m = [ms] * n if isinstance(ms, float) else ms
    for idx in np.ndindex(acc.shape):
        q, s = tfl.QuantizeMultiplier(col_m[idx[-1]], single_rounding=single)
        x = int(acc[idx])
        if single:
            scaled = (x * q + 2 ** (30 - s)) >> (31 - s)  # exact int64 value (see _check_single)
            if INT32_MIN <= scaled <= INT32_MAX:
                assert scaled == tfl.MultiplyByQuantizedMultiplierSingleRounding(x, q, s)
        else:
            scaled = tfl.MultiplyByQuantizedMultiplier(x, q, s)
        assert int(got[idx]) == min(max(scaled + zp, qlo), qhi), (idx, x, q, s)


def test_requantize_float_mode_by_hand():
    acc = np.array([[-3, -1, 1, 3, 5, 2**24 + 1, INT32_MAX, INT32_MIN]], np.int32)
    y = requantize(acc, 0.5, 1, np.int8)
    # f32(acc)·0.5 = −1.5, −0.5, 0.5, 1.5, 2.5 → RNE −2, −0, 0, 2, 2; 2^23 and ±2^30 saturate
    assert y.tolist() == [[-1, 1, 1, 3, 3, 127, 127, -128]]
    y = requantize(np.array([[1, 1]], np.int32), np.array([0.5, 1.5]), 0, np.uint8)
    assert y.tolist() == [[0, 2]]
    # "float" rounds the multiplier to float32 once (0.5 + 2^-30 → 0.5, so 1 · m is the tie 0.5 → 0);
    # the fixed-point modes use the float64 value (q = 2^30 + 2, so 1 · m → 1)
    m = 0.5 + 2.0**-30
    assert requantize(np.array([1], np.int32), m, 0, np.int8).tolist() == [0]
    assert requantize(np.array([1], np.int32), m, 0, np.int8, mode="fixed_point").tolist() == [1]


def test_requantize_rejects_bad_arguments():
    acc = np.zeros((2, 3), np.int32)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            requantize(acc, bad, 0, np.int8)
    with pytest.raises(ValueError):
        requantize(acc, [0.5, 0.5], 0, np.int8)
    with pytest.raises(ValueError):
        requantize(acc, 0.5, 128, np.int8)
    with pytest.raises(ValueError):
        requantize(acc, 0.5, 0, np.int8, mode="exact")
    with pytest.raises(TypeError):
        requantize(acc, 0.5, 0, np.int16)
    with pytest.raises(ValueError):
        requantize(np.array([2**31]), 0.5, 0, np.int8)
    with pytest.raises(ValueError):
        requantize(acc, 2.0**30, 0, np.int8, mode="fixed_point")  # shift 31: UB in TFLite's default build
    assert requantize(acc + 1, 2.0**30, 0, np.int8, mode="fixed_point_single").tolist() == [[127] * 3] * 2


# ------------------------------------------------------------------------------------------------
# (d) quantize_multiplier golden values (by hand)
# ------------------------------------------------------------------------------------------------

GOLDEN = [
    (0.5, (2**30, 0)),  # frexp(0.5) = (0.5, 0)
    (1.0, (2**30, 1)),  # frexp(1) = (0.5, 1)
    (0.75, (3 * 2**29, 0)),
    (1.5, (3 * 2**29, 1)),
    (0.1, (1717986918, -3)),  # 0.1 = 0.8·2^-3; 0.8·2^31 = 1717986918.4 → 1717986918
    (2.0**-31, (2**30, -30)),
    (2.0**-32, (2**30, -31)),  # smallest power of two kept
    (2.0**-32 - 2.0**-64, (2**30, -31)),  # m = 1 − 2^-32 rounds up to 2^31: renormalised, kept
    (2.0**-33, (0, 0)),  # shift −32 < −31: flushed
    (1e-300, (0, 0)),
    (5e-324, (0, 0)),
    (0.0, (0, 0)),
    (-0.0, (0, 0)),
    (1 - 2.0**-40, (2**30, 1)),  # m·2^31 = 2^31 − 2^-9 rounds to 2^31: renormalised
    (0.5 + 2.0**-32, (2**30 + 1, 0)),  # m·2^31 = 2^30 + 0.5 exactly: away from zero (RNE would give 2^30)
    (-(0.5 + 2.0**-32), (-(2**30) - 1, 0)),
    (0.5 + 3 * 2.0**-32, (2**30 + 2, 0)),  # 2^30 + 1.5 → 2^30 + 2
    (-0.75, (-3 * 2**29, 0)),
    (2.0**29, (2**30, 30)),  # largest shift allowed
    (2.0**30 - 2.0**6, (2**31 - 2**7, 30)),
    (math.nextafter(2.0**30 - 0.25, 0.0), (2**31 - 1, 30)),  # largest multiplier with shift <= 30
]


@pytest.mark.parametrize(("real", "expected"), GOLDEN, ids=[repr(g[0]) for g in GOLDEN])
def test_quantize_multiplier_golden(real, expected):
    assert quantize_multiplier(real) == expected
    assert tfl.QuantizeMultiplier(real) == expected
    assert quantize_multiplier(real, single_rounding=True) == expected


def test_quantize_multiplier_flush_boundary():
    kept = 2.0**-32 - 2.0**-64
    below = math.nextafter(kept, 0.0)
    assert quantize_multiplier(kept) == (2**30, -31)
    assert quantize_multiplier(below) == (0, 0) == tfl.QuantizeMultiplier(below)


@pytest.mark.parametrize("real", [2.0**30 - 0.25, 2.0**30, math.nextafter(2.0**30, 0.0), 1e300])
def test_quantize_multiplier_shift_above_30(real):
    """Default build: no check in QuantizeMultiplier, but a shift of 31 makes MultiplyByQuantizedMultiplier
    evaluate 1 << 31 (UB) → ValueError here. TFLITE_SINGLE_ROUNDING saturates to (2^31 − 1, 30)."""
    _, shift = tfl.QuantizeMultiplier(real)
    assert shift > 30
    with pytest.raises(ValueError):
        quantize_multiplier(real)
    assert quantize_multiplier(real, single_rounding=True) == (2**31 - 1, 30)
    assert tfl.QuantizeMultiplier(real, single_rounding=True) == (2**31 - 1, 30)


@pytest.mark.parametrize("real", [float("nan"), float("inf"), -float("inf")])
def test_quantize_multiplier_non_finite(real):
    with pytest.raises(ValueError):
        quantize_multiplier(real)


@given(st.floats(-(2.0**29), 2.0**29, allow_nan=False))
def test_quantize_multiplier_vs_transcription(real):
    q, shift = quantize_multiplier(real)
    assert (q, shift) == tfl.QuantizeMultiplier(real)
    assert (q, shift) == quantize_multiplier(real, single_rounding=True)
    if q:
        assert 2**30 <= abs(q) <= 2**31 - 1 or q == -(2**31)
        # |real − q·2^(shift−31)| <= half a unit of q's last place
        assert abs(real - q * 2.0 ** (shift - 31)) <= 2.0 ** (shift - 32)
    else:
        assert shift == 0 and abs(real) < 2.0**-32


# ------------------------------------------------------------------------------------------------
# (e) ONNX backend node cases
# ------------------------------------------------------------------------------------------------


def _node_cases():
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():  # building the whole node suite warns in unrelated generators
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return {c.name: c for c in cases if c.name == "test_matmulinteger" or c.name.startswith("test_qlinearmatmul_")}


NODE_CASES = _node_cases()


def _data_sets(case):
    """In-memory data sets (onnx >= 1.17 builds node cases in memory), else data_set_*/input_*.pb."""
    if case.data_sets is not None:
        return case.data_sets
    sets = []
    for d in sorted(glob.glob(os.path.join(case.model_dir, "data_set_*"))):
        def load(kind):
            files = sorted(glob.glob(os.path.join(d, f"{kind}_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
            out = []
            for p in files:
                t = TensorProto()
                with open(p, "rb") as fh:
                    t.ParseFromString(fh.read())
                out.append(numpy_helper.to_array(t))
            return out
        sets.append((load("input"), load("output")))
    return sets


def test_node_cases_selected():
    assert "test_matmulinteger" in NODE_CASES
    assert any(name.startswith("test_qlinearmatmul_") for name in NODE_CASES)


@pytest.mark.parametrize("name", sorted(NODE_CASES))
def test_onnx_node_case(name):
    case = NODE_CASES[name]
    data_sets = _data_sets(case)
    assert data_sets
    for inputs, (expected,) in data_sets:
        if name == "test_matmulinteger":
            a, b, za, zb = inputs
            assert_same(expected, matmul_integer(a, b, za, zb), name)
        else:
            a, sa, za, b, sb, zb, sy, zy = inputs
            for mode in ("float", "fixed_point", "fixed_point_single"):
                assert_same(expected, qlinear_matmul(a, sa, za, b, sb, zb, sy, zy, zy.dtype, mode=mode), f"{name} {mode}")
