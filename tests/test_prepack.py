"""ops.prepack: packed once, accepted wherever the weight operand is, same results."""

from __future__ import annotations

import numpy as np
import pytest

import inferentia_kernels as ik
from inferentia_kernels.kernels import isa
from inferentia_kernels.ops import _checks, _int8_engine


@pytest.fixture(params=isa.available_paths())
def path(request, monkeypatch):
    monkeypatch.setattr(_int8_engine, "_active", _int8_engine._BACKENDS[request.param])
    return request.param


def test_matmul_ops_accept_prepacked_weights(path):
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (2, 9, 70), dtype=np.int8)
    b = rng.integers(0, 256, (70, 130), dtype=np.uint8)
    packed = ik.ops.prepack(b)
    zb = rng.integers(0, 256, 130)
    np.testing.assert_array_equal(ik.ops.matmul_integer(a, packed, 5, zb), ik.ops.matmul_integer(a, b, 5, zb))
    np.testing.assert_array_equal(ik.ops.matmul_integer(a[0, :2], packed, 5, zb), ik.ops.matmul_integer(a[0, :2], b, 5, zb))
    a_qp, b_qp, y_qp = ik.QParams(0.1, 5, np.int8), ik.QParams(0.01, 120, np.uint8), ik.QParams(0.5, 3, np.uint8)
    for mode in ("float", "fixed_point", "fixed_point_single"):
        np.testing.assert_array_equal(ik.ops.qlinear_matmul(a, a_qp, packed, b_qp, y_qp, mode=mode),
                                      ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, mode=mode))


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_ops_accept_prepacked_weights(path, groups):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (2, 4, 7, 6), dtype=np.uint8)
    w = rng.integers(-128, 128, (6, 4 // groups, 3, 3), dtype=np.int8)
    packed = ik.ops.prepack(w)
    np.testing.assert_array_equal(ik.ops.conv_integer(x, packed, 9, padding=1, groups=groups),
                                  ik.ops.conv_integer(x, w, 9, padding=1, groups=groups))
    x_qp, w_qp, y_qp = ik.QParams(0.1, 9, np.uint8), ik.QParams([0.01] * 6, 0, np.int8, axis=0), ik.QParams(2.0, 0, np.int8)
    np.testing.assert_array_equal(ik.ops.qlinear_conv(x, x_qp, packed, w_qp, y_qp, padding=1, groups=groups),
                                  ik.ops.qlinear_conv(x, x_qp, w, w_qp, y_qp, padding=1, groups=groups))
    assert (path, groups) in packed._packed  # packed once for this path and grouping, then reused


def test_packing_happens_once_and_weights_are_copied():
    b = np.ones((64, 64), np.int8)
    packed = ik.ops.prepack(b)
    first = packed.matrices()[0]
    b[:] = 2  # the caller's array changes; the packed weights do not
    assert packed.matrices()[0] is first
    np.testing.assert_array_equal(ik.ops.matmul_integer(np.ones((8, 64), np.int8), packed), np.full((8, 64), 64))
    assert not packed.weights.flags.writeable
    assert packed.matrices()[0].packed.ctypes.data % 64 == 0  # cache-line aligned
    assert ik.ops.prepack(packed) is packed


def test_repeated_calls_reuse_the_product_and_others_get_their_own(path, monkeypatch):
    """Prepacked weights keep their product with a call's zero points and epilogue: a call that
    repeats them (per-tensor zero points, int32 results) builds none, and every call whose A
    dtype, zero points, results or streaming differ gets the reference's results, never a kept
    product of another call. The per-column zero points shared between calls stay as they were."""
    from inferentia_kernels.reference.matmul_integer import matmul_integer as reference

    rng = np.random.default_rng(5)
    a_u8 = rng.integers(0, 256, (70, 100), dtype=np.uint8)
    a_s8 = rng.integers(-128, 128, (70, 100), dtype=np.int8)
    b = rng.integers(-128, 128, (100, 90), dtype=np.int8)
    packed = ik.ops.prepack(b)
    built = []
    product = _int8_engine._Product
    monkeypatch.setattr(_int8_engine, "_Product", lambda *args: built.append(args) or product(*args))
    zb_column = rng.integers(-128, 128, 90).astype(np.int8)
    calls = [(a_u8, 3, 0), (a_u8, 3, 0), (a_u8, 4, 0), (a_s8, 3, 0), (a_u8, 3, 7), (a_u8, 3, zb_column), (a_u8, 3, 0)]
    for a, za, zb in calls:
        np.testing.assert_array_equal(ik.ops.matmul_integer(a, packed, za, zb), reference(a, b, za, zb))
    assert len(built) == len(calls) - 2  # the second and the last call took the first one's product
    monkeypatch.setattr(_int8_engine, "STREAM_BYTES", 0)  # a product that streams its results
    np.testing.assert_array_equal(ik.ops.matmul_integer(a_u8, packed, 3), reference(a_u8, b, 3, 0))
    assert len(built) == len(calls) - 1
    a_qp, b_qp, y_qp = ik.QParams(0.1, 3, np.uint8), ik.QParams(0.01, 0, np.int8), ik.QParams(0.5, 3, np.uint8)
    expected = ik.ops.qlinear_matmul(a_u8, a_qp, b, b_qp, y_qp)
    np.testing.assert_array_equal(ik.ops.qlinear_matmul(a_u8, a_qp, packed, b_qp, y_qp), expected)
    assert (_checks._per_column(90, 0) == 0).all() and (_checks._per_column(90, 7) == 7).all()


def test_bad_input():
    with pytest.raises(TypeError, match="prepack: b must be an int8 or uint8 array"):
        ik.ops.prepack(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="prepack: b must be a 2-D matrix"):
        ik.ops.prepack(np.ones((2, 4, 4), np.int8))
    packed = ik.ops.prepack(np.ones((4, 4), np.int8))
    with pytest.raises(TypeError, match="matmul_integer: a must be an int8 or uint8 array"):
        ik.ops.matmul_integer(packed, packed)
    with pytest.raises(ValueError, match="matmul_integer: b must be"):
        ik.ops.matmul_integer(np.ones((2, 5), np.int8), packed)
    conv_weights = ik.ops.prepack(np.ones((2, 1, 3, 3), np.int8))
    with pytest.raises(ValueError, match="matmul_integer: b must be a prepacked 2-D matrix"):
        ik.ops.matmul_integer(np.ones((2, 2), np.int8), conv_weights)
    with pytest.raises(ValueError, match="conv_integer: w must be a 4-D OIHW array"):
        ik.ops.conv_integer(np.ones((1, 1, 4, 4), np.int8), packed)
