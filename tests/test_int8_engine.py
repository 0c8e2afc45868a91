"""Bit-exact tests of the public INT8 ops against the executable specification.

``ik.ops.matmul_integer``, ``ik.ops.requantize`` and ``ik.ops.qlinear_matmul`` are compared with
``inferentia_kernels.reference`` (slow NumPy of DESIGN.md §2); the fixed-point kernels and
``quantize_multiplier`` with ``tests/tflite_fixedpoint.py`` (an independent transcription of the
TFLite / gemmlowp C++ sources). Every comparison checks dtype, shape and every element.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import inferentia_kernels as ik
import tflite_fixedpoint as tfl
from inferentia_kernels.errors import AccumulatorOverflowWarning, InferentiaKernelsError
from inferentia_kernels.kernels import requantize as kreq
from inferentia_kernels.numerics.fixed_point import quantize_multiplier
from inferentia_kernels.ops import _int8_engine, _tiles
from inferentia_kernels.reference import matmul_integer as ref_mm
from inferentia_kernels.reference import requantize as ref_rq
from int8_cases import expected_activation_range, fill_array, info

QParams = ik.QParams

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
U8, S8 = np.dtype(np.uint8), np.dtype(np.int8)
DTYPES = [U8, S8]
DTYPE_PAIRS = list(itertools.product(DTYPES, repeat=2))
DTYPE_TRIPLES = list(itertools.product(DTYPES, repeat=3))
MODES = ("float", "fixed_point", "fixed_point_single")

#: Microkernel (4) and tile (128) edges for M and N.
EDGE_MN = [1, 2, 3, 4, 5, 7, 8, 9, 12, 127, 128, 129, 255, 256, 257]
#: K values around the packing blocks (64) and the systolic array's 128 / 256 rows.
EDGE_K = [0, 1, 2, 3, 4, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 1024, 2048, 4096]
#: Largest M·K·N a single hypothesis example may cost (the reference is a plain int64 matmul).
MAX_MACS = 2**21

def ids(value):
    if isinstance(value, np.dtype):
        return value.name
    return None


def combo_id(combo) -> str:
    return "x".join(np.dtype(t).name for t in combo)


def assert_same(expected: np.ndarray, actual: np.ndarray, context: str = "") -> None:
    """Bit-exact: same dtype, same shape, every element equal."""
    assert isinstance(actual, np.ndarray), (type(actual), context)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, context)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, context)
    assert actual.flags.writeable, context  # a fresh result, not a read-only broadcast view
    np.testing.assert_array_equal(actual, expected, err_msg=context, strict=True)


# ------------------------------------------------------------------------------------------------
# strategies and data generation
# ------------------------------------------------------------------------------------------------

FILLS = ("random", "min", "max", "minmax", "zero_point", "near_extremes")


def zero_point_value(dt):
    """Extreme, odd and arbitrary zero points."""
    lo, hi = info(dt)
    return st.one_of(st.sampled_from([lo, lo + 1, hi - 1, hi, 0, 1, -1 if lo < 0 else 127, 3, 101]),
                     st.integers(lo, hi))


@st.composite
def b_zero_point(draw, dt, n: int):
    """A scalar (Python int, numpy scalar or size-1 array) or one per column."""
    kind = draw(st.sampled_from(["int", "numpy", "size1", "per_column"] if n else ["int", "numpy", "size1"]))
    if kind == "per_column":
        values = draw(st.lists(zero_point_value(dt), min_size=n, max_size=n))
        return np.array(values, dtype=dt)
    value = draw(zero_point_value(dt))
    if kind == "int":
        return value
    if kind == "numpy":
        return dt.type(value)
    return np.array([value], dtype=dt)


seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------------------------------------
# matmul_integer: shapes at the microkernel and tile edges, K up to 4096, extreme values
# ------------------------------------------------------------------------------------------------


@st.composite
def gemm_shape(draw):
    k = draw(st.sampled_from(EDGE_K))
    m = draw(st.sampled_from(EDGE_MN))
    n = draw(st.sampled_from(EDGE_MN))
    if m * n * max(k, 1) > MAX_MACS:
        # keep one of M and N at a tile edge and make the other small
        if draw(st.booleans()):
            m = draw(st.sampled_from([1, 3, 4, 5]))
        else:
            n = draw(st.sampled_from([1, 3, 4, 5]))
    while m * n * max(k, 1) > MAX_MACS:
        m, n = max(1, m // 2), max(1, n // 2)
    return m, k, n


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
@given(shape=gemm_shape(), fills=st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)), seed=seeds,
       data=st.data())
def test_matmul_integer_vs_reference(ta, tb, shape, fills, seed, data):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    za = data.draw(zero_point_value(ta), label="za")
    zb = data.draw(b_zero_point(tb, n), label="zb")
    a = fill_array(rng, ta, (m, k), fills[0], za)
    b = fill_array(rng, tb, (k, n), fills[1], int(np.asarray(zb).reshape(-1)[0]) if np.size(zb) else 0)
    expected = ref_mm.matmul_integer(a, b, za, zb)
    actual = ik.ops.matmul_integer(a, b, za, zb)
    assert_same(expected, actual, f"{ta}x{tb} M={m} K={k} N={n} za={za} zb={zb!r}")


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_column_vector(ta, tb):
    """1 x K x 1 for every K, with the extreme products of both signs."""
    lo_a, hi_a = info(ta)
    lo_b, hi_b = info(tb)
    for k in EDGE_K:
        for (x, za), (y, zb) in itertools.product([(lo_a, hi_a), (hi_a, lo_a)], [(lo_b, hi_b), (hi_b, lo_b)]):
            a = np.full((1, k), x, ta)
            b = np.full((k, 1), y, tb)
            expected = ref_mm.matmul_integer(a, b, za, zb)
            assert expected.tolist() == [[k * (x - za) * (y - zb)]]
            assert_same(expected, ik.ops.matmul_integer(a, b, za, zb), f"K={k}")


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_accumulators_above_2_24(ta, tb):
    """Sums well beyond float32's exact integers (2^24), with per-column zero points of both signs."""
    lo_a, hi_a = info(ta)
    lo_b, hi_b = info(tb)
    k, n = 4096, 9
    rng = np.random.default_rng(7)
    a = np.stack([np.full(k, lo_a), np.full(k, hi_a), rng.choice([lo_a, hi_a], k), rng.integers(lo_a, hi_a, k)])
    a = a.astype(ta)
    b = np.where(rng.integers(0, 4, (k, n)) == 0, lo_b, hi_b).astype(tb)
    b[:, 0] = lo_b
    b[:, 1] = hi_b
    zb = np.array([hi_b, lo_b, lo_b, hi_b, 0, 1, hi_b - 1, lo_b + 1, 5], dtype=tb)
    for za in (lo_a, hi_a, 0, lo_a + 1):
        expected = ref_mm.matmul_integer(a, b, za, zb)
        assert np.abs(expected.astype(np.int64)).max() > 2**24
        assert_same(expected, ik.ops.matmul_integer(a, b, za, zb), f"za={za}")


# ---- batch dimensions and 1-D operands -----------------------------------------------------------

MATMUL_SIGNATURE = "(m?,k),(k,n?)->(m?,n?)"


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
@given(
    shapes=hnp.mutually_broadcastable_shapes(signature=MATMUL_SIGNATURE, max_dims=3, max_side=5),
    fills=st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)),
    seed=seeds,
    data=st.data(),
)
def test_matmul_integer_batch_broadcasting_vs_reference(ta, tb, shapes, fills, seed, data):
    """numpy matmul broadcasting: 3-D with 2-D, both 3-D, broadcasting 1s, 1-D a or b."""
    a_shape, b_shape = shapes.input_shapes
    rng = np.random.default_rng(seed)
    n = 1 if len(b_shape) == 1 else b_shape[-1]
    za = data.draw(zero_point_value(ta), label="za")
    zb = data.draw(b_zero_point(tb, n), label="zb")
    a = fill_array(rng, ta, a_shape, fills[0], za)
    b = fill_array(rng, tb, b_shape, fills[1])
    expected = ref_mm.matmul_integer(a, b, za, zb)
    assert expected.shape == np.matmul(np.zeros(a_shape), np.zeros(b_shape)).shape
    assert_same(expected, ik.ops.matmul_integer(a, b, za, zb), f"{a_shape} @ {b_shape}")


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((2, 3, 130), (130, 129)),  # 3-D a with shared 2-D weights (folded into one GEMM)
        ((3, 130), (2, 130, 5)),  # 2-D a with 3-D b
        ((2, 5, 129), (2, 129, 131)),  # both 3-D
        ((2, 1, 5, 7), (1, 3, 7, 4)),  # broadcasting 1s on both sides
        ((1, 5, 7), (4, 7, 6)),
        ((4, 5, 7), (1, 7, 6)),
        ((7,), (7, 129)),  # 1-D a
        ((5, 7), (7,)),  # 1-D b
        ((2, 3, 257), (257,)),
        ((257,), (2, 257, 9)),
        ((0, 3, 5), (5, 4)),  # empty batch
        ((2, 0, 5), (2, 5, 4)),  # M = 0 inside a batch
        ((2, 3, 0), (0, 4)),  # K = 0 with a batch
    ],
)
@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_batch_shapes(ta, tb, a_shape, b_shape):
    rng = np.random.default_rng(len(a_shape) * 100 + len(b_shape))
    a = fill_array(rng, ta, a_shape, "random")
    b = fill_array(rng, tb, b_shape, "random")
    lo_a, hi_a = info(ta)
    n = 1 if len(b_shape) == 1 else b_shape[-1]
    zb = fill_array(rng, tb, (n,), "random") if len(b_shape) > 1 else info(tb)[0]
    expected = ref_mm.matmul_integer(a, b, hi_a, zb)
    actual = ik.ops.matmul_integer(a, b, hi_a, zb)
    assert_same(expected, actual)
    assert actual.flags.c_contiguous


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_vector_dot_shape(ta, tb):
    """1-D @ 1-D is a 0-d result, as in numpy and ONNX."""
    a = np.array([1, 2, 3], ta)
    b = np.array([4, 5, 6], tb)
    expected = ref_mm.matmul_integer(a, b, 1, 2)
    assert expected.shape == ()
    assert_same(expected, ik.ops.matmul_integer(a, b, 1, 2))
    y_qp = QParams(0.5, 3, ta)
    y = ik.ops.qlinear_matmul(a, QParams(0.25, 1, ta), b, QParams(2.0, 2, tb), y_qp)
    assert_same(ref_rq.qlinear_matmul(a, np.float32(0.25), 1, b, np.float32(2.0), 2, np.float32(0.5), 3, ta), y)


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_results_are_fresh_arrays(ta, tb):
    """Results are writeable, C-contiguous and never share memory with the inputs (also when a batch of
    a broadcasts against shared 2-D weights)."""
    rng = np.random.default_rng(1)
    for a_shape, b_shape in [((1, 3, 5), (5, 4)), ((2, 3, 5), (5, 4)), ((3, 5), (1, 5, 4)), ((5,), (5,)),
                             ((5,), (5, 4)), ((3, 5), (5,))]:
        a = fill_array(rng, ta, a_shape, "random")
        b = fill_array(rng, tb, b_shape, "random")
        y = ik.ops.matmul_integer(a, b, 1, 2)
        assert y.flags.writeable and y.flags.c_contiguous
        assert not np.shares_memory(y, a) and not np.shares_memory(y, b)
        y[...] = 0  # must not fail


# ---- int32 wrap-around and the overflow warning ----------------------------------------------------


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_wraps_and_warns(ta, tb):
    """K = 40000 extreme terms exceed int32: the result is the reference's wrapped value, with a warning."""
    lo_a, hi_a = info(ta)
    lo_b, hi_b = info(tb)
    k = 40_000
    # (a value, za, b value, zb): overflows upwards, downwards, downwards, upwards, exactly 0
    cases = [(lo_a, hi_a, lo_b, hi_b), (hi_a, lo_a, lo_b, hi_b), (lo_a, hi_a, hi_b, lo_b), (hi_a, lo_a, hi_b, lo_b),
             (lo_a, hi_a, lo_b, lo_b)]
    for x, za, y, zb in cases:
        a = np.full((1, k), x, ta)
        b = np.full((k, 1), y, tb)
        exact = k * (x - za) * (y - zb)
        expected = ref_mm.matmul_integer(a, b, za, zb)
        assert int(expected[0, 0]) == (exact + 2**31) % 2**32 - 2**31
        assert (exact == 0) or not (INT32_MIN <= exact <= INT32_MAX)
        with pytest.warns(AccumulatorOverflowWarning, match="matmul_integer"):
            actual = ik.ops.matmul_integer(a, b, za, zb)
        assert_same(expected, actual, f"x={x} za={za} y={y} zb={zb}")
    # per-column zero points: one column overflows upwards, one is exact 0
    a = np.full((1, k), lo_a, ta)
    b2 = np.full((k, 2), lo_b, tb)
    zb2 = np.array([hi_b, lo_b], tb)
    expected = ref_mm.matmul_integer(a, b2, hi_a, zb2)
    with pytest.warns(AccumulatorOverflowWarning):
        actual = ik.ops.matmul_integer(a, b2, hi_a, zb2)
    assert_same(expected, actual)
    assert int(actual[0, 1]) == 0


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_overflow_warning_threshold(ta, tb):
    """The warning is issued exactly when K·max|a − za|·max|b − zb| can exceed 2^31 − 1."""
    lo_a, hi_a = info(ta)
    lo_b, hi_b = info(tb)
    # 33,025 · 255² = 2,147,450,625 < 2^31 − 1 < 33,026 · 255²
    for k, warns in [(33_025, False), (33_026, True)]:
        a = np.full((1, k), hi_a, ta)
        b = np.full((k, 1), hi_b, tb)
        expected = ref_mm.matmul_integer(a, b, lo_a, lo_b)
        if warns:
            with pytest.warns(AccumulatorOverflowWarning):
                actual = ik.ops.matmul_integer(a, b, lo_a, lo_b)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                actual = ik.ops.matmul_integer(a, b, lo_a, lo_b)
        assert_same(expected, actual, f"K={k}")
    # K = 40000 with zero points in the middle of the range: bound 40000·128² < 2^31, no warning
    k = 40_000
    mid_a = 128 if ta == U8 else 0
    mid_b = 128 if tb == U8 else 0
    a = np.full((1, k), lo_a, ta)
    b = np.full((k, 3), lo_b, tb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        actual = ik.ops.matmul_integer(a, b, mid_a, np.array([mid_b, mid_b, mid_b], tb))
    assert_same(ref_mm.matmul_integer(a, b, mid_a, mid_b), actual)


# ---- memory layouts, read-only inputs, empty results ---------------------------------------------


def layouts(x: np.ndarray, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Views of the same values with different memory layouts."""
    fortran = np.asfortranarray(x)
    transposed = np.ascontiguousarray(x.T).T  # a transposed view
    big = np.zeros((x.shape[0] * 2, x.shape[1] * 3), x.dtype)
    big[::2, ::3] = x
    stepped = big[::2, ::3]
    rev = np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]
    ro = x.copy()
    ro.flags.writeable = False
    ro_view = np.ascontiguousarray(x.T).T
    ro_view.flags.writeable = False
    return [("c", x), ("fortran", fortran), ("transposed", transposed), ("stepped", stepped),
            ("reversed", rev), ("read_only", ro), ("read_only_transposed", ro_view)]


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
@pytest.mark.parametrize(("m", "k", "n"), [(5, 7, 9), (129, 33, 130), (1, 300, 3)])
def test_matmul_integer_non_contiguous_and_read_only(ta, tb, m, k, n):
    rng = np.random.default_rng(m * k * n)
    a = fill_array(rng, ta, (m, k), "random")
    b = fill_array(rng, tb, (k, n), "random")
    zb = fill_array(rng, tb, (n,), "random")
    expected = ref_mm.matmul_integer(a, b, 3, zb)
    zb_ro = zb.copy()
    zb_ro.flags.writeable = False
    zb_stepped = np.repeat(zb, 2)[::2]
    for (name_a, av), (name_b, bv) in itertools.product(layouts(a, rng), layouts(b, rng)):
        np.testing.assert_array_equal(av, a)
        for zbv in (zb, zb_ro, zb_stepped):
            assert_same(expected, ik.ops.matmul_integer(av, bv, 3, zbv), f"a {name_a}, b {name_b}")
        assert av.flags.writeable == (not name_a.startswith("read_only"))
    # the inputs are not modified
    a0, b0 = a.copy(), b.copy()
    ik.ops.matmul_integer(a, b, 3, zb)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_matmul_integer_transposed_batch_views(ta, tb):
    rng = np.random.default_rng(3)
    a = fill_array(rng, ta, (3, 9, 6), "random").transpose(0, 2, 1)  # [3, 6, 9] non-contiguous
    b = fill_array(rng, tb, (5, 9, 3), "random").transpose(2, 1, 0)[:, :, ::2]  # [3, 9, 3]
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    assert_same(ref_mm.matmul_integer(a, b, 2, 1), ik.ops.matmul_integer(a, b, 2, 1))


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
@pytest.mark.parametrize(("m", "k", "n"), [(0, 5, 3), (4, 5, 0), (0, 0, 0), (0, 5, 0), (3, 0, 4), (129, 0, 130),
                                           (1, 0, 1)])
def test_matmul_integer_empty(ta, tb, m, k, n):
    lo_a, hi_a = info(ta)
    lo_b, hi_b = info(tb)
    a = np.zeros((m, k), ta)
    b = np.zeros((k, n), tb)
    for za, zb in [(0, 0), (hi_a, lo_b), (lo_a, np.full(n, hi_b, tb)) if n else (lo_a, hi_b)]:
        actual = ik.ops.matmul_integer(a, b, za, zb)
        assert_same(np.zeros((m, n), np.int32), actual)
        assert_same(ref_mm.matmul_integer(a, b, za, zb), actual)


# ---- the result does not depend on the thread split -------------------------------------------------


SPLIT_SHAPES = [(37, 300, 259), (1, 4096, 33), (300, 70, 5), (8, 129, 128), (129, 1, 131), (2, 257, 515)]


def _split_inputs(ta, tb, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = fill_array(rng, ta, (m, k), "random")
    b = fill_array(rng, tb, (k, n), "random")
    zb = fill_array(rng, tb, (n,), "random")
    return a, b, zb


@pytest.mark.parametrize("n_tile", [4, 8, 128])
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_results_do_not_depend_on_the_thread_split(monkeypatch, fresh_pool, threads, n_tile):
    monkeypatch.setattr(_tiles, "THREADS", threads)
    # split every product, however small (they would otherwise run on the calling thread alone)
    monkeypatch.setattr(_int8_engine, "PARALLEL_MACS", dict.fromkeys(_int8_engine.PARALLEL_MACS, 0))
    monkeypatch.setattr(_int8_engine, "FEW_ROWS_PARALLEL_MACS", 0)
    monkeypatch.setattr(_tiles, "N_TILE", n_tile)
    monkeypatch.setattr(_int8_engine, "STRIP_BYTES", n_tile * 512)  # from one column block per strip up
    for index, ((m, k, n), (ta, tb)) in enumerate(zip(SPLIT_SHAPES, itertools.cycle(DTYPE_PAIRS))):
        a, b, zb = _split_inputs(ta, tb, m, k, n, index)
        za = info(ta)[1] - 3
        expected = ref_mm.matmul_integer(a, b, za, zb)
        assert_same(expected, ik.ops.matmul_integer(a, b, za, zb), f"{threads=} {n_tile=} {(m, k, n)}")
        ty = (S8, U8)[index % 2]
        sb = np.linspace(0.001, 0.02, n, dtype=np.float32)
        bias = np.arange(n, dtype=np.int32) * 977 - 50_000
        for mode in MODES:
            y = ik.ops.qlinear_matmul(a, QParams(0.02, za, ta), b, QParams(sb, zb, tb, axis=-1),
                                      QParams(0.37, 3, ty), bias=bias, mode=mode)
            ref = ref_rq.qlinear_matmul(a, np.float32(0.02), za, b, sb, zb, np.float32(0.37), 3, ty, bias=bias,
                                        mode=mode)
            assert_same(ref, y, f"{threads=} {n_tile=} {(m, k, n)} {mode}")
    # requantize splits rows across the threads too
    rng = np.random.default_rng(threads * 10 + n_tile)
    acc = rng.integers(INT32_MIN, INT32_MAX, (301, 37), endpoint=True).astype(np.int32)
    acc[::7] = rng.choice(np.array(EDGE_ACC, np.int32), (43, 37))
    mult = 2.0 ** rng.uniform(-32, 0, 37)
    for mode in MODES:
        for dtype in DTYPES:
            expected = ref_rq.requantize(acc, mult, 3, dtype, mode=mode)
            assert_same(expected, ik.ops.requantize(acc, mult, QParams(1.0, 3, dtype), mode=mode), f"{mode}")


# ------------------------------------------------------------------------------------------------
# requantize
# ------------------------------------------------------------------------------------------------

EDGE_ACC = [INT32_MIN, INT32_MIN + 1, -(2**30), -(2**24) - 1, -255, -3, -2, -1, 0, 1, 2, 3, 255, 2**24 + 1,
            2**30, INT32_MAX - 1, INT32_MAX]
int32s = st.integers(INT32_MIN, INT32_MAX)
acc_element = st.one_of(st.sampled_from(EDGE_ACC), int32s, st.integers(-1000, 1000))


def _below(x: float) -> float:
    return math.nextafter(x, 0.0)


def multipliers(lo_exp: int = -32, hi_exp: int = 4, hi: float | None = None):
    """Positive multipliers spanning 2^lo_exp .. 2^hi_exp: arbitrary floats, powers of two, values just
    below powers of two (they round up to q = 2^31 in QuantizeMultiplier) and odd fractions."""
    top = 2.0**hi_exp if hi is None else hi
    pow2 = st.integers(lo_exp, hi_exp).map(lambda e: 2.0**e).filter(lambda v: v <= top)
    below = st.integers(lo_exp + 1, hi_exp).map(lambda e: _below(2.0**e)).filter(lambda v: v <= top)
    near = st.tuples(st.integers(lo_exp + 1, hi_exp), st.integers(1, 2**12)).map(
        lambda t: 2.0 ** t[0] * (1 - t[1] * 2.0**-33)).filter(lambda v: v <= top)
    return st.one_of(st.floats(2.0**lo_exp, top), pow2, below, near)


def activation_strategy():
    bound = st.one_of(st.floats(-300, 300), st.integers(-300, 300).map(float),
                      st.sampled_from([0.0, 6.0, -0.5, 0.5, -float("inf"), float("inf")]))
    pair = st.tuples(bound, bound).map(lambda p: (min(p), max(p)))
    return st.one_of(st.none(), st.sampled_from(["relu", "relu6"]), pair)


@st.composite
def requantize_case(draw, multiplier_strategy=None):
    n = draw(st.integers(1, 6))
    lead = draw(st.sampled_from([(), (1,), (3,), (2, 2), (0,)]))
    acc = draw(hnp.arrays(np.int32, lead + (n,), elements=acc_element))
    mults = multiplier_strategy if multiplier_strategy is not None else multipliers()
    if draw(st.booleans()):
        multiplier = draw(mults)
    else:
        multiplier = np.array(draw(st.lists(mults, min_size=n, max_size=n)), np.float64)
    dtype = draw(st.sampled_from(DTYPES))
    zp = draw(zero_point_value(dtype))
    scale = draw(st.one_of(st.sampled_from([1.0, 0.5, 0.25, 0.1, 0.05, 0.0235]), st.floats(1e-3, 10.0)))
    activation = draw(activation_strategy())
    return acc, multiplier, dtype, zp, scale, activation


def single_rounding_overflows(acc, multiplier) -> bool:
    """Whether TFLite's single-rounding product (acc·q + round) >> (31 − shift) leaves int32 for some element
    (TFLite DCHECKs that it does not; the spec saturates it). Uses the independent transcription."""
    acc = np.asarray(acc, np.int64)
    cols = acc.shape[-1] if acc.ndim else 1
    reals = np.broadcast_to(np.asarray(multiplier, np.float64), (cols,))
    qs, shifts = zip(*(tfl.QuantizeMultiplier(float(r), single_rounding=True) for r in reals))
    q = np.array(qs, np.int64)
    shift = np.array(shifts, np.int64)
    exact = (acc * q + (np.int64(1) << (30 - shift))) >> (31 - shift)
    return bool(((exact < INT32_MIN) | (exact > INT32_MAX)).any())


def check_requantize(case, mode):
    acc, multiplier, dtype, zp, scale, activation = case
    y_qp = QParams(scale, zp, dtype)
    rng = expected_activation_range(activation, np.float32(scale), zp, dtype)
    expected = ref_rq.requantize(acc, multiplier, zp, dtype, mode=mode, activation_range=rng)
    actual = ik.ops.requantize(acc, multiplier, y_qp, mode=mode, activation=activation)
    assert_same(expected, actual, f"{mode} multiplier={multiplier!r} zp={zp} activation={activation!r}")


OVERFLOWING_SINGLE = ((np.array([[INT32_MAX, 2**30, INT32_MIN, 7]], np.int32), 2.0, S8, 0, 1.0, None),)


@pytest.mark.parametrize("mode", ["float", "fixed_point"])
@given(case=requantize_case())
@example(case=OVERFLOWING_SINGLE[0])
def test_requantize_vs_reference(mode, case):
    check_requantize(case, mode)


@given(case=requantize_case())
def test_requantize_single_rounding_vs_reference(case):
    """Single rounding wherever the scaled value fits int32 (TFLite's DCHECK holds). The out-of-range
    products are covered by test_requantize_single_rounding_overflow_vs_reference."""
    assume(not single_rounding_overflows(case[0], case[1]))
    check_requantize(case, "fixed_point_single")


@given(case=requantize_case(multipliers(-32, 0, hi=1.0)))
def test_requantize_single_rounding_multiplier_up_to_1_vs_reference(case):
    """With multipliers <= 1 every int32 accumulator stays in range: no example is filtered."""
    assert not single_rounding_overflows(case[0], case[1])
    check_requantize(case, "fixed_point_single")


@given(case=requantize_case())
@example(case=OVERFLOWING_SINGLE[0])
def test_requantize_single_rounding_overflow_vs_reference(case):
    check_requantize(case, "fixed_point_single")


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_requantize_single_rounding_saturates(dtype):
    acc = np.array([INT32_MAX, 2**30, 2**28 + 3, INT32_MIN, -(2**30)], np.int32)
    lo, hi = info(dtype)
    expected = np.array([hi, hi, hi, lo, lo], dtype)
    assert_same(expected, ref_rq.requantize(acc, 2.0, 0 if dtype == S8 else 128, dtype, mode="fixed_point_single"))
    actual = ik.ops.requantize(acc, 2.0, QParams(1.0, 0 if dtype == S8 else 128, dtype), mode="fixed_point_single")
    assert_same(expected, actual)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_requantize_saturation_and_edges(mode, dtype):
    lo, hi = info(dtype)
    acc = np.array(EDGE_ACC, np.int32)
    for zp in (lo, hi, 0 if dtype == S8 else 128, 1):
        for multiplier in (1.0, 0.5, 2.0**-31, 2.0**-32, 2.0**-33, 1.0 / 3, _below(1.0), _below(0.5)):
            expected = ref_rq.requantize(acc, multiplier, zp, dtype, mode=mode)
            actual = ik.ops.requantize(acc, multiplier, QParams(1.0, zp, dtype), mode=mode)
            assert_same(expected, actual, f"{mode} zp={zp} multiplier={multiplier!r}")
        # INT32_MIN / INT32_MAX saturate at both ends (multiplier 0.5: no left shift in fixed point)
        y = ik.ops.requantize(np.array([INT32_MIN, INT32_MAX], np.int32), 0.5, QParams(1.0, zp, dtype), mode=mode)
        assert y.tolist() == [lo, hi]


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_requantize_fixed_point_largest_shift(dtype):
    """Shift 30 (multipliers up to just under 2^30) is the largest mode fixed_point accepts; the left
    shift wraps (DESIGN.md §2), exactly as the reference's."""
    acc = np.array(EDGE_ACC, np.int32)
    zp = info(dtype)[0] + 7
    for multiplier in (2.0**29, 2.0**30 - 2.0**6, 1.5 * 2.0**29, 2.0**30 - 0.5):
        q, shift = tfl.QuantizeMultiplier(multiplier)
        assert shift == 30 and 2**30 <= q < 2**31
        expected = ref_rq.requantize(acc, multiplier, zp, dtype, mode="fixed_point")
        assert_same(expected, ik.ops.requantize(acc, multiplier, QParams(1.0, zp, dtype), mode="fixed_point"))


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_requantize_float_ties_to_even(dtype):
    """acc odd with multiplier 0.5 gives exact .5 ties: round half to even, then + zero point."""
    acc = np.arange(-9, 10, dtype=np.int32)
    rne = [-4, -4, -4, -3, -2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 4]
    assert [int(v) for v in np.rint(acc / 2)] == rne
    zp = 5 if dtype == S8 else 100
    y = ik.ops.requantize(acc, 0.5, QParams(1.0, zp, dtype))
    assert_same((np.array(rne) + zp).astype(dtype), y)
    assert_same(ref_rq.requantize(acc, 0.5, zp, dtype), y)
    # 1.5 · odd: 1.5, 4.5, 7.5 → 2, 4, 8
    y = ik.ops.requantize(np.array([1, 3, 5, -1, -3, -5], np.int32), 1.5, QParams(1.0, 0, dtype))
    expected = [2, 4, 8, -2, -4, -8] if dtype == S8 else [2, 4, 8, 0, 0, 0]
    assert y.tolist() == expected
    # the int32 → float32 conversion rounds to nearest even: f32(2^24 + 1) = 2^24, so ·2^-25 is the tie 0.5 → 0
    y = ik.ops.requantize(np.array([2**24 + 1, 2**24 + 3], np.int32), 2.0**-25, QParams(1.0, 0, dtype))
    assert y.tolist() == [0, 1]
    assert ik.ops.requantize(np.array([2**24 + 1], np.int32), 2.0**-25, QParams(1.0, 0, dtype),
                             mode="fixed_point").tolist() == [1]


def test_requantize_float_rounds_the_multiplier_to_float32_once():
    m = 0.5 + 2.0**-30  # float32(m) = 0.5: 1 · m is the tie 0.5 → 0 in float mode; 1 in fixed point
    acc = np.array([1], np.int32)
    qp = QParams(1.0, 0, np.int8)
    assert ik.ops.requantize(acc, m, qp).tolist() == [0]
    assert ik.ops.requantize(acc, m, qp, mode="fixed_point").tolist() == [1]
    assert ik.ops.requantize(acc, m, qp, mode="fixed_point_single").tolist() == [1]


@pytest.mark.parametrize("mode", MODES)
def test_requantize_per_column_multipliers(mode):
    acc = np.array([[7, -7, 2**20, -(2**20)], [INT32_MAX, INT32_MIN, 3, -3]], np.int32)
    mult = np.array([2.0**-32, 2.0**-10, 0.75, 2.0**4 if mode != "fixed_point_single" else 1.0])
    for dtype in DTYPES:
        expected = ref_rq.requantize(acc, mult, 3, dtype, mode=mode)
        assert_same(expected, ik.ops.requantize(acc, mult, QParams(0.1, 3, dtype), mode=mode))
        # one column at a time gives the same as the per-column call
        for j in range(4):
            col = ik.ops.requantize(np.ascontiguousarray(acc[:, j:j + 1]), float(mult[j]), QParams(0.1, 3, dtype),
                                    mode=mode)
            assert_same(expected[:, j:j + 1], col)


@pytest.mark.parametrize("mode", MODES)
def test_requantize_layouts_and_scalars(mode):
    acc = np.arange(-60, 60, dtype=np.int32).reshape(6, 20) * 1_000_003
    expected = ref_rq.requantize(acc.T, 2.0**-22, -3, np.int8, mode=mode)
    qp = QParams(1.0, -3, np.int8)
    ro = acc.T.copy()
    ro.flags.writeable = False
    for view in (acc.T, np.asfortranarray(acc.T), ro):
        assert_same(expected, ik.ops.requantize(view, 2.0**-22, qp, mode=mode))
    stepped = np.repeat(acc, 2, axis=1)[:, ::2]
    assert_same(ref_rq.requantize(acc, 2.0**-22, -3, np.int8, mode=mode),
                ik.ops.requantize(stepped, np.float32(2.0**-22), qp, mode=mode))
    # 0-d and empty accumulators
    zero_d = np.int32(12345)
    assert_same(ref_rq.requantize(np.array(zero_d), 0.01, -3, np.int8, mode=mode),
                ik.ops.requantize(np.array(zero_d), 0.01, qp, mode=mode))
    assert_same(np.zeros((0, 4), np.int8), ik.ops.requantize(np.zeros((0, 4), np.int32), 0.5, qp, mode=mode))


# ---- activation: real bounds mapped into the output domain ------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_activation_mapping_by_hand(mode):
    # multiplier 0.5 halves these to INT32_MIN/2, −1000, −7, −1, 0, 1, 7, 1000, ≈2^30 (no left shift)
    acc = np.array([INT32_MIN, -2000, -14, -2, 0, 2, 14, 2000, INT32_MAX], np.int32)
    # relu clamps at the zero point
    qp = QParams(0.1, -10, np.int8)
    y = ik.ops.requantize(acc, 0.5, qp, mode=mode, activation="relu")
    assert y.tolist() == [-10, -10, -10, -10, -10, -9, -3, 127, 127]
    # relu6 with scale 0.1: 6 / 0.1f = 60 (float32), + zp = 50
    y = ik.ops.requantize(acc, 0.5, qp, mode=mode, activation="relu6")
    assert y.tolist() == [-10, -10, -10, -10, -10, -9, -3, 50, 50]
    # uint8 with zero point 0: relu changes nothing; relu6 with scale 0.5 → 12
    qp = QParams(0.5, 0, np.uint8)
    assert ik.ops.requantize(acc, 0.5, qp, mode=mode, activation="relu").tolist() == [0, 0, 0, 0, 0, 1, 7, 255, 255]
    assert ik.ops.requantize(acc, 0.5, qp, mode=mode, activation="relu6").tolist() == [0, 0, 0, 0, 0, 1, 7, 12, 12]
    # (lo, hi) real bounds: (-1.0, 2.5) with scale 0.5 and zero point 3 → [1, 8]
    qp = QParams(0.5, 3, np.uint8)
    y = ik.ops.requantize(acc, 0.5, qp, mode=mode, activation=(-1.0, 2.5))
    assert y.tolist() == [1, 1, 1, 2, 3, 4, 8, 8, 8]
    # bounds that land on .5 in the quantized domain round half to even: 0.25/0.5 = 0.5 → 0, 0.75/0.5 = 1.5 → 2
    y = ik.ops.requantize(acc, 0.5, qp, mode=mode, activation=(0.25, 0.75))
    assert y.tolist() == [3, 3, 3, 3, 3, 4, 5, 5, 5]
    # integer bounds, and bounds beyond the output range (clamped by QuantizeLinear's saturation)
    y = ik.ops.requantize(acc, 0.5, QParams(1.0, 0, np.int8), mode=mode, activation=(-2, 5))
    assert y.tolist() == [-2, -2, -2, -1, 0, 1, 5, 5, 5]
    y = ik.ops.requantize(acc, 0.5, QParams(1.0, 0, np.int8), mode=mode, activation=(-1e9, 1e9))
    assert y.tolist() == [-128, -128, -7, -1, 0, 1, 7, 127, 127]
    y = ik.ops.requantize(acc, 0.5, QParams(1.0, 0, np.int8), mode=mode, activation=(1000.0, 2000.0))
    assert y.tolist() == [127] * 9


@pytest.mark.parametrize("mode", MODES)
def test_activation_infinite_and_numpy_bounds(mode):
    """Infinite bounds saturate like QuantizeLinear (+inf → qmax, −inf → qmin), so (0, inf) is relu and
    (−inf, inf) no clamp; numpy scalars are real bounds like Python floats."""
    acc = np.array([INT32_MIN, -2000, -14, -2, 0, 2, 14, 2000, INT32_MAX], np.int32)
    inf = float("inf")
    for qp in (QParams(0.1, -10, np.int8), QParams(0.5, 3, np.uint8), QParams(0.02, 127, np.int8)):
        def run(activation):
            return ik.ops.requantize(acc, 0.5, qp, mode=mode, activation=activation)

        assert_same(run("relu"), run((0.0, inf)))
        assert_same(run(None), run((-inf, inf)))
        assert_same(run("relu6"), run((0, 6)))
        assert_same(run("relu6"), run((np.float32(0.0), np.float64(6.0))))
        assert_same(run((-1.5, 2.5)), run((np.float32(-1.5), np.float32(2.5))))
        assert_same(run((-3, 7)), run((np.int64(-3), np.int8(7))))
        lo, hi = info(qp.dtype)
        assert run((-inf, -inf)).tolist() == [lo] * acc.size
        assert run((inf, inf)).tolist() == [hi] * acc.size
        for activation in [(0.0, inf), (-inf, 0.0), (-inf, 6.0), (-inf, inf)]:
            rng = expected_activation_range(activation, qp.scale, int(qp.zero_point), qp.dtype)
            expected = ref_rq.requantize(acc, 0.5, qp.zero_point, qp.dtype, mode=mode, activation_range=rng)
            assert_same(expected, run(activation), repr(activation))


@given(
    scale=st.one_of(st.floats(1e-4, 100.0), st.sampled_from([0.1, 0.05, 0.0235, 1 / 3])),
    dtype=st.sampled_from(DTYPES),
    data=st.data(),
)
def test_activation_mapping_uses_quantize(scale, dtype, data):
    """The clamp of an activation is the real bound through ik.quantize with the output parameters."""
    zp = data.draw(zero_point_value(dtype))
    activation = data.draw(activation_strategy().filter(lambda a: a is not None))
    qp = QParams(scale, zp, dtype)
    lo, hi = info(dtype)
    bounds = {"relu": (0.0, None), "relu6": (0.0, 6.0)}.get(activation, activation)
    q_lo = int(ik.quantize(np.float32(bounds[0]), qp))
    q_hi = hi if bounds[1] is None else int(ik.quantize(np.float32(bounds[1]), qp))
    assert (q_lo, q_hi) == expected_activation_range(activation, qp.scale, zp, dtype)
    acc = np.array([INT32_MIN, -(2**20), -1, 0, 1, 2**20, INT32_MAX], np.int32)
    y = ik.ops.requantize(acc, 1.0, qp, activation=activation)
    assert y.tolist() == np.clip(np.clip(acc.astype(np.int64) + zp, lo, hi), q_lo, q_hi).tolist()
    if activation == "relu":
        assert int(y.min()) == zp


# ---- monotonicity ---------------------------------------------------------------------------------


def check_monotone(acc_values, multiplier, dtype, zp, mode):
    acc = np.sort(np.array(acc_values, np.int64)).astype(np.int32)
    y = ik.ops.requantize(acc, multiplier, QParams(1.0, zp, dtype), mode=mode)
    assert (np.diff(y.astype(np.int64)) >= 0).all(), (acc.tolist(), y.tolist())


monotone_acc = st.lists(acc_element, min_size=2, max_size=40)


@pytest.mark.parametrize(
    ("mode", "top"),
    [
        ("float", 2.0**4),
        # double rounding wraps acc · 2^left_shift by design (DESIGN.md §2), so only left_shift = 0
        ("fixed_point", 0.5),
        ("fixed_point_single", 1.0),
    ],
)
@given(acc=monotone_acc, dtype=st.sampled_from(DTYPES), data=st.data())
def test_requantize_is_monotone(mode, top, acc, dtype, data):
    multiplier = data.draw(multipliers(-32, 4, hi=top), label="multiplier")
    zp = data.draw(zero_point_value(dtype), label="zp")
    check_monotone(acc, multiplier, dtype, zp, mode)


@given(acc=monotone_acc, multiplier=multipliers(0, 4), zp=st.just(0))
@example(acc=[2**30, INT32_MAX], multiplier=2.0, zp=0)
def test_requantize_single_rounding_is_monotone_above_1(acc, multiplier, zp):
    check_monotone(acc, multiplier, S8, zp, "fixed_point_single")


# ------------------------------------------------------------------------------------------------
# fixed-point kernels against the independent TFLite transcription
# ------------------------------------------------------------------------------------------------

EDGE_X = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX]
SHIFTS = list(range(-31, 31))
_qrng = np.random.default_rng(2024)
EDGE_Q = [0, 2**30, 2**31 - 1] + [int(v) for v in _qrng.integers(2**30, 2**31, 3)]


def test_srdhm_kernel_vs_transcription():
    values = sorted(set(EDGE_X + EDGE_Q + [-(2**30), 2**15, -(2**15), 3 * 2**15, -3 * 2**15]))
    for a, b in itertools.product(values, repeat=2):
        got = kreq.saturating_rounding_doubling_high_mul(np.int32(a), np.int32(b))
        assert int(got) == tfl.SaturatingRoundingDoublingHighMul(a, b), (a, b)
    assert int(kreq.saturating_rounding_doubling_high_mul(np.int32(INT32_MIN), np.int32(INT32_MIN))) == INT32_MAX


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=40))
def test_srdhm_kernel_random_vs_transcription(pairs):
    for a, b in pairs:
        got = kreq.saturating_rounding_doubling_high_mul(np.int32(a), np.int32(b))
        assert int(got) == tfl.SaturatingRoundingDoublingHighMul(a, b), (a, b)


def test_rdbpot_kernel_vs_transcription():
    xs = EDGE_X + [-6, -5, -3, -2, 2, 3, 5, 6, -(2**30), 2**30] + EDGE_Q
    for x, e in itertools.product(xs, range(0, 32)):
        x = tfl.int32(x)
        got = kreq.rounding_divide_by_pot(np.int32(x), np.int32(e))
        assert int(got) == tfl.RoundingDivideByPOT(x, e), (x, e)


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=40))
def test_rdbpot_kernel_random_vs_transcription(pairs):
    for x, e in pairs:
        assert int(kreq.rounding_divide_by_pot(np.int32(x), np.int32(e))) == tfl.RoundingDivideByPOT(x, e)


WIDE_LOW, WIDE_HIGH = np.int32(INT32_MIN), np.int32(INT32_MAX)


def test_requantize_value_kernel_vs_transcription():
    """requantize_value with an unclamped output range equals MultiplyByQuantizedMultiplier for every
    shift in [-31, 30] (double rounding) and, where the result fits int32, single rounding."""
    f0 = np.float32(0)
    for x, q, s in itertools.product(EDGE_X, EDGE_Q, SHIFTS):
        got = kreq.requantize_value(np.int32(x), kreq.FIXED_POINT, f0, np.int32(q), np.int32(s), np.int32(0),
                                    WIDE_LOW, WIDE_HIGH)
        assert int(got) == tfl.MultiplyByQuantizedMultiplier(x, q, s), (x, q, s)
        exact = (x * q + 2 ** (30 - s)) >> (31 - s)
        if INT32_MIN <= exact <= INT32_MAX:
            got = kreq.requantize_value(np.int32(x), kreq.FIXED_POINT_SINGLE, f0, np.int32(q), np.int32(s),
                                        np.int32(0), WIDE_LOW, WIDE_HIGH)
            assert int(got) == tfl.MultiplyByQuantizedMultiplierSingleRounding(x, q, s) == exact, (x, q, s)


def _real_of(q: int, shift: int) -> float:
    """A float64 multiplier whose QuantizeMultiplier is (q, shift) (q = 0: one below the flush limit)."""
    return 2.0**-40 if q == 0 else q * 2.0 ** (shift - 31)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_requantize_op_fixed_point_grid_vs_transcription(dtype):
    """ik.ops.requantize (mode fixed_point) on every edge x, q and shift, against TFLite + zp + clamp."""
    lo, hi = info(dtype)
    zp = -5 if dtype == S8 else 7
    for q, s in itertools.product(EDGE_Q, SHIFTS):
        real = _real_of(q, s)
        expected_q = (q, s) if q else (0, 0)
        assert tfl.QuantizeMultiplier(real) == expected_q
        acc = np.array(EDGE_X + [3, -3, 2**20 + 1, -(2**20) - 1], np.int32)
        y = ik.ops.requantize(acc, real, QParams(1.0, zp, dtype), mode="fixed_point")
        want = [min(max(tfl.MultiplyByQuantizedMultiplier(int(x), *expected_q) + zp, lo), hi) for x in acc]
        assert y.tolist() == want, (q, s)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_requantize_op_single_rounding_grid_vs_transcription(dtype):
    """Mode fixed_point_single for shifts <= 0 (multiplier < 1: the result always fits int32)."""
    lo, hi = info(dtype)
    zp = 0 if dtype == S8 else 128
    for q, s in itertools.product(EDGE_Q, range(-31, 1)):
        real = _real_of(q, s)
        expected_q = tfl.QuantizeMultiplier(real, single_rounding=True)
        acc = np.array(EDGE_X + [3, -3, 2**20 + 1, -(2**20) - 1], np.int32)
        y = ik.ops.requantize(acc, real, QParams(1.0, zp, dtype), mode="fixed_point_single")
        want = [min(max(tfl.MultiplyByQuantizedMultiplierSingleRounding(int(x), *expected_q) + zp, lo), hi)
                for x in acc]
        assert y.tolist() == want, (q, s)


# ---- quantize_multiplier ------------------------------------------------------------------------


positive_float64 = st.one_of(
    st.floats(min_value=5e-324, max_value=1.7e308, allow_subnormal=True),
    st.floats(2.0**-40, 2.0**31),
    st.integers(-1074, 1023).map(lambda e: 2.0**e),  # powers of two
    st.integers(-1073, 1023).map(lambda e: _below(2.0**e)),  # just below: m·2^31 rounds up to 2^31
    st.tuples(st.integers(-40, 40), st.integers(1, 2**22)).map(lambda t: 2.0 ** t[0] * (1 - t[1] * 2.0**-53)),
    st.floats(5e-324, 2.0**-31),  # tiny: flushed below 2^-32
    st.integers(0, 2**20).map(lambda i: 0.5 + i * 2.0**-32),  # exact .5 ties of m·2^31 (away from zero)
)


@given(st.lists(positive_float64, min_size=1, max_size=30))
def test_quantize_multiplier_vs_transcription(reals):
    for single in (False, True):
        q, shift = quantize_multiplier(np.array(reals, np.float64), single_rounding=single)
        assert q.dtype == np.int32 and shift.dtype == np.int32
        expected = [tfl.QuantizeMultiplier(r, single_rounding=single) for r in reals]
        assert list(zip(q.tolist(), shift.tolist())) == expected, reals


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.5, (2**30, 0)),
        (1.0, (2**30, 1)),
        (_below(1.0), (2**30, 1)),  # rounds up to 2^31: renormalised
        (_below(2.0**-31), (2**30, -30)),  # rounds up: renormalised to 2^-31
        (2.0**-32, (2**30, -31)),
        (_below(2.0**-32), (2**30, -31)),  # m rounds up to 1 → shift −31, kept
        (2.0**-33, (0, 0)),  # flushed
        (5e-324, (0, 0)),
        (0.5 + 2.0**-32, (2**30 + 1, 0)),  # tie away from zero
        (0.5 + 3 * 2.0**-32, (2**30 + 2, 0)),
        (2.0**4, (2**30, 5)),
    ],
)
def test_quantize_multiplier_edges(real, expected):
    assert tfl.QuantizeMultiplier(real) == expected
    q, s = quantize_multiplier(np.array([real]), single_rounding=False)
    assert (int(q[0]), int(s[0])) == expected


# ------------------------------------------------------------------------------------------------
# qlinear_matmul
# ------------------------------------------------------------------------------------------------

pow2_scale = st.integers(-10, 0).map(lambda e: 2.0**e)
any_scale = st.floats(2.0**-10, 1.0)
in_scale = st.one_of(pow2_scale, any_scale, st.sampled_from([0.0066, 0.00705, 0.1, 1 / 3]))
out_scale = st.one_of(st.integers(-6, 2).map(lambda e: 2.0**e), st.floats(2.0**-6, 4.0),
                      st.sampled_from([0.0107, 1e-6, 0.05]))


@st.composite
def qlinear_case(draw, ta, tb, ty):
    a_shape, b_shape = draw(hnp.mutually_broadcastable_shapes(signature=MATMUL_SIGNATURE, max_dims=2,
                                                              max_side=6)).input_shapes
    n = 1 if len(b_shape) == 1 else b_shape[-1]
    seed = draw(seeds)
    fills = draw(st.tuples(st.sampled_from(FILLS), st.sampled_from(FILLS)))
    za = draw(zero_point_value(ta))
    rng = np.random.default_rng(seed)
    a = fill_array(rng, ta, a_shape, fills[0], za)
    b = fill_array(rng, tb, b_shape, fills[1])
    sa = np.float32(draw(in_scale))
    per_column = len(b_shape) >= 2 and draw(st.booleans())
    if per_column:
        sb = np.array(draw(st.lists(in_scale, min_size=n, max_size=n)), np.float32)
        if draw(st.booleans()):
            zb = np.array(draw(st.lists(zero_point_value(tb), min_size=n, max_size=n)), tb)
        else:
            zb = np.full(n, draw(zero_point_value(tb)), tb)
        axis = draw(st.sampled_from([-1, len(b_shape) - 1]))
        b_qp = QParams(sb, zb, tb, axis=axis)
    else:
        sb = np.float32(draw(in_scale))
        zb = draw(zero_point_value(tb))
        b_qp = QParams(sb, zb, tb)
    sy = np.float32(draw(out_scale))
    zy = draw(zero_point_value(ty))
    bias = None
    if draw(st.booleans()):
        bias = np.array(draw(st.lists(st.integers(-(2**24), 2**24), min_size=n, max_size=n)), np.int32)
    activation = draw(activation_strategy())
    return a, QParams(sa, za, ta), b, b_qp, QParams(sy, zy, ty), bias, activation


def qlinear_single_rounding_overflows(case) -> bool:
    a, a_qp, b, b_qp, y_qp, bias, activation = case
    acc = ref_mm.matmul_integer(a, b, a_qp.zero_point, b_qp.zero_point).astype(np.int64)
    if bias is not None:
        acc = ref_mm.wrap_int32(acc + bias)
    n = acc.shape[-1] if acc.ndim else 1
    multiplier = ref_rq.qlinear_multiplier(a_qp.scale, b_qp.scale, y_qp.scale, n, "fixed_point_single")
    return single_rounding_overflows(acc, multiplier)


def check_qlinear(case, mode, weights=None):
    """``qlinear_matmul`` of the case (with ``weights``, e.g. prepacked, in place of b) is the reference's."""
    a, a_qp, b, b_qp, y_qp, bias, activation = case
    rng = expected_activation_range(activation, y_qp.scale, int(y_qp.zero_point), y_qp.dtype)
    expected = ref_rq.qlinear_matmul(a, a_qp.scale, a_qp.zero_point, b, b_qp.scale, b_qp.zero_point,
                                     y_qp.scale, y_qp.zero_point, y_qp.dtype, bias=bias, mode=mode,
                                     activation_range=rng)
    actual = ik.ops.qlinear_matmul(a, a_qp, b if weights is None else weights, b_qp, y_qp, bias=bias,
                                   activation=activation, mode=mode)
    assert_same(expected, actual, f"{mode} {a_qp} {b_qp} {y_qp} bias={bias!r} activation={activation!r}")


@pytest.mark.parametrize(("ta", "tb", "ty"), DTYPE_TRIPLES, ids=ids)
@settings(max_examples=30)
@given(data=st.data())
def test_qlinear_matmul_vs_reference(ta, tb, ty, data):
    case = data.draw(qlinear_case(ta, tb, ty), label="case")
    mode = data.draw(st.sampled_from(MODES), label="mode")
    if mode == "fixed_point_single":  # out-of-range products: test_qlinear_matmul_single_rounding_saturates
        assume(not qlinear_single_rounding_overflows(case))
    check_qlinear(case, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("ta", "tb", "ty"), DTYPE_TRIPLES, ids=ids)
def test_qlinear_matmul_every_combination(ta, tb, ty, mode):
    """Every dtype combination in every mode: tile-edge shape, per-column b, bias, relu6."""
    rng = np.random.default_rng(11)
    m, k, n = 5, 257, 131
    a = fill_array(rng, ta, (m, k), "random")
    b = fill_array(rng, tb, (k, n), "random")
    zb = fill_array(rng, tb, (n,), "random")
    sb = rng.uniform(0.001, 0.02, n).astype(np.float32)
    bias = rng.integers(-(2**20), 2**20, n).astype(np.int32)
    lo_a, hi_a = info(ta)
    cases = [
        (a, QParams(0.02, hi_a - 1, ta), b, QParams(sb, zb, tb, axis=-1), QParams(0.3, 1, ty), bias, "relu6"),
        (a, QParams(0.02, lo_a, ta), b, QParams(0.005, int(zb[0]), tb), QParams(0.71, 0, ty), None, None),
        (a[None].repeat(2, 0), QParams(0.5, lo_a + 1, ta), b, QParams(sb, zb, tb, axis=1),
         QParams(4.0, info(ty)[1], ty), bias, (-3.0, 40.5)),
        (a[:, :7], QParams(1.0, 0, ta), b[:7].reshape(1, 7, n), QParams(sb, zb, tb, axis=-1), QParams(1e-3, 3, ty),
         -bias, "relu"),
    ]
    for case in cases:
        assert not qlinear_single_rounding_overflows(case)
        check_qlinear(case, mode)


def test_qlinear_matmul_repeated_calls_reuse_their_epilogue(monkeypatch):
    """A call that repeats the QParams objects, mode and activation of a recent call without bias
    takes its epilogue; every other call (other objects with the same values included) builds its
    own, and every result is the reference's, also with the weights prepacked (whose calls find
    the epilogues of the same calls before)."""
    import sys

    module = sys.modules["inferentia_kernels.ops.qlinear_matmul"]
    monkeypatch.setattr(module, "_kept", module.Recent(module.KEPT_EPILOGUES))  # none from other tests
    built = []
    requant_epilogue = module.requant_epilogue
    monkeypatch.setattr(module, "requant_epilogue", lambda *args: built.append(args) or requant_epilogue(*args))
    rng = np.random.default_rng(3)
    a, b = fill_array(rng, U8, (9, 70), "random"), fill_array(rng, S8, (70, 40), "random")
    a_qp, b_qp, y_qp = QParams(0.02, 130, U8), QParams(0.01, 0, S8), QParams(0.3, 5, U8)
    packed = ik.ops.prepack(b)
    bias = rng.integers(-1000, 1000, 40).astype(np.int32)
    calls = [(a_qp, y_qp, "float", None, None), (a_qp, y_qp, "float", None, None),
             (QParams(0.02, 130, U8), y_qp, "float", None, None), (a_qp, QParams(0.6, 5, U8), "float", None, None),
             (a_qp, y_qp, "fixed_point", None, None), (a_qp, y_qp, "float", "relu", None),
             (a_qp, y_qp, "float", None, bias), (a_qp, y_qp, "float", None, bias), (a_qp, y_qp, "float", None, None)]
    for weights, builds in ((b, len(calls) - 2), (packed, 2)):  # then only the two calls with a bias build
        built.clear()
        for x_qp, out_qp, mode, activation, add in calls:
            check_qlinear((a, x_qp, b, b_qp, out_qp, add, activation), mode, weights)
        assert len(built) == builds  # the second and the last call took the first one's


def test_qlinear_matmul_with_per_column_weights_keeps_its_product(monkeypatch):
    """Repeated calls with per-column weight QParams and prepacked weights build one product (the
    B zero points are kept with the epilogue, so the product finds the same objects), and an
    equal but separate QParams gets its own; results are the reference's."""
    built = []
    product = _int8_engine._Product
    monkeypatch.setattr(_int8_engine, "_Product", lambda *args: built.append(args) or product(*args))
    rng = np.random.default_rng(4)
    a, b = fill_array(rng, U8, (9, 70), "random"), fill_array(rng, S8, (70, 40), "random")
    a_qp, y_qp = QParams(0.02, 130, U8), QParams(0.3, 5, U8)
    scales, zero_points = rng.uniform(0.001, 0.02, 40).astype(np.float32), rng.integers(-5, 5, 40)
    b_qp = QParams(scales, zero_points, S8, axis=-1)
    packed = ik.ops.prepack(b)
    expected = ref_rq.qlinear_matmul(a, a_qp.scale, a_qp.zero_point, b, b_qp.scale, b_qp.zero_point, y_qp.scale,
                                     y_qp.zero_point, y_qp.dtype)
    for w_qp in (b_qp, b_qp, b_qp, QParams(scales, zero_points, S8, axis=-1)):
        assert_same(expected, ik.ops.qlinear_matmul(a, a_qp, packed, w_qp, y_qp), "per-column weights")
    assert len(built) == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("ta", "tb", "ty"), DTYPE_TRIPLES, ids=ids)
def test_qlinear_matmul_ties(ta, tb, ty, mode):
    """acc · 0.5 lands on exact .5 ties."""
    za = 0 if ta == U8 else -1
    a = np.array([[za + 1]], ta)
    zb = 8 if tb == U8 else 0
    b = np.array([[zb + v for v in range(-7, 8)]], tb)
    zy = 0 if ty == S8 else 100
    case = (a, QParams(0.5, za, ta), b, QParams(1.0, zb, tb), QParams(1.0, zy, ty), None, None)
    check_qlinear(case, mode)
    if mode == "float":
        y = ik.ops.qlinear_matmul(*case[:5], mode=mode)
        rne = [-4, -3, -2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2, 3, 4]
        assert y.tolist() == [[min(max(r + zy, info(ty)[0]), info(ty)[1]) for r in rne]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("ta", "tb", "ty"), DTYPE_TRIPLES, ids=ids)
def test_qlinear_matmul_saturation(ta, tb, ty, mode):
    """Small output scales saturate at both ends (multiplier 10: acc · m still fits int32; beyond that
    see test_qlinear_matmul_single_rounding_saturates)."""
    rng = np.random.default_rng(5)
    a = fill_array(rng, ta, (4, 64), "minmax")
    b = fill_array(rng, tb, (64, 6), "minmax")
    za = 128 if ta == U8 else 0
    zb = 127 if tb == U8 else -1
    for sy in (1e-4, 3e-3):
        case = (a, QParams(0.05, za, ta), b, QParams(0.02, zb, tb), QParams(sy, 5, ty), None, None)
        assert not qlinear_single_rounding_overflows(case)
        check_qlinear(case, mode)
    y = ik.ops.qlinear_matmul(a, QParams(0.05, za, ta), b, QParams(0.02, zb, tb), QParams(1e-4, 5, ty), mode=mode)
    assert set(np.unique(y).tolist()) <= set(info(ty)) | {5}
    assert len(set(np.unique(y).tolist()) & set(info(ty))) == 2  # both ends reached


def test_qlinear_matmul_single_rounding_saturates():
    a = np.full((1, 128), 255, np.uint8)
    b = np.full((128, 2), 127, np.int8)
    b[:, 1] = -128
    # acc = 128·255·127 and 128·255·(−128) with multiplier 1000: ±4.1e9, outside int32 after scaling
    y = ik.ops.qlinear_matmul(a, QParams(0.05, 0, np.uint8), b, QParams(0.02, 0, np.int8),
                              QParams(1e-6, 0, np.int8), mode="fixed_point_single")
    assert y.tolist() == [[127, -128]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_qlinear_matmul_bias_extremes_wrap(ta, tb, mode):
    """A bias near the int32 limits wraps with the accumulator (two's complement), as in the reference."""
    rng = np.random.default_rng(9)
    a = fill_array(rng, ta, (3, 40), "random")
    b = fill_array(rng, tb, (40, 5), "random")
    bias = np.array([INT32_MAX, INT32_MIN, INT32_MAX - 5, INT32_MIN + 5, 0], np.int32)
    for ty in DTYPES:
        case = (a, QParams(2.0**-8, 1, ta), b, QParams(2.0**-8, 2, tb), QParams(1.0, 0, ty), bias, None)
        check_qlinear(case, mode)


@pytest.mark.parametrize(("ta", "tb"), DTYPE_PAIRS, ids=ids)
def test_qlinear_matmul_non_contiguous_and_read_only(ta, tb):
    rng = np.random.default_rng(21)
    a = fill_array(rng, ta, (9, 33), "random")
    b = fill_array(rng, tb, (33, 10), "random")
    bias = rng.integers(-1000, 1000, 10).astype(np.int32)
    a_qp, b_qp, y_qp = QParams(0.03, 2, ta), QParams(np.linspace(0.01, 0.02, 10), 1, tb, axis=-1), QParams(0.2, 0, S8)
    expected = ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, bias=bias)
    ref = ref_rq.qlinear_matmul(a, a_qp.scale, 2, b, b_qp.scale, 1, y_qp.scale, 0, S8, bias=bias)
    assert_same(ref, expected)
    bias_ro = bias.copy()
    bias_ro.flags.writeable = False
    for (_, av), (_, bv) in itertools.product(layouts(a, rng), layouts(b, rng)):
        assert_same(expected, ik.ops.qlinear_matmul(av, a_qp, bv, b_qp, y_qp, bias=bias_ro))
    assert_same(expected, ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, bias=np.repeat(bias, 2)[::2]))


def test_qlinear_matmul_empty():
    a_qp, b_qp, y_qp = QParams(0.1, 3, U8), QParams(0.2, -1, S8), QParams(0.5, 7, U8)
    for m, k, n in [(0, 4, 3), (2, 4, 0), (2, 0, 3)]:
        a = np.zeros((m, k), U8)
        b = np.zeros((k, n), S8)
        y = ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, bias=np.full(n, 10, np.int32))
        ref = ref_rq.qlinear_matmul(a, a_qp.scale, 3, b, b_qp.scale, -1, y_qp.scale, 7, U8,
                                    bias=np.full(n, 10, np.int32))
        assert_same(ref, y)


# ------------------------------------------------------------------------------------------------
# bad input: TypeError / ValueError naming the argument
# ------------------------------------------------------------------------------------------------

_a = np.zeros((2, 3), np.uint8)
_b = np.zeros((3, 4), np.int8)
_acc = np.zeros((2, 4), np.int32)
_qa, _qb, _qy = QParams(0.1, 3, np.uint8), QParams(0.2, 0, np.int8), QParams(0.5, 1, np.int8)
mm, rq, ql = ik.ops.matmul_integer, ik.ops.requantize, ik.ops.qlinear_matmul

BAD_INPUTS = {
    # matmul_integer
    "mm a int16": (lambda: mm(_a.astype(np.int16), _b), TypeError, "matmul_integer", "a"),
    "mm a float32": (lambda: mm(_a.astype(np.float32), _b), TypeError, "matmul_integer", "a"),
    "mm a bool": (lambda: mm(_a.astype(bool), _b), TypeError, "matmul_integer", "a"),
    "mm a int32": (lambda: mm(_a.astype(np.int32), _b), TypeError, "matmul_integer", "a"),
    "mm a list": (lambda: mm([[1, 2, 3]], _b), TypeError, "matmul_integer", "a"),
    "mm b int16": (lambda: mm(_a, _b.astype(np.int16)), TypeError, "matmul_integer", "b"),
    "mm b float32": (lambda: mm(_a, _b.astype(np.float32)), TypeError, "matmul_integer", "b"),
    "mm b bool": (lambda: mm(_a, _b.astype(bool)), TypeError, "matmul_integer", "b"),
    "mm a 0-d": (lambda: mm(np.uint8(3), _b), ValueError, "matmul_integer", "a"),
    "mm b 0-d": (lambda: mm(_a, np.int8(3)), ValueError, "matmul_integer", "b"),
    "mm inner mismatch": (lambda: mm(_a, _b.T), ValueError, "matmul_integer", "b"),
    "mm 1-d mismatch": (lambda: mm(np.zeros(4, np.uint8), _b), ValueError, "matmul_integer", "b"),
    "mm batch mismatch": (lambda: mm(np.zeros((2, 2, 3), np.uint8), np.zeros((3, 3, 4), np.int8)), ValueError,
                          "matmul_integer", "b"),
    "mm zb length": (lambda: mm(_a, _b, 0, np.zeros(3, np.int8)), ValueError, "matmul_integer", "b_zero_point"),
    "mm zb 2-d": (lambda: mm(_a, _b, 0, np.zeros((1, 4), np.int8)), ValueError, "matmul_integer", "b_zero_point"),
    "mm za vector": (lambda: mm(_a, _b, [1, 2]), ValueError, "matmul_integer", "a_zero_point"),
    "mm za per column": (lambda: mm(_a, _b, np.zeros(4, np.uint8)), ValueError, "matmul_integer", "a_zero_point"),
    "mm za 256": (lambda: mm(_a, _b, 256), ValueError, "matmul_integer", "a_zero_point"),
    "mm za -1 for uint8": (lambda: mm(_a, _b, -1), ValueError, "matmul_integer", "a_zero_point"),
    "mm za -129 for int8": (lambda: mm(_b.T.copy(), _a.T.copy(), -129), ValueError, "matmul_integer",
                            "a_zero_point"),
    "mm zb 128 for int8": (lambda: mm(_a, _b, 0, 128), ValueError, "matmul_integer", "b_zero_point"),
    "mm zb per column out of range": (lambda: mm(_a, _b, 0, np.array([0, 1, 128, 0])), ValueError,
                                      "matmul_integer", "b_zero_point"),
    "mm za float": (lambda: mm(_a, _b, 1.0), TypeError, "matmul_integer", "a_zero_point"),
    "mm zb float": (lambda: mm(_a, _b, 0, 1.5), TypeError, "matmul_integer", "b_zero_point"),
    "mm za bool": (lambda: mm(_a, _b, True), TypeError, "matmul_integer", "a_zero_point"),
    "mm za None": (lambda: mm(_a, _b, None), TypeError, "matmul_integer", "a_zero_point"),
    "mm za str": (lambda: mm(_a, _b, "1"), TypeError, "matmul_integer", "a_zero_point"),
    # requantize
    "rq acc int64": (lambda: rq(_acc.astype(np.int64), 0.5, _qy), TypeError, "requantize", "acc"),
    "rq acc float32": (lambda: rq(_acc.astype(np.float32), 0.5, _qy), TypeError, "requantize", "acc"),
    "rq acc int8": (lambda: rq(_acc.astype(np.int8), 0.5, _qy), TypeError, "requantize", "acc"),
    "rq acc bool": (lambda: rq(_acc.astype(bool), 0.5, _qy), TypeError, "requantize", "acc"),
    "rq multiplier 0": (lambda: rq(_acc, 0.0, _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier -1": (lambda: rq(_acc, -1.0, _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier -0.0": (lambda: rq(_acc, -0.0, _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier nan": (lambda: rq(_acc, float("nan"), _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier inf": (lambda: rq(_acc, float("inf"), _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier -inf": (lambda: rq(_acc, -float("inf"), _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier per column with a 0": (lambda: rq(_acc, [0.5, 0.0, 0.5, 0.5], _qy), ValueError, "requantize",
                                          "multiplier"),
    "rq multiplier per column with nan": (lambda: rq(_acc, [0.5, 0.5, float("nan"), 0.5], _qy), ValueError,
                                          "requantize", "multiplier"),
    "rq multiplier wrong length": (lambda: rq(_acc, [0.5] * 3, _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier 2-d": (lambda: rq(_acc, np.full((1, 4), 0.5), _qy), ValueError, "requantize", "multiplier"),
    "rq multiplier str": (lambda: rq(_acc, "0.5", _qy), TypeError, "requantize", "multiplier"),
    "rq multiplier None": (lambda: rq(_acc, None, _qy), TypeError, "requantize", "multiplier"),
    "rq multiplier bool": (lambda: rq(_acc, True, _qy), TypeError, "requantize", "multiplier"),
    "rq multiplier 2^31 fixed_point": (lambda: rq(_acc, 2.0**31, _qy, mode="fixed_point"), ValueError, "requantize",
                                       "multiplier"),
    # shift 31 / 32 would make TFLite evaluate 1 << 31 or 1 << 32 (the reference rejects shift > 30)
    "rq multiplier 2^30 fixed_point": (lambda: rq(_acc, 2.0**30, _qy, mode="fixed_point"), ValueError, "requantize",
                                       "multiplier"),
    "rq multiplier just below 2^31 fixed_point": (lambda: rq(_acc, _below(2.0**31), _qy, mode="fixed_point"),
                                                  ValueError, "requantize", "multiplier"),
    "rq multiplier just below 2^30 fixed_point": (lambda: rq(_acc, _below(2.0**30), _qy, mode="fixed_point"),
                                                  ValueError, "requantize", "multiplier"),
    "rq unknown mode": (lambda: rq(_acc, 0.5, _qy, mode="exact"), ValueError, "requantize", "mode"),
    "rq mode None": (lambda: rq(_acc, 0.5, _qy, mode=None), ValueError, "requantize", "mode"),
    "rq mode upper": (lambda: rq(_acc, 0.5, _qy, mode="FLOAT"), ValueError, "requantize", "mode"),
    "rq activation name": (lambda: rq(_acc, 0.5, _qy, activation="sigmoid"), ValueError, "requantize", "activation"),
    "rq activation triple": (lambda: rq(_acc, 0.5, _qy, activation=(0, 1, 2)), ValueError, "requantize",
                             "activation"),
    "rq activation reversed": (lambda: rq(_acc, 0.5, _qy, activation=(6.0, 0.0)), ValueError, "requantize",
                               "activation"),
    "rq activation nan": (lambda: rq(_acc, 0.5, _qy, activation=(float("nan"), 1.0)), ValueError, "requantize",
                          "activation"),
    "rq activation nan high": (lambda: rq(_acc, 0.5, _qy, activation=(0.0, float("nan"))), ValueError,
                               "requantize", "activation"),
    "rq activation bool": (lambda: rq(_acc, 0.5, _qy, activation=(False, True)), ValueError, "requantize",
                           "activation"),
    "rq activation ndarray": (lambda: rq(_acc, 0.5, _qy, activation=np.array([0.0, 6.0])), ValueError,
                              "requantize", "activation"),
    "rq activation None pair": (lambda: rq(_acc, 0.5, _qy, activation=(None, 6.0)), ValueError, "requantize",
                                "activation"),
    "rq activation list": (lambda: rq(_acc, 0.5, _qy, activation=[0, 6]), ValueError, "requantize", "activation"),
    "rq activation strings": (lambda: rq(_acc, 0.5, _qy, activation=("a", "b")), ValueError, "requantize",
                              "activation"),
    "rq activation number": (lambda: rq(_acc, 0.5, _qy, activation=6.0), ValueError, "requantize", "activation"),
    "rq y_qp per axis": (lambda: rq(_acc, 0.5, QParams([0.5] * 4, 0, np.int8, axis=-1)), ValueError, "requantize",
                         "y_qp"),
    "rq y_qp not QParams": (lambda: rq(_acc, 0.5, 0.5), TypeError, "requantize", "y_qp"),
    "rq y_qp None": (lambda: rq(_acc, 0.5, None), TypeError, "requantize", "y_qp"),
    # qlinear_matmul
    "ql a_qp dtype": (lambda: ql(_a, QParams(0.1, 3, np.int8), _b, _qb, _qy), TypeError, "qlinear_matmul", "a_qp"),
    "ql b_qp dtype": (lambda: ql(_a, _qa, _b, QParams(0.1, 3, np.uint8), _qy), TypeError, "qlinear_matmul", "b_qp"),
    "ql a_qp per axis": (lambda: ql(_a, QParams([0.1, 0.1], 3, np.uint8, axis=0), _b, _qb, _qy), ValueError,
                         "qlinear_matmul", "a_qp"),
    "ql b_qp axis 0": (lambda: ql(_a, _qa, _b, QParams([0.1] * 3, 0, np.int8, axis=0), _qy), ValueError,
                       "qlinear_matmul", "b_qp"),
    "ql b_qp wrong length": (lambda: ql(_a, _qa, _b, QParams([0.1] * 3, 0, np.int8, axis=-1), _qy), ValueError,
                             "qlinear_matmul", "b_qp"),
    "ql y_qp per axis": (lambda: ql(_a, _qa, _b, _qb, QParams([0.5] * 4, 0, np.int8, axis=-1)), ValueError,
                         "qlinear_matmul", "y_qp"),
    "ql a_qp None": (lambda: ql(_a, None, _b, _qb, _qy), TypeError, "qlinear_matmul", "a_qp"),
    "ql b_qp tuple": (lambda: ql(_a, _qa, _b, (0.1, 0), _qy), TypeError, "qlinear_matmul", "b_qp"),
    "ql y_qp float": (lambda: ql(_a, _qa, _b, _qb, 0.5), TypeError, "qlinear_matmul", "y_qp"),
    "ql bias int64": (lambda: ql(_a, _qa, _b, _qb, _qy, bias=np.zeros(4, np.int64)), TypeError, "qlinear_matmul",
                      "bias"),
    "ql bias float32": (lambda: ql(_a, _qa, _b, _qb, _qy, bias=np.zeros(4, np.float32)), TypeError,
                        "qlinear_matmul", "bias"),
    "ql bias list": (lambda: ql(_a, _qa, _b, _qb, _qy, bias=[0, 0, 0, 0]), TypeError, "qlinear_matmul", "bias"),
    "ql bias shape": (lambda: ql(_a, _qa, _b, _qb, _qy, bias=np.zeros(3, np.int32)), ValueError, "qlinear_matmul",
                      "bias"),
    "ql bias 2-d": (lambda: ql(_a, _qa, _b, _qb, _qy, bias=np.zeros((1, 4), np.int32)), ValueError,
                    "qlinear_matmul", "bias"),
    "ql bias 0-d": (lambda: ql(_a, _qa, _b, _qb, _qy, bias=np.int32(4)), ValueError, "qlinear_matmul", "bias"),
    "ql unknown mode": (lambda: ql(_a, _qa, _b, _qb, _qy, mode="x"), ValueError, "qlinear_matmul", "mode"),
    "ql bad activation": (lambda: ql(_a, _qa, _b, _qb, _qy, activation="gelu"), ValueError, "qlinear_matmul",
                          "activation"),
    "ql reversed activation": (lambda: ql(_a, _qa, _b, _qb, _qy, activation=(1.0, -1.0)), ValueError,
                               "qlinear_matmul", "activation"),
    "ql shape mismatch": (lambda: ql(_a, _qa, _b.T, _qb, _qy), ValueError, "qlinear_matmul", "b"),
    "ql batch mismatch": (lambda: ql(np.zeros((2, 2, 3), np.uint8), _qa, np.zeros((3, 3, 4), np.int8), _qb, _qy),
                          ValueError, "qlinear_matmul", "b"),
    # the dtype of a / b is checked against a_qp / b_qp first: "a_qp must be parameters for float32 (the dtype of a)"
    "ql a float32": (lambda: ql(_a.astype(np.float32), _qa, _b, _qb, _qy), TypeError, "qlinear_matmul", "a|a_qp"),
    "ql b bool": (lambda: ql(_a, _qa, _b.astype(bool), _qb, _qy), TypeError, "qlinear_matmul", "b|b_qp"),
    "rq multiplier overflows float32": (
        lambda: rq(_acc, 1e39, _qy), ValueError, "requantize", "multiplier",
    ),
    "ql float32 multiplier overflows": (
        lambda: ql(_a, QParams(1e30, 0, np.uint8), _b, QParams(1e30, 0, np.int8), QParams(1.0, 0, np.int8)),
        ValueError, "qlinear_matmul", re.escape("a_qp.scale * b_qp.scale / y_qp.scale"),
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_names_the_argument(name):
    call, exc, op, argument = BAD_INPUTS[name]
    with pytest.raises(exc) as raised:
        call()
    assert isinstance(raised.value, InferentiaKernelsError), repr(raised.value)
    message = str(raised.value)
    assert re.match(rf"{op}: ({argument}) must ", message), message


def test_reference_rejects_the_same_multipliers():
    """The executable specification rejects the multipliers the ops reject."""
    with pytest.raises(ValueError):
        ref_rq.requantize(_acc, 1e39, 1, np.int8)
    with pytest.raises(ValueError):
        ref_rq.qlinear_matmul(_a, np.float32(1e30), 0, _b, np.float32(1e30), 0, np.float32(1.0), 0, np.int8)
    with pytest.raises(ValueError):
        ref_rq.requantize(_acc, 2.0**30, 1, np.int8, mode="fixed_point")
    with pytest.raises(ValueError):
        ref_rq.requantize(_acc, _below(2.0**31), 1, np.int8, mode="fixed_point")
