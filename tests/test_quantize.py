"""quantize / dequantize / QParams / calibrate against the NumPy reference (DESIGN.md §2).

Everything numeric is compared bit for bit: integer outputs with ``array_equal`` and dtype,
float outputs through their uint32 bit patterns (so -0.0 != +0.0 and NaN payloads count).
"""

from __future__ import annotations

import dataclasses

import ml_dtypes
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import inferentia_kernels as ik
from inferentia_kernels import reference

F32 = np.finfo(np.float32)
TINY_SUBNORMAL = float(F32.smallest_subnormal)
INT_DTYPES = (np.int8, np.uint8)

# ---------------------------------------------------------------------------------------------
# case generation
# ---------------------------------------------------------------------------------------------

SPECIAL_FLOATS = [
    0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf,
    float(F32.max), -float(F32.max), 1e38, -1e38, 3e9, -3e9,
    float(F32.smallest_normal), -float(F32.smallest_normal), TINY_SUBNORMAL, -TINY_SUBNORMAL, 1e-40, -1e-40,
]
# NaN with a payload and the sign bit set: the payload must not matter.
ODD_NAN = float(np.array(0xFFC01234, dtype=np.uint32).view(np.float32))

SPECIAL_SCALES = [
    1.0, 0.5, 2.0, 0.1, 1 / 3, 0.007874016, 255 / 7, 1e-3, 2.0**-20, 2.0**-126, 2.0**-140,
    TINY_SUBNORMAL, 3 * TINY_SUBNORMAL, 1e-30, 1e30, 1e35,
]

raw_floats = st.one_of(
    st.floats(width=32),  # anything, with NaN, +-Inf and subnormals
    st.sampled_from(SPECIAL_FLOATS + [ODD_NAN]),
)

# Values in units of the scale: exact ties k + 0.5 (including at the clamp bounds), grid points,
# values just beside ties, and values beyond [qmin - zp, qmax - zp] for saturation at both ends.
units = st.one_of(
    st.integers(-300, 300).map(lambda k: k + 0.5),
    st.integers(-300, 300).map(float),
    st.tuples(st.integers(-300, 300), st.sampled_from([-1e-6, 1e-6, -0.4999999, 0.4999999])).map(sum),
    st.floats(-400.0, 400.0),
)

scales = st.one_of(
    st.sampled_from(SPECIAL_SCALES),
    st.floats(min_value=TINY_SUBNORMAL, max_value=2.0**120, width=32),
    st.builds(lambda m, e: float(np.float32(m * 2.0**e)), st.floats(1.0, 2.0), st.integers(-30, 30)),
)


@st.composite
def shapes_and_axes(draw, per_axis: bool, max_dims: int = 4, max_side: int = 5):
    rank = draw(st.integers(1 if per_axis else 0, max_dims))
    shape = draw(st.lists(st.integers(0, max_side), min_size=rank, max_size=rank))
    axis = None
    if per_axis:
        axis = draw(st.integers(-rank, rank - 1))
        shape[axis] = max(shape[axis], 1)  # per-axis parameters need at least one channel
    return tuple(shape), axis


@st.composite
def qparams_for(draw, shape, axis, dtype):
    info = np.iinfo(dtype)
    zero_points = st.integers(int(info.min), int(info.max))
    if axis is None:
        return np.float32(draw(scales)), draw(zero_points)
    channels = shape[axis]
    scale = np.array(draw(st.lists(scales, min_size=channels, max_size=channels)), dtype=np.float32)
    zero_point = np.array(draw(st.lists(zero_points, min_size=channels, max_size=channels)), dtype=np.int32)
    return scale, zero_point


def broadcast_along(values, ndim, axis):
    values = np.asarray(values)
    if axis is None:
        return values
    shape = [1] * ndim
    shape[axis] = values.size
    return values.reshape(shape)


@st.composite
def quantize_cases(draw, per_axis: bool):
    """(x float32, scale, zero_point, dtype, axis) with a mixture of raw floats and scaled units."""
    dtype = draw(st.sampled_from(INT_DTYPES))
    shape, axis = draw(shapes_and_axes(per_axis))
    scale, zero_point = draw(qparams_for(shape, axis, dtype))
    raw = draw(hnp.arrays(np.float32, shape, elements=raw_floats))
    unit = draw(hnp.arrays(np.float64, shape, elements=units))
    use_unit = draw(hnp.arrays(np.bool_, shape))
    with np.errstate(over="ignore"):
        scaled = (unit * broadcast_along(scale, len(shape), axis).astype(np.float64)).astype(np.float32)
    x = np.where(use_unit, scaled, raw).astype(np.float32)
    return x, scale, zero_point, dtype, axis


@st.composite
def dequantize_cases(draw, per_axis: bool):
    dtype = draw(st.sampled_from(INT_DTYPES))
    shape, axis = draw(shapes_and_axes(per_axis))
    scale, zero_point = draw(qparams_for(shape, axis, dtype))
    q = draw(hnp.arrays(dtype, shape))
    return q, scale, zero_point, dtype, axis


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def float_bits(array: np.ndarray) -> np.ndarray:
    assert array.dtype == np.float32
    return np.asarray(array, order="C").view(np.uint32)


def assert_quantized_equal(got, want, x, scale, zero_point, axis):
    assert isinstance(got, np.ndarray)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)[:5]
        rows = []
        for index in map(tuple, bad):
            channel = index[axis] if axis is not None else ()
            s = np.asarray(scale)[channel]
            z = np.asarray(zero_point)[channel]
            rows.append(
                f"x[{index}]={float(x[index])!r} (bits 0x{int(np.float32(x[index]).view(np.uint32)):08x}) "
                f"scale={float(s)!r} zp={int(z)}: got {got[index]}, reference {want[index]}"
            )
        pytest.fail("quantize differs from reference:\n" + "\n".join(rows))


def assert_float_bits_equal(got, want):
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float32 == want.dtype
    assert got.shape == want.shape
    if not np.array_equal(float_bits(got), float_bits(want)):
        bad = np.argwhere(float_bits(got) != float_bits(want))[:5]
        rows = [f"[{tuple(i)}]: got {got[tuple(i)]!r}, reference {want[tuple(i)]!r}" for i in bad]
        pytest.fail("dequantize differs from reference:\n" + "\n".join(rows))


def qparams(scale, zero_point, dtype, axis):
    return ik.QParams(scale, zero_point, dtype=dtype, axis=axis)


# ---------------------------------------------------------------------------------------------
# (a) quantize, bit-exact against the reference
# ---------------------------------------------------------------------------------------------


@given(quantize_cases(per_axis=False))
def test_quantize_per_tensor_matches_reference(case):
    x, scale, zero_point, dtype, axis = case
    got = ik.quantize(x, qparams(scale, zero_point, dtype, axis))
    want = reference.quantize_linear(x, scale, zero_point, dtype, axis)
    assert_quantized_equal(got, want, x, scale, zero_point, axis)


@given(quantize_cases(per_axis=True))
def test_quantize_per_axis_matches_reference(case):
    x, scale, zero_point, dtype, axis = case
    got = ik.quantize(x, qparams(scale, zero_point, dtype, axis))
    want = reference.quantize_linear(x, scale, zero_point, dtype, axis)
    assert_quantized_equal(got, want, x, scale, zero_point, axis)


def test_reference_golden_values():
    """The reference itself, on values worked out by hand from DESIGN.md §2."""
    x = np.array(
        [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 2.5000002, np.nan, np.inf, -np.inf, -0.0], np.float32
    )
    want_i8 = np.array([0, 2, 2, 0, -2, -2, 2, 3, -128, 127, -128, 0], np.int8)
    np.testing.assert_array_equal(reference.quantize_linear(x, 1.0, 0, np.int8), want_i8)
    want_u8 = np.array([10, 12, 12, 10, 8, 8, 12, 13, 0, 255, 0, 10], np.uint8)
    np.testing.assert_array_equal(reference.quantize_linear(x, 1.0, 10, np.uint8), want_u8)
    # ONNX's own example (test_quantizelinear)
    x = np.array([0, 2, 3, 1000, -254, -1000], np.float32)
    np.testing.assert_array_equal(
        reference.quantize_linear(x, 2.0, 128, np.uint8), np.array([128, 129, 130, 255, 1, 0], np.uint8)
    )
    # a true float32 division, not a multiplication by f32(1 / s): these pairs round differently
    for x_bits, s_bits, zp, want in (
        (0x4322769C, 0x3F7B4D83, 0, 166),  # 162.46332 / 0.9816515 = 165.5 -> 166; x·(1/s) = 165.49998
        (0xC104F7A3, 0x3D4EED89, 255, 90),  # -8.310458 / 0.0505195 = -164.50002 -> -165; x·(1/s) = -164.5
        (0x4285B2DE, 0x3EEB3C78, 0, 146),  # 66.84935 / 0.45944571 = 145.5 -> 146; x·(1/s) = 145.49998
    ):
        x = np.array(x_bits, np.uint32).view(np.float32)
        s = np.array(s_bits, np.uint32).view(np.float32)
        assert np.rint(x / s) != np.rint(x * (np.float32(1) / s))
        assert reference.quantize_linear(x, s, zp, np.uint8) == want
        assert ik.quantize(x, ik.QParams(s, zp, np.uint8)) == want


def test_quantize_golden_values():
    qp = ik.QParams(2.0, 128, np.uint8)
    x = np.array([0, 2, 3, 1000, -254, -1000], np.float32)
    np.testing.assert_array_equal(ik.quantize(x, qp), np.array([128, 129, 130, 255, 1, 0], np.uint8))
    ties = np.arange(-130, 130, dtype=np.float32) + np.float32(0.5)
    got = ik.quantize(ties, ik.QParams(1.0, 0, np.int8))
    np.testing.assert_array_equal(got, np.clip(np.rint(ties), -128, 127).astype(np.int8))
    special = np.array([np.nan, ODD_NAN, np.inf, -np.inf, F32.max, -F32.max], np.float32)
    np.testing.assert_array_equal(
        ik.quantize(special, ik.QParams(1e-3, -5, np.int8)), [-128, -128, 127, -128, 127, -128]
    )
    np.testing.assert_array_equal(ik.quantize(special, ik.QParams(1e3, 200, np.uint8)), [0, 0, 255, 0, 255, 0])
    # x / s overflows float32 -> +-Inf -> saturates
    np.testing.assert_array_equal(ik.quantize(np.float32([1e38, -1e38]), ik.QParams(TINY_SUBNORMAL)), [127, -128])


def test_reference_imports_only_numpy():
    """The reference is the specification: it must not reuse the code it checks."""
    import ast
    import inspect

    import inferentia_kernels.reference.quantize as module

    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "numpy"}, imported


LAYOUTS = {
    "transposed": lambda a: a.T,
    "strided": lambda a: a[::2, ::3],
    "reversed": lambda a: a[::-1, ::-1],
    "fortran": np.asfortranarray,
    "read_only": lambda a: _read_only(a),
    "read_only_strided": lambda a: _read_only(a)[1::2],
    "broadcast_view": lambda a: np.broadcast_to(a[:1], a.shape),
}


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("per_axis", [False, True])
def test_any_memory_layout(layout, dtype, per_axis):
    """Non-contiguous, reversed, Fortran-ordered, read-only and broadcast inputs simply work."""
    rng = np.random.default_rng(7)
    x = LAYOUTS[layout]((rng.standard_normal((12, 18)) * 100).astype(np.float32))
    info = np.iinfo(dtype)
    q = LAYOUTS[layout](rng.integers(info.min, info.max + 1, (12, 18)).astype(dtype))
    assert q.shape == x.shape
    if per_axis:
        scale = rng.uniform(0.1, 2.0, x.shape[1]).astype(np.float32)
        zero_point = rng.integers(info.min, info.max + 1, x.shape[1])
        axis = 1
    else:
        scale, zero_point, axis = np.float32(0.7), int(info.min) + 100, None
    qp = qparams(scale, zero_point, dtype, axis)
    got = ik.quantize(x, qp)
    want = reference.quantize_linear(x, scale, zero_point, dtype, axis)
    assert_quantized_equal(got, want, x, scale, zero_point, axis)
    assert_quantized_equal(got, ik.quantize(np.ascontiguousarray(x), qp), x, scale, zero_point, axis)
    assert_float_bits_equal(ik.dequantize(q, qp), reference.dequantize_linear(q, scale, zero_point, axis))
    assert_float_bits_equal(ik.dequantize(q, qp), ik.dequantize(np.ascontiguousarray(q), qp))


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((0,), None), ((0, 3), None), ((3, 0, 2), None), ((0, 3), 1), ((4, 0), 0), ((2, 3, 0), -2), ((), None)],
)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_quantize_empty_and_zero_dim(shape, axis, dtype):
    channels = None if axis is None else shape[axis]
    scale = np.float32(0.5) if axis is None else np.full(channels, 0.5, np.float32)
    zero_point = 3 if axis is None else np.full(channels, 3, np.int32)
    qp = qparams(scale, zero_point, dtype, axis)
    x = np.full(shape, 1.25, np.float32)
    q = ik.quantize(x, qp)
    assert q.dtype == dtype and q.shape == shape
    np.testing.assert_array_equal(q, reference.quantize_linear(x, scale, zero_point, dtype, axis))
    r = ik.dequantize(q, qp)
    assert r.dtype == np.float32 and r.shape == shape
    assert_float_bits_equal(r, reference.dequantize_linear(q, scale, zero_point, axis))


def test_quantize_python_scalars_and_lists():
    qp = ik.QParams(0.5, 1, np.int8)
    assert ik.quantize(1.25, qp) == 3  # 2.5 -> 2 (half to even), + 1
    np.testing.assert_array_equal(ik.quantize([1.25, -1.25], qp), np.array([3, -1], np.int8))
    assert ik.quantize(np.float32(0.0), qp).dtype == np.int8


@pytest.mark.parametrize("in_dtype", [np.float64, np.float16, ml_dtypes.bfloat16])
@given(case=quantize_cases(per_axis=False), per_axis_case=quantize_cases(per_axis=True))
def test_wider_and_narrower_floats_go_through_float32(in_dtype, case, per_axis_case):
    for x32, scale, zero_point, dtype, axis in (case, per_axis_case):
        with np.errstate(over="ignore"):
            x = x32.astype(in_dtype)
            if in_dtype == np.float64:  # move float64 values off the float32 grid
                x = x * (1 + 2.0**-40)
            via_f32 = x.astype(np.float32)
        got = ik.quantize(x, qparams(scale, zero_point, dtype, axis))
        want = reference.quantize_linear(via_f32, scale, zero_point, dtype, axis)
        assert_quantized_equal(got, want, via_f32, scale, zero_point, axis)


def test_float64_is_rounded_to_float32_before_dividing():
    qp = ik.QParams(1.0, 0, np.int8)
    # 2.5 + 2^-30 rounds to 2.5 in float32: a tie, so 2 (a float64 division would give 3)
    assert ik.quantize(np.float64(2.5 + 2.0**-30), qp) == 2
    assert ik.quantize(np.array([-3.5 - 2.0**-30]), qp) == -4
    assert reference.quantize_linear(np.float64(2.5 + 2.0**-30), 1.0, 0, np.int8) == 2


def test_float64_beyond_float32_range_saturates():
    """float64 beyond float32's range becomes +-Inf in float32 and saturates, without a warning."""
    x = np.array([1e300, -1e300, 1e39, -1e39])
    for dtype, want in ((np.int8, [127, -128, 127, -128]), (np.uint8, [255, 0, 255, 0])):
        np.testing.assert_array_equal(reference.quantize_linear(x, 1.0, 0, dtype), want)
        np.testing.assert_array_equal(ik.quantize(x, ik.QParams(1.0, 0, dtype)), want)


# ---------------------------------------------------------------------------------------------
# (b) dequantize, bit-exact against the reference
# ---------------------------------------------------------------------------------------------


@given(dequantize_cases(per_axis=False))
def test_dequantize_per_tensor_matches_reference(case):
    q, scale, zero_point, dtype, axis = case
    got = ik.dequantize(q, qparams(scale, zero_point, dtype, axis))
    assert_float_bits_equal(got, reference.dequantize_linear(q, scale, zero_point, axis))


@given(dequantize_cases(per_axis=True))
def test_dequantize_per_axis_matches_reference(case):
    q, scale, zero_point, dtype, axis = case
    got = ik.dequantize(q, qparams(scale, zero_point, dtype, axis))
    assert_float_bits_equal(got, reference.dequantize_linear(q, scale, zero_point, axis))


def test_dequantize_golden_values():
    q = np.array([0, 3, 128, 255], np.uint8)
    got = ik.dequantize(q, ik.QParams(2.0, 128, np.uint8))
    assert_float_bits_equal(got, np.array([-256, -250, 0, 254], np.float32))
    # product rounded once to float32; overflow to +-Inf; the zero point gives +0.0
    big = ik.QParams(F32.max, 0, np.int8)
    assert_float_bits_equal(ik.dequantize(np.array([1, 2, -2, 0], np.int8), big),
                            np.array([F32.max, np.inf, -np.inf, 0.0], np.float32))
    tiny = ik.QParams(TINY_SUBNORMAL, -128, np.int8)
    assert_float_bits_equal(ik.dequantize(np.array([127, -128], np.int8), tiny),
                            np.array([255 * TINY_SUBNORMAL, 0.0], np.float32))


# ---------------------------------------------------------------------------------------------
# (c) properties
# ---------------------------------------------------------------------------------------------

roundtrip_scales = st.floats(min_value=TINY_SUBNORMAL, max_value=2.0**116, width=32)


@given(dequantize_cases(per_axis=False) | dequantize_cases(per_axis=True))
def test_quantize_inverts_dequantize_on_the_grid(case):
    q, scale, zero_point, dtype, axis = case
    # the grid must fit in float32: 255 * scale below float32's maximum
    assume(np.all(np.asarray(scale) <= 2.0**116))
    qp = qparams(scale, zero_point, dtype, axis)
    r = ik.dequantize(q, qp)
    np.testing.assert_array_equal(ik.quantize(r, qp), q)
    assert ik.quantize(ik.dequantize(q, qp), qp).dtype == dtype


@given(st.sampled_from(INT_DTYPES), roundtrip_scales, st.data())
def test_zero_point_is_exact_zero(dtype, scale, data):
    info = np.iinfo(dtype)
    zero_point = data.draw(st.integers(int(info.min), int(info.max)))
    qp = ik.QParams(scale, zero_point, dtype)
    assert ik.quantize(0.0, qp) == zero_point
    assert ik.quantize(-0.0, qp) == zero_point
    zero = ik.dequantize(np.array(zero_point, dtype), qp)
    assert float_bits(zero.reshape(1))[0] == 0  # +0.0


@given(quantize_cases(per_axis=False))
def test_quantize_is_monotone(case):
    x, scale, zero_point, dtype, _ = case
    x = np.sort(x[~np.isnan(x)].reshape(-1))
    q = ik.quantize(x, ik.QParams(scale, zero_point, dtype))
    assert np.all(np.diff(q.astype(np.int32)) >= 0)


# ---------------------------------------------------------------------------------------------
# (d) validation
# ---------------------------------------------------------------------------------------------

BAD_QPARAMS = [
    # (kwargs, exception, argument named in the message)
    (dict(scale=np.nan), ValueError, "scale"),
    (dict(scale=0.0), ValueError, "scale"),
    (dict(scale=0), ValueError, "scale"),
    (dict(scale=-1.0), ValueError, "scale"),
    (dict(scale=np.inf), ValueError, "scale"),
    (dict(scale=1e39), ValueError, "scale"),  # finite in float64, +Inf in float32
    (dict(scale=1e-46), ValueError, "scale"),  # > 0 in float64, 0 in float32
    (dict(scale=[1.0, 0.0], axis=0), ValueError, "scale"),
    (dict(scale=[1.0, np.nan], axis=0), ValueError, "scale"),
    (dict(scale=[[1.0, 2.0]], axis=0), ValueError, "scale"),
    (dict(scale=np.ones((2, 2), np.float32), zero_point=0, axis=1), ValueError, "scale"),
    (dict(scale=[], axis=0), ValueError, "scale"),
    (dict(scale="1.0"), TypeError, "scale"),
    (dict(scale=True), TypeError, "scale"),
    (dict(scale=1.0 + 0j), TypeError, "scale"),
    (dict(scale=1.0, zero_point=128), ValueError, "zero_point"),
    (dict(scale=1.0, zero_point=-129), ValueError, "zero_point"),
    (dict(scale=1.0, zero_point=-1, dtype=np.uint8), ValueError, "zero_point"),
    (dict(scale=1.0, zero_point=256, dtype=np.uint8), ValueError, "zero_point"),
    (dict(scale=[1.0, 1.0], zero_point=[0, 300], dtype=np.uint8, axis=0), ValueError, "zero_point"),
    (dict(scale=1.0, zero_point=0.0), TypeError, "zero_point"),
    (dict(scale=1.0, zero_point=np.float32(3)), TypeError, "zero_point"),
    (dict(scale=1.0, zero_point=True), TypeError, "zero_point"),
    (dict(scale=1.0, zero_point=[1, 2]), ValueError, "zero_point"),
    (dict(scale=[1.0, 2.0], zero_point=[0, 0, 0], axis=0), ValueError, "zero_point"),
    (dict(scale=[1.0, 2.0, 3.0], zero_point=[0, 0], axis=0), ValueError, "zero_point"),
    (dict(scale=[1.0, 2.0], zero_point=[[0, 0]], axis=0), ValueError, "zero_point"),
    (dict(scale=1.0, dtype=np.int16), TypeError, "dtype"),
    (dict(scale=1.0, dtype=np.uint16), TypeError, "dtype"),
    (dict(scale=1.0, dtype=np.int32), TypeError, "dtype"),
    (dict(scale=1.0, dtype=np.float32), TypeError, "dtype"),
    (dict(scale=1.0, dtype="no such dtype"), TypeError, "dtype"),
    (dict(scale=[1.0, 2.0]), ValueError, "axis"),
    (dict(scale=[1.0, 2.0], zero_point=[0, 1]), ValueError, "axis"),
    (dict(scale=1.0, axis=0), ValueError, "axis"),
    (dict(scale=[1.0, 2.0], axis=1.0), TypeError, "axis"),
    (dict(scale=[1.0, 2.0], axis=True), TypeError, "axis"),
    (dict(scale=[1.0, 2.0], axis="0"), TypeError, "axis"),
]


@pytest.mark.parametrize(("kwargs", "error", "argument"), BAD_QPARAMS, ids=lambda v: repr(v)[:60])
def test_qparams_rejects(kwargs, error, argument):
    with pytest.raises(error, match=rf"\bQParams\b.*\b{argument}\b"):
        ik.QParams(**kwargs)


def test_qparams_normalizes_and_is_frozen():
    qp = ik.QParams([0.5, 0.25], 3, np.uint8, axis=np.int64(0))
    assert qp.scale.dtype == np.float32 and qp.scale.shape == (2,)
    assert qp.zero_point.dtype == np.int32 and qp.zero_point.tolist() == [3, 3]
    assert qp.dtype == np.dtype(np.uint8) and qp.axis == 0 and type(qp.axis) is int
    assert (qp.qmin, qp.qmax, qp.per_axis) == (0, 255, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        qp.axis = 1
    with pytest.raises(ValueError):
        qp.scale[0] = 1.0
    # the caller's arrays are copied
    scale = np.array([1.0, 2.0], np.float32)
    qp = ik.QParams(scale, axis=0)
    scale[0] = 5.0
    assert qp.scale[0] == 1.0
    assert ik.QParams(np.float64(0.5)) == ik.QParams(np.float32(0.5), 0, "int8")
    assert hash(ik.QParams(0.5, 2)) == hash(ik.QParams(0.5, 2))
    assert ik.QParams(0.5, 2) != ik.QParams(0.5, 2, np.uint8)
    assert not ik.QParams(0.5).per_axis and ik.QParams(0.5).axis is None


BAD_CALLS = [
    # (function, array, qp, exception, argument)
    ("quantize", np.arange(4, dtype=np.int32), ik.QParams(1.0), TypeError, "x"),
    ("quantize", np.arange(4, dtype=np.int8), ik.QParams(1.0), TypeError, "x"),
    ("quantize", np.ones(4, dtype=bool), ik.QParams(1.0), TypeError, "x"),
    ("quantize", np.ones(4, dtype=np.complex64), ik.QParams(1.0), TypeError, "x"),
    ("quantize", np.array(["1.0"]), ik.QParams(1.0), TypeError, "x"),
    ("quantize", np.ones(4, np.float32), (1.0, 0), TypeError, "qp"),
    ("quantize", np.ones(4, np.float32), None, TypeError, "qp"),
    ("quantize", np.ones((2, 4), np.float32), ik.QParams([1.0, 2.0, 3.0], axis=1), ValueError, "qp"),
    ("quantize", np.ones((2, 4), np.float32), ik.QParams([1.0, 2.0, 3.0], axis=0), ValueError, "qp"),
    ("quantize", np.ones((2, 3), np.float32), ik.QParams([1.0, 2.0, 3.0], axis=2), ValueError, "axis"),
    ("quantize", np.ones((2, 3), np.float32), ik.QParams([1.0, 2.0, 3.0], axis=-3), ValueError, "axis"),
    ("quantize", np.float32(1.0), ik.QParams([1.0, 2.0], axis=0), ValueError, "qp"),
    ("dequantize", np.ones(4, np.float32), ik.QParams(1.0), TypeError, "q"),
    ("dequantize", np.ones(4, np.int32), ik.QParams(1.0), TypeError, "q"),
    ("dequantize", np.ones(4, np.int8), ik.QParams(1.0, dtype=np.uint8), TypeError, "q"),
    ("dequantize", np.ones(4, np.uint8), ik.QParams(1.0, dtype=np.int8), TypeError, "q"),
    ("dequantize", [1, 2], ik.QParams(1.0), TypeError, "q"),
    ("dequantize", np.ones(4, np.int8), "qp", TypeError, "qp"),
    ("dequantize", np.ones((2, 4), np.int8), ik.QParams([1.0, 2.0, 3.0], axis=1), ValueError, "qp"),
    ("dequantize", np.ones((2, 3), np.int8), ik.QParams([1.0, 2.0, 3.0], axis=2), ValueError, "axis"),
    ("dequantize", np.int8(1), ik.QParams([1.0, 2.0], axis=0), ValueError, "qp"),
]


@pytest.mark.parametrize(("function", "array", "qp", "error", "argument"), BAD_CALLS, ids=lambda v: repr(v)[:50])
def test_quantize_and_dequantize_reject(function, array, qp, error, argument):
    with pytest.raises(error, match=rf"\b{function}\b.*\b{argument}\b"):
        getattr(ik, function)(array, qp)


def test_shape_mismatch_message_names_shapes():
    with pytest.raises(ValueError, match=r"3 scales.*axis 1.*\(2, 4\)"):
        ik.quantize(np.ones((2, 4), np.float32), ik.QParams([1.0, 2.0, 3.0], axis=1))


# ---------------------------------------------------------------------------------------------
# (e) calibrate
# ---------------------------------------------------------------------------------------------

calibration_data = st.integers(1, 3).flatmap(
    lambda rank: hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=rank, max_dims=rank, min_side=1, max_side=6),
        elements=st.one_of(
            st.floats(-1e6, 1e6, width=32),
            st.floats(0.5, 100.0, width=32),  # ranges that do not contain 0 ...
            st.floats(-100.0, -0.5, width=32),
            st.just(0.0),
        ),
    )
)
same_sign = st.sampled_from(["as_is", "positive", "negative"])


def _signed(x, how):
    return {"as_is": x, "positive": np.abs(x) + np.float32(1), "negative": -np.abs(x) - np.float32(1)}[how]


@given(calibration_data, same_sign, st.sampled_from(INT_DTYPES), st.booleans(), st.booleans())
def test_calibrate_range_contains_zero_and_covers_data(x, sign, dtype, symmetric, per_axis):
    x = _signed(x, sign)
    axis = (x.ndim - 1) if per_axis else None
    qp = ik.calibrate(x, dtype=dtype, symmetric=symmetric, axis=axis)
    assert qp.dtype == dtype and qp.axis == axis
    assert np.all(np.isfinite(qp.scale)) and np.all(qp.scale > 0)
    zeros = np.zeros(x.shape, np.float32)
    q0 = ik.quantize(zeros, qp)
    np.testing.assert_array_equal(q0, np.broadcast_to(broadcast_along(qp.zero_point, x.ndim, axis), x.shape))
    assert np.all(float_bits(ik.dequantize(q0, qp)) == 0)  # exactly +0.0
    # every value is represented to within one step (half a step of rounding, half a step of
    # zero-point rounding at the ends of the range)
    step = broadcast_along(qp.scale, x.ndim, axis).astype(np.float64)
    error = np.abs(ik.dequantize(ik.quantize(x, qp), qp).astype(np.float64) - x)
    assert np.all(error <= step * 1.001)


@given(calibration_data, same_sign, st.booleans())
def test_calibrate_symmetric(x, sign, per_axis):
    x = _signed(x, sign)
    axis = 0 if per_axis else None
    qp8 = ik.calibrate(x, dtype=np.int8, symmetric=True, axis=axis)
    assert np.all(qp8.zero_point == 0)
    q = ik.quantize(x, qp8)
    assert q.min() >= -127 and q.max() <= 127
    amax = np.abs(x).max(axis=None if axis is None else tuple(range(1, x.ndim)))
    expected = np.where(amax == 0, 1.0, amax.astype(np.float64) / 127).astype(np.float32)
    np.testing.assert_array_equal(qp8.scale, np.maximum(expected, np.float32(TINY_SUBNORMAL)))
    qpu8 = ik.calibrate(x, dtype=np.uint8, symmetric=True, axis=axis)
    assert np.all(qpu8.zero_point == 128)
    np.testing.assert_array_equal(qpu8.scale, qp8.scale)
    qu = ik.quantize(x, qpu8)
    assert qu.min() >= 1 and qu.max() <= 255


def test_calibrate_minmax_golden():
    x = np.array([-1.0, 0.5, 3.0], np.float32)
    qp = ik.calibrate(x, dtype=np.uint8)
    assert qp.scale == np.float32(4.0 / 255)
    assert qp.zero_point == round(1.0 / (4.0 / 255))  # rne(0 - (-1) / s) = rne(63.75) = 64
    qp = ik.calibrate(x, dtype=np.int8)
    assert qp.zero_point == -128 + 64
    # a positive-only range is widened down to 0: zero point at qmin
    qp = ik.calibrate(np.array([2.0, 5.1], np.float32), dtype=np.uint8)
    assert qp.zero_point == 0 and qp.scale == np.float32(np.float64(np.float32(5.1)) / 255)
    qp = ik.calibrate(np.array([-2.0, -5.1], np.float32), dtype=np.int8)
    assert qp.zero_point == 127 and qp.scale == np.float32(np.float64(np.float32(5.1)) / 255)
    qp = ik.calibrate(np.array([-2.0, 2.0], np.float32), dtype=np.int8, symmetric=True)
    assert qp.zero_point == 0 and qp.scale == np.float32(2.0 / 127)


@given(calibration_data.filter(lambda a: a.ndim >= 2), st.sampled_from(INT_DTYPES), st.booleans(), st.data())
def test_calibrate_per_axis_equals_per_slice(x, dtype, symmetric, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    qp = ik.calibrate(x, dtype=dtype, symmetric=symmetric, axis=axis)
    assert qp.per_axis and qp.scale.shape == (x.shape[axis],)
    assert qp.axis % x.ndim == axis % x.ndim
    for c in range(x.shape[axis]):
        one = ik.calibrate(np.take(x, c, axis=axis), dtype=dtype, symmetric=symmetric)
        assert qp.scale[c] == one.scale and qp.zero_point[c] == one.zero_point
    q = ik.quantize(x, qp)  # the per-axis parameters fit the tensor they came from
    assert q.shape == x.shape


def test_calibrate_percentile():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.0, 1.0, 100_000).astype(np.float32)
    x[17] = 1000.0
    x[99] = -500.0
    minmax = ik.calibrate(x)
    clipped = ik.calibrate(x, method="percentile", percentile=99.9)
    assert float(minmax.scale) == pytest.approx(1500 / 255, rel=1e-6)
    assert float(clipped.scale) < 2.5 / 255
    q = ik.quantize(x, clipped)
    assert q[17] == 127 and q[99] == -128  # outliers saturate
    sym = ik.calibrate(x, method="percentile", percentile=99.9, symmetric=True)
    assert sym.zero_point == 0
    assert float(sym.scale) == pytest.approx(np.percentile(np.abs(x.astype(np.float64)), 99.9) / 127, rel=1e-6)
    # percentile 100 is min/max
    for symmetric in (False, True):
        for dtype in INT_DTYPES:
            by_percentile = ik.calibrate(x, method="percentile", percentile=100, symmetric=symmetric, dtype=dtype)
            assert by_percentile == ik.calibrate(x, symmetric=symmetric, dtype=dtype)
    per_axis = ik.calibrate(x.reshape(100, 1000), axis=0, method="percentile", percentile=99.0)
    assert per_axis.scale.shape == (100,)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_calibrate_all_zero(dtype, symmetric, method):
    x = np.zeros((3, 4), np.float32)
    qp = ik.calibrate(x, dtype=dtype, symmetric=symmetric, method=method)
    assert qp.scale == np.float32(1.0)
    assert ik.quantize(0.0, qp) == qp.zero_point
    assert ik.dequantize(ik.quantize(x, qp), qp).tolist() == x.tolist()
    qp = ik.calibrate(x, dtype=dtype, symmetric=symmetric, method=method, axis=1)
    np.testing.assert_array_equal(qp.scale, np.ones(4, np.float32))


def test_calibrate_accepts_other_float_dtypes():
    x = np.array([-1.0, 0.25, 3.0])
    for dtype in (np.float64, np.float16):
        assert ik.calibrate(x.astype(dtype)) == ik.calibrate(x.astype(np.float32))
    # float64 ranges narrower than float32 can express still give a positive scale
    tiny = ik.calibrate(np.array([0.0, 1e-300]))
    assert tiny.scale > 0


BAD_CALIBRATE = [
    (dict(x=np.array([0.0, np.nan], np.float32)), ValueError, "x"),
    (dict(x=np.array([0.0, np.inf], np.float32)), ValueError, "x"),
    (dict(x=np.array([0.0, -np.inf])), ValueError, "x"),
    (dict(x=np.arange(4, dtype=np.int32)), TypeError, "x"),
    (dict(x=np.arange(4, dtype=np.uint8)), TypeError, "x"),
    (dict(x=[1, 2, 3]), TypeError, "x"),
    (dict(x=np.ones(3, bool)), TypeError, "x"),
    (dict(x=np.zeros((0,), np.float32)), ValueError, "x"),
    (dict(x=np.zeros((2, 0), np.float32)), ValueError, "x"),
    (dict(x=np.ones(4, np.float32), method="max"), ValueError, "method"),
    (dict(x=np.ones(4, np.float32), method="MinMax"), ValueError, "method"),
    (dict(x=np.ones(4, np.float32), method=None), ValueError, "method"),
    (dict(x=np.ones(4, np.float32), method="percentile", percentile=40.0), ValueError, "percentile"),
    (dict(x=np.ones(4, np.float32), method="percentile", percentile=100.5), ValueError, "percentile"),
    (dict(x=np.ones(4, np.float32), method="percentile", percentile=np.nan), ValueError, "percentile"),
    (dict(x=np.ones(4, np.float32), method="percentile", percentile="99"), ValueError, "percentile"),
    (dict(x=np.ones(4, np.float32), method="percentile", percentile=True), ValueError, "percentile"),
    (dict(x=np.ones((2, 3), np.float32), axis=2), ValueError, "axis"),
    (dict(x=np.ones((2, 3), np.float32), axis=-3), ValueError, "axis"),
    (dict(x=np.ones((2, 3), np.float32), axis=1.0), TypeError, "axis"),
    (dict(x=np.ones((2, 3), np.float32), axis=(0, 1)), TypeError, "axis"),
    (dict(x=np.float32(1.0), axis=0), ValueError, "axis"),
    (dict(x=np.ones(4, np.float32), dtype=np.int16), TypeError, "dtype"),
    (dict(x=np.ones(4, np.float32), dtype=np.float32), TypeError, "dtype"),
]


@pytest.mark.parametrize(("kwargs", "error", "argument"), BAD_CALIBRATE, ids=lambda v: repr(v)[:60])
def test_calibrate_rejects(kwargs, error, argument):
    x = kwargs.pop("x")
    with pytest.raises(error, match=rf"\bcalibrate\b.*\b{argument}\b"):
        ik.calibrate(x, **kwargs)
