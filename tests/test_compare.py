"""compare(): each statistic checked on values small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import inferentia_kernels as ik


def test_statistics_by_hand():
    ref = np.array([[3.0, 4.0], [0.0, 0.0]])
    cand = np.array([[3.0, 5.0], [0.0, 0.0]], dtype=np.float32)
    c = ik.compare(ref, cand)
    assert c.size == 4
    assert c.max_abs_error == 1.0
    assert c.mean_abs_error == 0.25
    assert c.relative_l2 == pytest.approx(1.0 / 5.0)  # |(0,1)| / |(3,4)|
    assert c.sqnr_db == pytest.approx(10 * math.log10(25.0 / 1.0))
    assert c.cosine == pytest.approx((9 + 20) / (5 * math.sqrt(34)))
    assert c.max_ulp == 2**21  # float32 spacing in [4, 8) is 2**-21
    assert c.top1_agreement == 1.0


def test_max_ulp_counts_float32_steps_across_zero_and_binades():
    one = np.float32(1.0)
    next_up = np.nextafter(one, np.float32(2))
    assert ik.compare(np.float32([one]), np.float32([next_up])).max_ulp == 1
    assert ik.compare(np.float32([2.0]), np.float32([np.nextafter(np.float32(2), np.float32(0))])).max_ulp == 1
    smallest = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert ik.compare(np.float32([-smallest]), np.float32([smallest])).max_ulp == 2
    assert ik.compare(np.float32([-0.0]), np.float32([0.0])).max_ulp == 0
    # 4.0 and 5.0 are 2**23 / 4 = 2**21 float32 steps apart (spacing 2**-21 in [4, 8)).
    assert ik.compare(np.float32([4.0]), np.float32([5.0])).max_ulp == 2**21


def test_identical_arrays():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    c = ik.compare(x, x.copy())
    assert (c.max_abs_error, c.mean_abs_error, c.relative_l2, c.max_ulp) == (0.0, 0.0, 0.0, 0)
    assert c.sqnr_db == math.inf
    assert c.cosine == pytest.approx(1.0)
    assert c.top1_agreement == 1.0


def test_top1_agreement_over_rows_of_logits():
    ref = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    cand = np.array([[0.1, 0.9, 0.0], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.0, 1.0, 0.0]])
    assert ik.compare(ref, cand).top1_agreement == 0.5
    assert ik.compare(ref[0], cand[0]).top1_agreement is None


def test_non_finite_values_are_counted_and_left_out():
    ref = np.array([np.nan, np.inf, -np.inf, 1.0, np.nan, 2.0])
    cand = np.array([np.nan, np.inf, np.inf, 1.0, 5.0, 2.5])
    c = ik.compare(ref, cand)
    assert c.nonfinite_mismatches == 2  # -Inf vs +Inf, NaN vs 5
    assert c.max_abs_error == 0.5  # from the finite pairs only


def test_integer_and_bfloat16_inputs():
    q = np.array([1, -2, 3], dtype=np.int8)
    assert ik.compare(q, q.astype(np.int32) + 1).max_abs_error == 1.0
    b = ik.to_bfloat16(np.float32([1.0, 2.0]))
    assert ik.compare(np.float32([1.0, 2.0]), b).max_abs_error == 0.0


def test_empty_arrays():
    c = ik.compare(np.zeros((0, 3)), np.zeros((0, 3)))
    assert c.size == 0 and c.max_abs_error == 0.0 and c.top1_agreement is None


def test_printed_table_names_each_statistic():
    text = str(ik.compare(np.float32([[1, 2]]), np.float32([[1, 2.5]])))
    for label in ("max |error|", "mean |error|", "relative L2", "SQNR", "cosine", "max ULP", "top-1"):
        assert label in text
    assert set(ik.compare(np.float32([1]), np.float32([1])).to_dict()) >= {"sqnr_db", "max_ulp", "cosine"}


def test_bad_input():
    with pytest.raises(ValueError, match="compare: candidate shape"):
        ik.compare(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="compare: reference must be a real numeric array"):
        ik.compare(np.array(["a"]), np.zeros(1))
    with pytest.raises(TypeError, match="compare: candidate must be"):
        ik.compare(np.zeros(1), np.zeros(1, np.complex128))
