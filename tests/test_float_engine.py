"""Bit-exact tests of the float tensor engine, ``ik.ops.matmul`` (DESIGN.md §2, "Float tensor engine").

The accumulation order defines every output bit: K tiles of 128, ascending k inside a tile into an
FP32 partial from +0.0, tile partials in ascending order into the FP32 PSUM from +0.0, then bias,
then the activation's clamp. Every comparison here is on float32 bit patterns (``view(np.uint32)``),
so -0.0 vs +0.0 and NaN payloads count.

Oracles:
- ``inferentia_kernels.reference.matmul_float.matmul_2d`` (slow scalar loops; shapes kept small),
- ``tiled_oracle`` below, an independent vectorised transcription of the spec (fast, any shape),
- hand-written scalar loops for the golden cases.
"""

from __future__ import annotations

import itertools
import warnings

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inferentia_kernels as ik
from inferentia_kernels.ops import _float_engine, _tiles
from inferentia_kernels.reference import matmul_float as ref
from float_bits import assert_same_bits, bits, f32_from_bits

matmul = ik.ops.matmul
BF16 = np.dtype(ml_dtypes.bfloat16)
PRECISIONS = ("bf16", "fp16", "fp32")
ACTIVATIONS = (None, "relu", "relu6", (-1.5, 2.25))
K_TILE = 128
#: Unit roundoff of the input rounding.
UNIT = {"bf16": 2.0**-8, "fp16": 2.0**-11}
#: Default NaN of the host (x86: negative quiet NaN) as produced by Inf·0 and Inf − Inf.
#: Computed, not hard-coded, so the tests stay valid on hosts with another default NaN.
with np.errstate(invalid="ignore"):
    DEFAULT_NAN_BITS = int((np.array([np.inf], np.float32) * np.float32(0.0)).view(np.uint32)[0])

#: Largest M·N·K one comparison with the slow scalar reference may cost (about 1 µs per MAC).
MAX_REF_MACS = 150_000
#: K values around the 128-row tiles, N values around the 16-column blocks and the 128-column strips.
K_VALUES = [1, 2, 127, 128, 129, 255, 256, 257, 300, 1000]
N_VALUES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 127, 128, 129]


# ----------------------------------------------------------------------------------------------
# helpers


def bounds(activation) -> tuple[float, float]:
    """The clamp of DESIGN.md §1 for a float output."""
    if activation is None:
        return -np.inf, np.inf
    if activation == "relu":
        return 0.0, np.inf
    if activation == "relu6":
        return 0.0, 6.0
    lo, hi = activation
    return float(np.float32(lo)), float(np.float32(hi))


def reference(a, b, precision, bias=None, activation=None) -> np.ndarray:
    low, high = bounds(activation)
    return ref.matmul_2d(np.asarray(a), np.asarray(b), precision, bias, low, high)


def rounded(x, precision: str) -> np.ndarray:
    """x rounded once to the precision, widened to float32 (float64 goes through float32 first)."""
    target = {"bf16": BF16, "fp16": np.float16, "fp32": np.float32}[precision]
    with np.errstate(all="ignore"):
        return np.asarray(x).astype(np.float32).astype(target).astype(np.float32)


def tiled_oracle(a, b, precision, bias=None, activation=None) -> np.ndarray:
    """DESIGN.md §2 vectorised over the outputs (every element still adds in the specified order).

    Only for inputs whose NaNs (if any) arise from Inf·0 / Inf − Inf: numpy's array ops may pick
    either payload when two NaNs meet.
    """
    a32, b32 = rounded(a, precision), rounded(b, precision)
    rows, depth = a32.shape
    cols = b32.shape[1]
    psum = np.zeros((rows, cols), np.float32)
    with np.errstate(all="ignore"):
        for t in range(0, depth, K_TILE):
            partial = np.zeros((rows, cols), np.float32)
            for k in range(t, min(t + K_TILE, depth)):
                partial = partial + a32[:, k:k + 1] * b32[k:k + 1, :]  # float32 product, rounded once
            psum = psum + partial
        if bias is not None:
            psum = psum + np.asarray(bias).astype(np.float32)
        low, high = (np.float32(v) for v in bounds(activation))
        psum = np.where(psum < low, low, psum)
        psum = np.where(psum > high, high, psum)
    return psum.astype(np.float32)


def random_operand(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    """float32 test data of a few kinds; "special" and "cancel" make the order visible."""
    with np.errstate(all="ignore"):
        if kind == "normal":
            x = rng.standard_normal(shape)
        elif kind == "wide":  # magnitudes 2^-30 .. 2^30, both signs
            x = rng.choice([-1.0, 1.0], shape) * np.ldexp(1.0 + rng.random(shape), rng.integers(-30, 31, shape))
        elif kind == "ints":  # many exact ties, zeros and cancellations
            x = rng.integers(-3, 4, shape).astype(np.float64)
        elif kind == "cancel":  # huge and small magnitudes mixed
            big = rng.choice([-1.0, 1.0], shape) * np.ldexp(1.0, rng.integers(12, 31, shape))
            small = rng.choice([-1.0, -0.5, 0.5, 1.0, 2.0**-10, 3.0], shape)
            x = np.where(rng.random(shape) < 0.3, big, small)
        elif kind == "special":
            x = rng.standard_normal(shape)
            specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-45, 3e38, -3e38, 65504.0, 65520.0,
                                 2.0**24, 1.0 + 2.0**-8, 1.0 + 2.0**-11], np.float64)
            mask = rng.random(shape) < 0.05
            x = np.where(mask, rng.choice(specials, shape), x)
        else:
            raise AssertionError(kind)
        return np.asarray(x).astype(np.float32)


KINDS = ("normal", "wide", "ints", "cancel", "special")


# ----------------------------------------------------------------------------------------------
# 1. bit-exact against the reference on hypothesis shapes


@st.composite
def reference_cases(draw):
    depth = draw(st.sampled_from(K_VALUES))
    cols = draw(st.sampled_from(N_VALUES))
    rows = min(draw(st.integers(1, 9)), max(1, MAX_REF_MACS // (cols * depth)))
    precision = draw(st.sampled_from(PRECISIONS))
    activation = draw(st.one_of(
        st.sampled_from(ACTIVATIONS),
        st.tuples(st.floats(-8, 8, width=32), st.floats(-8, 8, width=32)).map(lambda p: (min(p), max(p))),
    ))
    seed = draw(st.integers(0, 2**32 - 1))
    kind_a, kind_b = draw(st.sampled_from(KINDS)), draw(st.sampled_from(KINDS))
    with_bias = draw(st.booleans())
    rng = np.random.default_rng(seed)
    a = random_operand(rng, (rows, depth), kind_a)
    b = random_operand(rng, (depth, cols), kind_b)
    bias = random_operand(rng, (cols,), draw(st.sampled_from(KINDS))) if with_bias else None
    return a, b, precision, bias, activation


@settings(max_examples=150)
@given(reference_cases())
def test_matches_reference_bit_exact(case):
    a, b, precision, bias, activation = case
    expected = reference(a, b, precision, bias, activation)
    actual = matmul(a, b, precision=precision, bias=bias, activation=activation)
    assert_same_bits(actual, expected, f"{a.shape}@{b.shape} {precision} bias={bias is not None} {activation}")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matches_reference_every_edge_shape(precision, activation):
    """One example of each K edge with N at the block / strip edges (M = 5: one row past a row block)."""
    rng = np.random.default_rng(1234)
    for depth, cols in itertools.product([1, 127, 128, 129, 257], [1, 15, 16, 17, 129]):
        rows = 5 if depth * cols < 10_000 else 1
        a = random_operand(rng, (rows, depth), "cancel")
        b = random_operand(rng, (depth, cols), "normal")
        bias = random_operand(rng, (cols,), "normal")
        actual = matmul(a, b, precision=precision, bias=bias, activation=activation)
        assert_same_bits(actual, reference(a, b, precision, bias, activation), f"{rows}x{depth}x{cols}")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_vectorised_oracle_agrees_with_reference(precision):
    """Sanity check of this file's fast oracle against the package's reference."""
    rng = np.random.default_rng(7)
    for kind in KINDS:
        a = random_operand(rng, (3, 300), kind)
        b = random_operand(rng, (300, 5), kind)
        bias = random_operand(rng, (5,), "normal")
        assert_same_bits(tiled_oracle(a, b, precision, bias, "relu6"), reference(a, b, precision, bias, "relu6"), kind)


# ----------------------------------------------------------------------------------------------
# 2. cancellation-heavy data and golden cases of the order


def hand_tiled(products: np.ndarray) -> np.float32:
    """The spec's order, written out: tiles of 128 from +0.0, partials into the PSUM from +0.0."""
    psum = np.float32(0.0)
    with np.errstate(all="ignore"):
        for t in range(0, len(products), 128):
            partial = np.float32(0.0)
            for k in range(t, min(t + 128, len(products))):
                partial = np.float32(partial + products[k])
            psum = np.float32(psum + partial)
    return psum


def hand_sequential(products: np.ndarray) -> np.float32:
    """A plain float32 running sum over all of K (what the engine must NOT do)."""
    total = np.float32(0.0)
    with np.errstate(all="ignore"):
        for value in products:
            total = np.float32(total + value)
    return total


@pytest.mark.parametrize("precision", PRECISIONS)
def test_golden_k256_two_tiles_then_psum(precision):
    """2^24 followed by 255 ones: sequentially every 1 is lost (2^24 + 1 ties to even, back to 2^24);
    in tile order the second tile's 128 ones are summed exactly from +0.0 and join the PSUM."""
    depth = 256
    big = 2.0**12  # a·b = 2^24 exactly; 2^12 is exact in bf16 and fp16
    a = np.ones((2, depth), np.float32)
    b = np.ones((depth, 3), np.float32)
    a[:, 0] = big
    b[0, :] = big
    b[:, 1] *= 2.0  # column 1: every product doubled (2^25 and 2s)
    b[:, 2] = -b[:, 2]  # column 2: negated
    products = np.array([np.float32(a[0, k] * b[k, 0]) for k in range(depth)], np.float32)

    tiled = hand_tiled(products)
    sequential = hand_sequential(products)
    assert float(tiled) == 2.0**24 + 128  # first tile's ones lost, second tile's kept
    assert float(sequential) == 2.0**24
    expected = np.array([[tiled, np.float32(2 * tiled), -tiled]] * 2, np.float32)

    actual = matmul(a, b, precision=precision)
    assert_same_bits(actual, expected, precision)
    assert actual[0, 0] != sequential
    assert actual[0, 0] != np.float32(2.0**24 + 255)  # the exact sum
    blas = (a @ b)[0, 0]  # numpy's float32 matmul (BLAS order)
    assert actual[0, 0] != blas, "numpy's order happens to equal the tile order: pick another example"


def test_golden_psum_adds_partials_in_ascending_tile_order():
    """K = 384, tile partials 2^24, 1, 1: ((0 + 2^24) + 1) + 1 = 2^24, any other grouping 2^24 + 2."""
    depth = 384
    a = np.zeros((1, depth), np.float32)
    b = np.ones((depth, 1), np.float32)
    a[0, 0] = b[0, 0] = 2.0**12  # product 2^24; 2^12 is exact in bf16 and fp16
    a[0, 128] = 1.0
    a[0, 256] = 1.0
    products = (a[0] * b[:, 0]).astype(np.float32)
    assert float(hand_tiled(products)) == 2.0**24
    for precision in PRECISIONS:
        assert_same_bits(matmul(a, b, precision=precision), np.array([[2.0**24]], np.float32), precision)
        # the other way round the small partials come first and are kept
        assert_same_bits(matmul(a[:, ::-1], b[::-1], precision=precision), np.array([[2.0**24 + 2]], np.float32))


def test_golden_ascending_k_inside_a_tile():
    """Inside one tile: 2^24 then 1, 1 gives 2^24; 1, 1 then 2^24 gives 2^24 + 2."""
    a = np.array([[2.0**24, 1.0, 1.0], [1.0, 1.0, 2.0**24]], np.float32)
    b = np.ones((3, 1), np.float32)
    assert_same_bits(matmul(a, b, precision="bf16"), np.array([[2.0**24], [2.0**24 + 2]], np.float32))


def test_golden_tile_overflow_then_psum_gives_nan():
    """fp32: tile 0 overflows to +Inf, tile 1 to -Inf, so the PSUM is +Inf + -Inf = NaN;
    a sequential sum would stay +Inf (and the exact sum is 0)."""
    depth = 256
    a = np.zeros((1, depth), np.float32)
    a[0, :2] = 3e38
    a[0, 128:130] = -3e38
    b = np.ones((depth, 1), np.float32)
    products = a[0].copy()
    assert np.isnan(hand_tiled(products))
    assert hand_sequential(products) == np.inf
    actual = matmul(a, b, precision="fp32")
    assert np.isnan(actual[0, 0])
    assert_same_bits(actual, np.array([[hand_tiled(products)]], np.float32))


def test_golden_fp32_products_are_rounded_before_the_add():
    """(1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 rounds (tie, even) to 1 + 2^-11; added to -(1 + 2^-11) that
    gives +0.0. A fused multiply-add would give 2^-24."""
    x = 1.0 + 2.0**-12
    a = np.array([[1.0, x]], np.float32)
    b = np.array([[-(1.0 + 2.0**-11)], [x]], np.float32)
    assert_same_bits(matmul(a, b, precision="fp32"), np.array([[0.0]], np.float32))
    assert_same_bits(matmul(a, b, precision="fp32"), reference(a, b, "fp32"))


def test_partials_start_from_positive_zero():
    """Every partial and the PSUM start from +0.0, so -0.0 products give +0.0 (and -0.0 bias too)."""
    a = np.array([[-0.0, -0.0], [0.0, -0.0]], np.float32)
    b = np.array([[1.0], [1.0]], np.float32)
    b2 = np.array([[-1.0], [1.0]], np.float32)  # row 1 x b2: products -0.0, -0.0
    for precision in PRECISIONS:
        assert bits(matmul(a, b2, precision=precision)).tolist() == [0, 0], precision
    for precision in PRECISIONS:
        out = matmul(a, b, precision=precision, bias=np.array([-0.0], np.float32))
        assert bits(out).tolist() == [0, 0], precision


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("depth", [127, 128, 129, 200, 256, 257, 300, 384])
def test_cancellation_rows_spanning_tile_boundaries(precision, depth):
    """Rows like [2^24·x, 1, -2^24·x, 1, ...], each huge value cancelled in a later position that
    may lie across a tile boundary: every change of order changes the result."""
    rng = np.random.default_rng(depth)
    rows, cols = 6, 5
    a = np.empty((rows, depth), np.float32)
    for i in range(rows):
        offset = int(rng.integers(0, 64))
        for k in range(depth):
            j = (k + offset) % 4
            x = float(rng.choice([1.0, 3.0, 0.75, 5.0]))
            scale = 2.0**int(rng.integers(8, 25))
            a[i, k] = [scale * x, 1.0, -scale * x, float(rng.choice([1.0, -0.5, 2.0**-6]))][j]
        rng.shuffle(a[i, : depth // 2])  # scatter the pairs across the first tile boundary
    b = np.ones((depth, cols), np.float32)
    b[:, 1] = rng.choice([1.0, -1.0], depth)
    b[:, 2] = rng.choice([1.0, 2.0, 0.5], depth)
    b[:, 3] = random_operand(rng, (depth,), "cancel")
    b[:, 4] = random_operand(rng, (depth,), "normal")
    bias = np.array([0.0, 1.0, -1.0, 2.0**-20, 1e30], np.float32)
    actual = matmul(a, b, precision=precision, bias=bias)
    assert_same_bits(actual, reference(a, b, precision, bias), f"K={depth}")
    assert_same_bits(actual, tiled_oracle(a, b, precision, bias), f"K={depth}")


@settings(max_examples=40)
@given(depth=st.sampled_from([127, 128, 129, 255, 256, 257, 300, 400]), seed=st.integers(0, 2**32 - 1),
       precision=st.sampled_from(PRECISIONS))
def test_cancellation_heavy_random(depth, seed, precision):
    """Alternating huge / small magnitudes of both signs, vs the reference and the vectorised oracle."""
    rng = np.random.default_rng(seed)
    rows, cols = 4, 7
    exps = rng.integers(-12, 25, (rows, depth))
    exps[:, 1::2] = rng.integers(-4, 3, (rows, depth // 2))  # alternate huge / small
    a = (rng.choice([-1.0, 1.0], (rows, depth)) * np.ldexp(1.0, exps)).astype(np.float32)
    b = random_operand(rng, (depth, cols), "cancel")
    b[:, 0] = 1.0
    expected = reference(a, b, precision)
    actual = matmul(a, b, precision=precision)
    assert_same_bits(actual, expected)
    assert_same_bits(actual, tiled_oracle(a, b, precision))


# ----------------------------------------------------------------------------------------------
# 3. error bound against float64


def gamma(n: int, v: float) -> float:
    return n * v / (1.0 - n * v)


def check_error_bound(a: np.ndarray, b: np.ndarray, precision: str) -> None:
    """|C − C64| ≤ (2u + u² + γ_{K−1}(2^−24)) · (|A| @ |B|), C64 from the original float32 inputs."""
    u = UNIT[precision]
    c = matmul(a, b, precision=precision).astype(np.float64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    c64 = a64 @ b64
    bound = (2 * u + u * u + gamma(a.shape[1] - 1, 2.0**-24)) * (np.abs(a64) @ np.abs(b64))
    err = np.abs(c - c64)
    assert np.all(np.isfinite(c))
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (precision, a.shape, b.shape, worst, err[worst], bound[worst])


@pytest.mark.parametrize("depth", [1, 2, 127, 128, 129, 1000, 4096])
@pytest.mark.parametrize(("precision", "scale"), [("bf16", 1.0), ("bf16", 1e12), ("bf16", 1e-12),
                                                  ("fp16", 1.0), ("fp16", 40.0)])
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_error_bound_vs_float64(depth, precision, scale, distribution):
    rng = np.random.default_rng(depth * 7 + len(precision))
    rows, cols = 8, 24
    if distribution == "normal":
        a, b = rng.standard_normal((rows, depth)), rng.standard_normal((depth, cols))
    else:  # no cancellation: the rounding errors all push one way
        a, b = rng.random((rows, depth)) + 0.5, rng.random((depth, cols)) + 0.5
    check_error_bound((a * scale).astype(np.float32), (b * scale).astype(np.float32), precision)


@settings(max_examples=25)
@given(depth=st.integers(1, 4096), seed=st.integers(0, 2**32 - 1), precision=st.sampled_from(["bf16", "fp16"]))
def test_error_bound_random_depths(depth, seed, precision):
    rng = np.random.default_rng(seed)
    scale = 16.0 if precision == "fp16" else 2.0**40  # |x| stays far below fp16's 65504
    a = (rng.standard_normal((3, depth)) * scale).astype(np.float32)
    b = (rng.standard_normal((depth, 5)) * scale).astype(np.float32)
    check_error_bound(a, b, precision)


# ----------------------------------------------------------------------------------------------
# 4. NaN / Inf


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_nan_in_a_row_makes_the_row_nan(precision, activation):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 300)).astype(np.float32)
    b = rng.standard_normal((300, 7)).astype(np.float32)
    b[:, 3] = 0.0  # NaN · 0 is NaN too
    a[2, 170] = f32_from_bits(0x7FA12345)  # signalling NaN with a payload, in the second tile
    a[4, 0] = f32_from_bits(0xFFC00042)  # negative quiet NaN, first element
    out = matmul(a, b, precision=precision, activation=activation)
    assert np.isnan(out[[2, 4]]).all()
    assert not np.isnan(out[[0, 1, 3]]).any()
    # one NaN source per output: its payload is defined (quietened; dropped by bf16) -> bit-exact
    assert_same_bits(out, reference(a, b, precision, None, activation))
    if precision == "bf16":
        assert set(bits(out[2]).tolist()) == {0x7FC00000}
        assert set(bits(out[4]).tolist()) == {0xFFC00000}
    if precision == "fp32":
        assert set(bits(out[2]).tolist()) == {0x7FE12345}  # quietened, payload kept
        assert set(bits(out[4]).tolist()) == {0xFFC00042}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_nan_in_b_column_and_in_bias(precision):
    a = np.ones((6, 130), np.float32)
    b = np.ones((130, 4), np.float32)
    b[129, 1] = np.nan
    bias = np.array([0.0, 0.0, 0.0, np.nan], np.float32)
    out = matmul(a, b, precision=precision, bias=bias, activation="relu")
    assert np.isnan(out[:, [1, 3]]).all()
    assert (out[:, [0, 2]] == 130.0).all()
    assert_same_bits(out, reference(a, b, precision, bias, "relu"))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_activation_lets_nan_through_and_clamps_inf(precision):
    a = np.array([[np.nan], [np.inf], [-np.inf], [-3.0], [3.0], [7.0]], np.float32)
    b = np.array([[1.0]], np.float32)
    relu = matmul(a, b, precision=precision, activation="relu")[:, 0]
    relu6 = matmul(a, b, precision=precision, activation="relu6")[:, 0]
    pair = matmul(a, b, precision=precision, activation=(-1.0, 2.0))[:, 0]
    assert np.isnan(relu[0]) and np.isnan(relu6[0]) and np.isnan(pair[0])  # NaN is not clamped to 0
    assert relu[1:].tolist() == [np.inf, 0.0, 0.0, 3.0, 7.0]
    assert relu6[1:].tolist() == [6.0, 0.0, 0.0, 3.0, 6.0]
    assert pair[1:].tolist() == [2.0, -1.0, -1.0, 2.0, 2.0]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_inf_times_zero_and_inf_minus_inf(precision):
    depth = 200
    a = np.ones((4, depth), np.float32)
    a[0, 5] = np.inf  # row 0: +Inf
    a[1, 5] = np.inf  # row 1: +Inf in tile 0 and -Inf in tile 1
    a[1, 150] = -np.inf
    a[2, 10] = np.inf  # row 2: +Inf - Inf inside one tile
    a[2, 11] = -np.inf
    b = np.ones((depth, 3), np.float32)
    b[5, 1] = 0.0  # column 1: Inf · 0
    b[5, 2] = -1.0  # column 2: sign flips
    out = matmul(a, b, precision=precision)
    assert out[0, 0] == np.inf and np.isnan(out[0, 1]) and out[0, 2] == -np.inf
    assert np.isnan(out[1, 0]) and np.isnan(out[1, 1]) and out[1, 2] == -np.inf
    assert np.isnan(out[2]).all()
    assert (out[3] == [200.0, 199.0, 198.0]).all()
    assert bits(out[2]).tolist() == [DEFAULT_NAN_BITS] * 3
    assert_same_bits(out, reference(a, b, precision))


def test_input_rounding_overflows_to_inf():
    one = np.ones((1, 1), np.float32)
    cases = [
        ("fp16", 65520.0, np.inf),  # halfway between 65504 and 2^16: ties to even -> overflow
        ("fp16", -65520.0, -np.inf),
        ("fp16", 65519.996, 65504.0),
        ("fp16", 1e5, np.inf),
        ("bf16", float(np.finfo(np.float32).max), np.inf),
        ("bf16", f32_from_bits(0x7F7F0000), f32_from_bits(0x7F7F0000)),  # bf16's largest finite value
        ("bf16", f32_from_bits(0x7F7F7FFF), f32_from_bits(0x7F7F0000)),  # just below the halfway point
        ("fp32", float(np.finfo(np.float32).max), float(np.finfo(np.float32).max)),
    ]
    for precision, value, expected in cases:
        out = matmul(np.array([[value]], np.float32), one, precision=precision)
        assert_same_bits(out, np.array([[expected]], np.float32), f"{precision} {value}")
    # rounded to Inf, then Inf · 0 = NaN
    assert np.isnan(matmul(np.array([[65520.0]], np.float32), np.zeros((1, 1), np.float32), precision="fp16")).all()
    # the float32 accumulation itself overflows
    big = np.full((1, 2), 3e38, np.float32)
    assert matmul(big, np.ones((2, 1), np.float32), precision="fp32")[0, 0] == np.inf


def test_two_nans_meeting_give_nan():
    """When two NaNs meet (a NaN times a NaN, or a NaN partial plus a NaN product) the result is a
    NaN; which payload survives is not fixed by DESIGN.md §2 (IEEE leaves it open), so only NaN-ness
    is checked here."""
    n1, n2 = f32_from_bits(0x7FC00001), f32_from_bits(0xFFC00002)
    for a, b in [([[n1]], [[n2]]), ([[n1, n2]], [[1.0], [1.0]]), ([[n1, 1.0]], [[1.0], [n2]])]:
        for precision in PRECISIONS:
            out = matmul(np.array(a, np.float32), np.array(b, np.float32), precision=precision)
            assert np.isnan(out).all()


# ----------------------------------------------------------------------------------------------
# 5. input forms


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", BF16), ("fp16", np.dtype(np.float16))])
def test_prerounded_inputs_are_not_rounded_twice(precision, dtype):
    rng = np.random.default_rng(5)
    a = random_operand(rng, (7, 257), "wide")
    b = random_operand(rng, (257, 17), "normal")
    if precision == "fp16":
        a = np.clip(a, -6e4, 6e4)
    bias = rng.standard_normal(17).astype(np.float32)
    a16, b16 = a.astype(dtype), b.astype(dtype)
    expected = matmul(a, b, precision=precision, bias=bias)
    assert_same_bits(expected, reference(a, b, precision, bias))
    for x, y in [(a16, b16), (a16, b), (a, b16), (a16.astype(np.float32), b16.astype(np.float32)),
                 (a16.astype(np.float64), b16)]:
        assert_same_bits(matmul(x, y, precision=precision, bias=bias), expected, f"{x.dtype} {y.dtype}")


def test_other_precisions_round_16_bit_inputs_from_their_exact_value():
    """An fp16 array with precision bf16 (and vice versa) is widened exactly, then rounded once."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 130)).astype(np.float16)
    b = rng.standard_normal((130, 4)).astype(BF16)
    for precision in PRECISIONS:
        expected = reference(a.astype(np.float32), b.astype(np.float32), precision)
        assert_same_bits(matmul(a, b, precision=precision), expected, precision)
    # fp32 keeps every 16-bit value: products of fp16 values are exact in fp32
    assert_same_bits(matmul(a, b, precision="fp32"), tiled_oracle(a.astype(np.float32), b.astype(np.float32), "fp32"))


@pytest.mark.parametrize(("precision", "step"), [("bf16", 2.0**-8), ("fp16", 2.0**-11)])
def test_float64_inputs_are_rounded_to_float32_first(precision, step):
    """1 + step + 2^-30 rounds straight to 1 + 2·step, but through float32 it is 1 + step, a tie,
    which rounds to even: 1.0."""
    x = np.array([[1.0 + step + 2.0**-30]], np.float64)
    one = np.ones((1, 1), np.float64)
    assert_same_bits(matmul(x, one, precision=precision), np.array([[1.0]], np.float32))
    assert_same_bits(matmul(one, x, precision=precision), np.array([[1.0]], np.float32))
    assert_same_bits(matmul(x, one, precision="fp32"), np.array([[1.0 + step]], np.float32))
    # float64 bias is rounded to float32 (once) as well
    bias = np.array([2.0**-30], np.float64)
    assert_same_bits(matmul(np.ones((1, 1)), one, precision=precision, bias=bias),
                     np.array([[np.float32(1.0) + np.float32(2.0**-30)]], np.float32))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_float64_beyond_float32_range_is_inf(precision):
    x = np.array([[1e300, -1e300, 1e-300]], np.float64)
    with np.errstate(over="ignore"):
        out = matmul(x, np.ones((3, 3), np.float64), precision=precision)
    assert np.isnan(out).all()  # +Inf + -Inf
    with np.errstate(over="ignore"):
        out = matmul(x[:, :1], np.ones((1, 2)), precision=precision)
    assert (out == np.inf).all()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_float64_operands_beyond_float32_range_do_not_warn(precision):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = matmul(np.array([[1e300, -1e300]]), np.ones((2, 2)) / 2, precision=precision)
    assert np.isnan(out).all()


@pytest.mark.parametrize(("precision", "a", "kwargs"), [
    ("fp32", [[1e300]], {}),
    ("bf16", [[1.0]], {"bias": np.array([1e300])}),
    ("fp16", [[1.0]], {"activation": (-1e300, 1e300)}),
], ids=["fp32-operand", "bias", "activation"])
def test_float64_beyond_float32_range_does_not_warn(precision, a, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = matmul(np.array(a), np.ones((1, 1)), precision=precision, **kwargs)
    assert out[0, 0] == (np.inf if "activation" not in kwargs else 1.0)


# ----------------------------------------------------------------------------------------------
# 6. shapes, broadcasting, memory layout


def per_batch(a, b, batch, **kwargs):
    """matmul of each broadcast batch element as a 2-D problem, stacked."""
    a_b = np.broadcast_to(a, (*batch, *a.shape[-2:]))
    b_b = np.broadcast_to(b, (*batch, *b.shape[-2:]))
    out = np.empty((*batch, a.shape[-2], b.shape[-1]), np.float32)
    for index in np.ndindex(*batch):
        out[index] = matmul(np.ascontiguousarray(a_b[index]), np.ascontiguousarray(b_b[index]), **kwargs)
    return out


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("a_shape", "b_shape"), [
    ((3, 5, 130), (130, 6)),  # shared weights
    ((2, 1, 5, 130), (1, 3, 130, 6)),  # both batched, broadcasting 1s
    ((1, 5, 130), (4, 130, 6)),
    ((4, 5, 130), (4, 130, 6)),
    ((5, 130), (2, 130, 6)),
    ((2, 3, 5, 130), (130, 6)),
    ((0, 5, 130), (130, 6)),  # empty batch
    ((2, 0, 5, 130), (1, 130, 6)),
])
def test_batch_broadcasting_equals_per_batch_2d(precision, a_shape, b_shape):
    rng = np.random.default_rng(11)
    a = random_operand(rng, a_shape, "cancel")
    b = random_operand(rng, b_shape, "normal")
    bias = rng.standard_normal(b_shape[-1]).astype(np.float32)
    out = matmul(a, b, precision=precision, bias=bias, activation="relu6")
    batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    numpy_shape = np.matmul(np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32)).shape
    assert out.shape == numpy_shape == (*batch, a_shape[-2], b_shape[-1])
    assert_same_bits(out, per_batch(a, b, batch, precision=precision, bias=bias, activation="relu6"))
    if out.size:  # and each batch element against the reference
        a_b = np.broadcast_to(a, (*batch, *a_shape[-2:])).reshape(-1, *a_shape[-2:])
        b_b = np.broadcast_to(b, (*batch, *b_shape[-2:])).reshape(-1, *b_shape[-2:])
        flat = out.reshape(-1, *out.shape[-2:])
        for n in range(flat.shape[0]):
            assert_same_bits(flat[n], reference(a_b[n], b_b[n], precision, bias, "relu6"), f"batch {n}")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_one_d_operands(precision):
    rng = np.random.default_rng(12)
    v = random_operand(rng, (129,), "cancel")
    m = random_operand(rng, (129, 5), "normal")
    mt = random_operand(rng, (4, 129), "normal")
    batched = random_operand(rng, (3, 129, 5), "normal")
    batched_a = random_operand(rng, (3, 4, 129), "normal")
    out = matmul(v, m, precision=precision)
    assert out.shape == (5,)
    assert_same_bits(out, reference(v[None], m, precision)[0])
    out = matmul(mt, v, precision=precision)
    assert out.shape == (4,)
    assert_same_bits(out, reference(mt, v[:, None], precision)[:, 0])
    out = matmul(v, batched, precision=precision)
    assert out.shape == (3, 5)
    assert_same_bits(out, np.stack([reference(v[None], batched[i], precision)[0] for i in range(3)]))
    out = matmul(batched_a, v, precision=precision)
    assert out.shape == (3, 4)
    assert_same_bits(out, np.stack([reference(batched_a[i], v[:, None], precision)[:, 0] for i in range(3)]))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_one_d_times_one_d_is_a_0d_array(precision):
    v = np.arange(1.0, 131.0, dtype=np.float32) / 64
    out = matmul(v, v[::-1].copy(), precision=precision)
    assert out.shape == np.matmul(v, v).shape == ()
    assert_same_bits(out, reference(v[None], v[::-1, None], precision)[0, 0])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_empty_outputs(precision):
    for a_shape, b_shape, shape in [((0, 5), (5, 3), (0, 3)), ((4, 5), (5, 0), (4, 0)), ((0, 5), (5, 0), (0, 0)),
                                    ((2, 0, 5), (5, 3), (2, 0, 3)), ((2, 4, 5), (2, 5, 0), (2, 4, 0)),
                                    ((0,), (0, 0), (0,))]:
        out = matmul(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32), precision=precision,
                     bias=np.ones(b_shape[-1], np.float32) if len(b_shape) > 1 else None)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == shape, (a_shape, b_shape)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_k_zero_gives_bias_or_positive_zero(precision):
    a = np.ones((3, 0), np.float32)
    b = np.ones((0, 4), np.float32)
    assert_same_bits(matmul(a, b, precision=precision), np.zeros((3, 4), np.float32))
    bias = np.array([-0.0, 1.5, -np.inf, 7.0], np.float32)
    expected = np.broadcast_to(np.float32(0.0) + bias, (3, 4))  # +0.0 + -0.0 = +0.0
    assert bits(expected)[0] == 0
    assert_same_bits(matmul(a, b, precision=precision, bias=bias), expected)
    assert_same_bits(matmul(a, b, precision=precision, bias=bias), reference(a, b, precision, bias))
    assert_same_bits(matmul(a, b, precision=precision, bias=bias, activation="relu6"),
                     np.broadcast_to(np.array([0.0, 1.5, 0.0, 6.0], np.float32), (3, 4)))
    assert_same_bits(matmul(np.ones((2, 3, 0), np.float32), b, precision=precision, bias=bias),
                     np.broadcast_to(expected[0], (2, 3, 4)))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_non_contiguous_and_read_only_inputs(precision):
    rng = np.random.default_rng(13)
    a_big = random_operand(rng, (14, 3 * 260), "cancel")
    b_big = random_operand(rng, (17, 260), "normal")
    a = a_big[::2, 1::3]  # (7, 260), strided both ways
    b = b_big.T  # (260, 17), Fortran order
    bias = random_operand(rng, (34,), "normal")[::2]
    expected = matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), precision=precision,
                      bias=np.ascontiguousarray(bias))
    assert_same_bits(expected, tiled_oracle(a, b, precision, bias))
    assert_same_bits(matmul(a, b, precision=precision, bias=bias), expected, "strided")
    assert_same_bits(matmul(a[::-1], b, precision=precision, bias=bias), expected[::-1], "negative row stride")
    assert_same_bits(matmul(a, b[:, ::-1], precision=precision, bias=bias[::-1]), expected[:, ::-1],
                     "negative col stride")
    reversed_k = matmul(np.ascontiguousarray(a[:, ::-1]), np.ascontiguousarray(b[::-1]), precision=precision, bias=bias)
    assert_same_bits(matmul(a[:, ::-1], b[::-1], precision=precision, bias=bias), reversed_k, "negative K strides")
    assert_same_bits(reversed_k, tiled_oracle(a[:, ::-1], b[::-1], precision, bias), "reversed K")
    a_ro, b_ro, bias_ro = a.copy(), np.asfortranarray(b), bias.copy()
    for x in (a_ro, b_ro, bias_ro):
        x.setflags(write=False)
    assert_same_bits(matmul(a_ro, b_ro, precision=precision, bias=bias_ro), expected, "read-only")
    a16 = np.clip(a_big, -6e4, 6e4).astype(BF16 if precision == "bf16" else np.float16)[::2, 1::3]
    a16.setflags(write=False)
    assert_same_bits(matmul(a16, b, precision=precision, bias=bias),
                     matmul(a16.astype(np.float32), b, precision=precision, bias=bias), "16-bit strided")
    # zero strides (broadcast views are read-only)
    row = random_operand(rng, (260,), "normal")
    b_bc = np.broadcast_to(row[:, None], (260, 17))
    assert_same_bits(matmul(a, b_bc, precision=precision), matmul(a, b_bc.copy(), precision=precision), "broadcast")
    # inputs are never written to
    before = a_big.copy()
    matmul(a, b, precision=precision, bias=bias)
    assert_same_bits(a_big, before)


def test_batched_weights_output_is_a_fresh_writeable_array():
    out = matmul(np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32))
    assert out.flags.c_contiguous and out.flags.writeable
    out[0, 0, 0] = 5.0
    assert out[1, 0, 0] == 4.0 and out[0, 0, 1] == 4.0


@pytest.mark.parametrize(("a_shape", "b_shape"),
                         [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,))])
def test_output_is_a_fresh_writeable_array(a_shape, b_shape):
    out = matmul(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32))
    assert out.flags.c_contiguous and out.flags.writeable
    out[...] += 1.0  # as with numpy's matmul output
    assert (out == 5.0).all()


# ----------------------------------------------------------------------------------------------
# 7. determinism across thread splits


@pytest.mark.parametrize("precision", PRECISIONS)
def test_results_do_not_depend_on_the_thread_split(precision, monkeypatch, fresh_pool):
    rng = np.random.default_rng(17)
    shapes = [(37, 300, 260), (5, 257, 1030), (1, 129, 17), (64, 1000, 33), (9, 128, 129), (130, 256, 3)]
    cases = []
    for rows, depth, cols in shapes:
        a = random_operand(rng, (rows, depth), "cancel")
        b = random_operand(rng, (depth, cols), "wide" if precision == "bf16" else "normal")
        bias = random_operand(rng, (cols,), "normal")
        expected = tiled_oracle(a, b, precision, bias, "relu")
        cases.append((a, b, bias, expected))
    for threads, n_tile in itertools.product([1, 2, 3, 5], [16, 32, 128, 1024]):
        with monkeypatch.context() as patch:
            patch.setattr(_tiles, "THREADS", threads)
            patch.setattr(_tiles, "N_TILE", n_tile)
            patch.setattr(_float_engine, "PARALLEL_MACS", 0)  # split these small products too
            fresh_pool()
            for a, b, bias, expected in cases:
                out = matmul(a, b, precision=precision, bias=bias, activation="relu")
                assert_same_bits(out, expected, f"THREADS={threads} N_TILE={n_tile} {a.shape}@{b.shape}")
    fresh_pool()


def test_concurrent_calls_agree(fresh_pool):
    """Several threads calling matmul at once (sharing the pool) get the single-threaded bits."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(19)
    a = random_operand(rng, (40, 300), "cancel")
    b = random_operand(rng, (300, 300), "normal")
    expected = matmul(a, b, precision="bf16")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: matmul(a, b, precision="bf16"), range(8)))
    for out in results:
        assert_same_bits(out, expected)


# ----------------------------------------------------------------------------------------------
# 8. bad input


def raises_naming(exc, argument: str):
    return pytest.raises(exc, match=rf"^matmul: {argument} ")


GOOD_A = np.ones((2, 3), np.float32)
GOOD_B = np.ones((3, 4), np.float32)


@pytest.mark.parametrize("bad", [
    np.ones((2, 3), np.int32), np.ones((2, 3), np.uint8), np.ones((2, 3), np.int8), np.ones((2, 3), bool),
    np.ones((2, 3), np.complex64), np.ones((2, 3), np.complex128), np.array([["a", "b", "c"]] * 2),
    np.array([[1, 2, 3]] * 2, dtype=object), [[1, 2, 3], [4, 5, 6]],
], ids=lambda x: str(getattr(np.asarray(x), "dtype", type(x))))
def test_bad_operand_dtype_is_a_type_error(bad):
    with raises_naming(TypeError, "a"):
        matmul(bad, GOOD_B)
    with raises_naming(TypeError, "b"):
        matmul(GOOD_A, np.asarray(bad).T)


def test_scalar_operands_are_rejected():
    with raises_naming(ValueError, "a"):
        matmul(np.float32(2.0), GOOD_B)
    with raises_naming(ValueError, "b"):
        matmul(GOOD_A, 2.0)


@pytest.mark.parametrize("precision", ["bf32", "BF16", "fp8", "", "float32", None, 16, ("bf16",)])
def test_unknown_precision(precision):
    with pytest.raises(ValueError, match=r"^matmul: precision "):
        matmul(GOOD_A, GOOD_B, precision=precision)


@pytest.mark.parametrize(("a_shape", "b_shape"), [
    ((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((5,), (4, 3)), ((2, 2, 3), (3, 3, 4)),
    ((2, 1, 2, 3), (3, 1, 3, 4)), ((4, 2, 3), (2, 3, 4)),
])
def test_shape_mismatch(a_shape, b_shape):
    with pytest.raises(ValueError, match=r"^matmul: b "):
        matmul(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32))


@pytest.mark.parametrize(("bias", "exc"), [
    (np.ones(5, np.float32), ValueError), (np.ones(3, np.float32), ValueError),
    (np.ones((1, 4), np.float32), ValueError),
    (np.ones((4, 1), np.float32), ValueError), (np.float32(1.0), ValueError), (1.0, ValueError),
    (np.ones(4, np.int32), TypeError), (np.ones(4, np.int8), TypeError), (np.ones(4, bool), TypeError),
    (np.ones(4, np.complex64), TypeError), (["a"] * 4, TypeError),
])
def test_bad_bias(bias, exc):
    with raises_naming(exc, "bias"):
        matmul(GOOD_A, GOOD_B, bias=bias)


def test_bias_of_other_float_dtypes_is_accepted():
    for bias in (np.full(4, 0.5, np.float64), np.full(4, 0.5, np.float16), np.full(4, 0.5, BF16), [0.5] * 4):
        assert_same_bits(matmul(GOOD_A, GOOD_B, bias=bias), np.full((2, 4), 3.5, np.float32))


@pytest.mark.parametrize("activation", [
    (1, 0), (1.0, -1.0), "gelu", "RELU", "relu8", (float("nan"), 1.0), (0.0, float("nan")), (0, 1, 2), (0,),
    [0, 6], ("a", "b"), (None, 1.0), 0, 1.5, {"relu"},
], ids=repr)
def test_bad_activation(activation):
    with raises_naming(ValueError, "activation"):
        matmul(GOOD_A, GOOD_B, activation=activation)


def test_array_activation_is_rejected_by_name():
    with raises_naming(ValueError, "activation"):
        matmul(GOOD_A, GOOD_B, activation=np.array([0.0, 6.0]))


def test_errors_subclass_the_package_error():
    from inferentia_kernels.errors import InferentiaKernelsError

    for kwargs in ({"precision": "x"}, {"activation": "gelu"}, {"bias": np.ones(2, np.float32)}):
        with pytest.raises(InferentiaKernelsError):
            matmul(GOOD_A, GOOD_B, **kwargs)
    with pytest.raises(InferentiaKernelsError):
        matmul(np.ones((2, 3), np.int32), GOOD_B)


# --- fused multiply-add only where every product is exact ------------------------------------


def test_products_exact_decides_from_magnitudes():
    from inferentia_kernels.ops.matmul import products_exact

    one = np.ones((2, 2), np.float32)
    assert products_exact(one, one, "fp16") and not products_exact(one, one, "fp32")
    assert products_exact(one, one, "bf16")
    assert products_exact(one * np.float32(2.0**63), one * np.float32(2.0**64), "bf16")  # 2**127 fits
    assert not products_exact(one * np.float32(2.0**64), one * np.float32(2.0**64), "bf16")  # 2**128 overflows
    assert not products_exact(one * np.float32(2.0**-64), one * np.float32(2.0**-63), "bf16")  # 2**-127
    assert products_exact(one * np.float32(2.0**-63), one * np.float32(2.0**-63), "bf16")  # 2**-126
    inf_and_zero = np.array([[np.inf, 0.0], [np.nan, 1.0]], np.float32)
    assert products_exact(inf_and_zero, one, "bf16")  # non-finite and zero entries are exact either way


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # 1 * -2**127, then 2**64 * 2**64 = 2**128: rounded alone it is +Inf, so the sum is +Inf;
        # fused it would be -2**127 + 2**128 = 2**127.
        ([1.0, 2.0**64], [-(2.0**127), 2.0**64], np.inf),
        # 2**-75 * 2**-74 = 2**-149, then 2**-75 * 2**-75 = 2**-150: rounded alone it is a tie that goes
        # to 0 (even), so the sum stays 2**-149; fused, 1.5 * 2**-149 would round to 2**-148.
        ([2.0**-75, 2.0**-75], [2.0**-74, 2.0**-75], 2.0**-149),
    ],
    ids=["overflowing product", "underflowing product"],
)
def test_bf16_products_outside_float32_normal_range_are_rounded_before_the_add(a, b, expected):
    a = np.array([a], np.float32)
    b = np.array(b, np.float32)[:, None]
    out = matmul(a, b, precision="bf16")
    assert out[0, 0] == np.float32(expected)
    with np.errstate(all="ignore"):
        assert_same_bits(out, reference(a, b, "bf16"))
