"""ops.prepack: packed once, accepted wherever the weight operand is, same results."""

from __future__ import annotations

import numpy as np
import pytest

import inferentia_kernels as ik
from inferentia_kernels.kernels import isa
from inferentia_kernels.ops import _int8_engine


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
