"""Named edge cases of the 16-bit formats, the exact widening of all 2**16 patterns, bad input, and the
finite magnitude range that decides whether bf16 products are exact."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inferentia_kernels as ik
from inferentia_kernels.kernels.formats import finite_magnitude_range


def f32(*bits: int) -> np.ndarray:
    return np.array(bits, dtype=np.uint32).view(np.float32)


def bits16(array: np.ndarray) -> list[int]:
    return array.view(np.uint16).tolist()


BF16_CASES = {
    "+0": (0x00000000, 0x0000),
    "-0": (0x80000000, 0x8000),
    "smallest subnormal rounds to 0": (0x00000001, 0x0000),
    "subnormal kept": (0x00010000, 0x0001),
    "subnormal tie to even (down)": (0x00008000, 0x0000),
    "subnormal tie to even (up)": (0x00018000, 0x0002),
    "largest subnormal rounds to smallest normal": (0x007FFFFF, 0x0080),
    "1.0": (0x3F800000, 0x3F80),
    "tie rounds to even (down)": (0x3F808000, 0x3F80),
    "tie rounds to even (up)": (0x3F818000, 0x3F82),
    "just above tie rounds up": (0x3F808001, 0x3F81),
    "max finite bf16": (0x7F7F0000, 0x7F7F),
    "max float32 rounds to +Inf": (0x7F7FFFFF, 0x7F80),
    "tie above max finite rounds to +Inf": (0x7F7F8000, 0x7F80),
    "below the tie stays finite": (0x7F7F7FFF, 0x7F7F),
    "-max float32 rounds to -Inf": (0xFF7FFFFF, 0xFF80),
    "+Inf": (0x7F800000, 0x7F80),
    "-Inf": (0xFF800000, 0xFF80),
    "quiet NaN": (0x7FC00000, 0x7FC0),
    "signalling NaN becomes quiet": (0x7F800001, 0x7FC0),
    "NaN payload dropped": (0x7FBFFFFF, 0x7FC0),
    "negative NaN keeps sign": (0xFFC12345, 0xFFC0),
}


@pytest.mark.parametrize("name", BF16_CASES)
def test_to_bfloat16_edge_cases(name):
    source, expected = BF16_CASES[name]
    ours = ik.to_bfloat16(f32(source))
    assert ours.dtype == ml_dtypes.bfloat16
    assert bits16(ours) == [expected]
    with np.errstate(invalid="ignore"):
        assert bits16(f32(source).astype(ml_dtypes.bfloat16)) == [expected]


FP16_CASES = {
    "+0": (0x00000000, 0x0000),
    "-0": (0x80000000, 0x8000),
    "half the smallest subnormal is a tie to 0": (0x33000000, 0x0000),
    "just above half the smallest subnormal": (0x33000001, 0x0001),
    "smallest subnormal 2**-24": (0x33800000, 0x0001),
    "1.5 * 2**-24 ties up to even": (0x33C00000, 0x0002),
    "largest subnormal": (0x387FC000, 0x03FF),
    "smallest normal 2**-14": (0x38800000, 0x0400),
    "1.0": (0x3F800000, 0x3C00),
    "tie rounds to even (down)": (0x3F801000, 0x3C00),
    "tie rounds to even (up)": (0x3F803000, 0x3C02),
    "max finite 65504": (0x477FE000, 0x7BFF),
    "65519.996 stays finite": (0x477FEFFF, 0x7BFF),
    "65520 ties to +Inf": (0x477FF000, 0x7C00),
    "65536 overflows": (0x47800000, 0x7C00),
    "-65520 ties to -Inf": (0xC77FF000, 0xFC00),
    "+Inf": (0x7F800000, 0x7C00),
    "-Inf": (0xFF800000, 0xFC00),
    "quiet NaN": (0x7FC00000, 0x7E00),
    "NaN top payload bits kept": (0x7FBFE000, 0x7DFF),
    "NaN with only low payload bits stays NaN": (0x7F800001, 0x7C01),
    "negative NaN keeps sign": (0xFFC00000, 0xFE00),
}


@pytest.mark.parametrize("name", FP16_CASES)
def test_to_float16_edge_cases(name):
    source, expected = FP16_CASES[name]
    ours = ik.to_float16(f32(source))
    assert ours.dtype == np.float16
    assert bits16(ours) == [expected]
    with np.errstate(all="ignore"):
        assert bits16(f32(source).astype(np.float16)) == [expected]


def test_from_bfloat16_is_exact_for_all_patterns():
    patterns = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    values = patterns.view(ml_dtypes.bfloat16)
    ours = ik.from_bfloat16(values)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.view(np.uint32), patterns.astype(np.uint32) << 16)
    np.testing.assert_array_equal(ours.view(np.uint32), values.astype(np.float32).view(np.uint32))


def test_from_float16_matches_numpy_for_all_patterns():
    values = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    with np.errstate(invalid="ignore"):
        theirs = values.astype(np.float32)
    np.testing.assert_array_equal(ik.from_float16(values).view(np.uint32), theirs.view(np.uint32))


@pytest.mark.parametrize("to16, from16", [(ik.to_bfloat16, ik.from_bfloat16), (ik.to_float16, ik.from_float16)])
def test_round_trip_of_every_16_bit_value_is_exact(to16, from16):
    dtype = ml_dtypes.bfloat16 if to16 is ik.to_bfloat16 else np.float16
    values = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dtype)
    finite = np.isfinite(values.astype(np.float32))
    again = to16(from16(values))
    np.testing.assert_array_equal(again.view(np.uint16)[finite], values.view(np.uint16)[finite])


def test_float64_input_is_rounded_to_float32_first():
    # 1 + 2**-8 + 2**-30 lies above the bfloat16 tie 1 + 2**-8 in float64, but rounds to exactly
    # that tie in float32, which then rounds to even (1.0). Rounding once would give 1 + 2**-7.
    x = np.array([1.0 + 2.0**-8 + 2.0**-30])
    assert np.float32(x[0]) == np.float32(1.0 + 2.0**-8)
    assert ik.from_bfloat16(ik.to_bfloat16(x))[0] == 1.0
    assert bits16(ik.to_bfloat16(x)) == bits16(x.astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize("convert", [ik.to_bfloat16, ik.to_float16])
def test_shapes_layouts_and_empty_arrays(convert):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    expected = convert(np.ascontiguousarray(x.T[::2]))
    np.testing.assert_array_equal(convert(x.T[::2]).view(np.uint16), expected.view(np.uint16))
    read_only = x.copy()
    read_only.flags.writeable = False
    assert convert(read_only).shape == (6, 8)
    assert convert(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert convert(np.float32(2.5)).shape == ()


def test_16_bit_inputs_are_not_rounded_again():
    b = ik.to_bfloat16(np.float32([1.1, -3.3]))
    assert bits16(ik.to_bfloat16(b)) == bits16(b)
    h = np.float16([1.1, -3.3])
    assert bits16(ik.to_float16(h)) == bits16(h)
    # float16 -> bfloat16 goes through float32, which is exact
    assert bits16(ik.to_bfloat16(h)) == bits16(h.astype(np.float32).astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: ik.to_bfloat16(np.arange(3)), "x"),
        (lambda: ik.to_float16(np.array(["a"])), "x"),
        (lambda: ik.to_bfloat16(np.ones(2, np.complex64)), "x"),
        (lambda: ik.from_bfloat16(np.ones(2, np.float32)), "x"),
        (lambda: ik.from_float16(ik.to_bfloat16(np.ones(2, np.float32))), "x"),
    ],
)
def test_wrong_dtype_is_a_type_error_naming_the_argument(call, argument):
    with pytest.raises(TypeError, match=rf": {argument} must be"):
        call()


@pytest.mark.parametrize("convert, inf_bits", [(ik.to_bfloat16, 0x7F80), (ik.to_float16, 0x7C00)])
def test_float64_beyond_float32_range_is_infinite_without_a_warning(convert, inf_bits):
    assert bits16(convert(np.array([1e300, -1e300]))) == [inf_bits, inf_bits | 0x8000]


def _magnitude_range_reference(values: np.ndarray) -> tuple[float, float]:
    magnitudes = np.abs(values[np.isfinite(values)])
    nonzero = magnitudes[magnitudes > 0]
    return (float(nonzero.min()) if nonzero.size else np.inf), (float(magnitudes.max()) if magnitudes.size else 0.0)


@settings(max_examples=200)
@given(st.lists(st.integers(0, 2**32 - 1), max_size=70), st.sampled_from([0, 1, 7]))
def test_finite_magnitude_range_matches_numpy(patterns, special_every):
    """Any float32 bit patterns (NaN, Inf, zeros of both signs and subnormals among them), more
    than one vector's worth so that the vectorised loop and its tail both run."""
    specials = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFFFFFFF, 0x00000001, 0x7F7FFFFF]
    if special_every:
        patterns = [specials[i % len(specials)] if i % special_every == 0 else p for i, p in enumerate(patterns)]
    values = np.array(patterns, dtype=np.uint32).view(np.float32)
    smallest, largest = finite_magnitude_range(values)
    assert (float(smallest), float(largest)) == _magnitude_range_reference(values)
