"""The blocked transpose (kernels/transpose.py) against numpy: every element of the block moved,
nothing outside it written, nothing outside either array read or written."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inferentia_kernels.kernels.transpose import transpose_copy

DTYPES = [np.uint8, np.int8, np.int16, np.int32]
SENTINEL = 77


def expected(src, src_first, src_stride, dst, dst_first, dst_stride, rows, cols):
    out = dst.copy()
    for r in range(rows):
        for c in range(cols):
            out[dst_first + c * dst_stride + r] = src[src_first + r * src_stride + c]
    return out


@given(
    dtype=st.sampled_from(DTYPES),
    rows=st.integers(1, 70),
    cols=st.integers(1, 70),
    src_extra=st.integers(0, 20),
    dst_extra=st.integers(0, 20),
    src_first=st.integers(0, 40),
    dst_first=st.integers(0, 40),
    tail=st.integers(0, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_numpy(dtype, rows, cols, src_extra, dst_extra, src_first, dst_first, tail, seed):
    # ``tail`` 0 ends src right after the block: narrow blocks (cols < 16) must not read past it
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    src_stride, dst_stride = cols + src_extra, rows + dst_extra
    src = rng.integers(info.min, info.max, src_first + (rows - 1) * src_stride + cols + tail, dtype=dtype,
                       endpoint=True)
    dst = np.full(dst_first + (cols - 1) * dst_stride + rows + tail, SENTINEL, dtype)
    want = expected(src, src_first, src_stride, dst, dst_first, dst_stride, rows, cols)
    transpose_copy(src, src_first, src_stride, dst, dst_first, dst_stride, rows, cols)
    np.testing.assert_array_equal(dst, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("rows", "cols"), [(16, 16), (3136, 64), (64, 3136), (256, 14), (49, 512), (17, 1)])
def test_layer_shapes(dtype, rows, cols):
    """Shapes of the convolutions' layout changes, whole and with both strides padded."""
    rng = np.random.default_rng(rows * cols)
    matrix = rng.integers(-100, 100, (rows, cols + 3)).astype(dtype)
    dst = np.full((cols, rows + 5), SENTINEL, dtype)
    transpose_copy(matrix.reshape(-1), 0, cols + 3, dst.reshape(-1), 0, rows + 5, rows, cols)
    np.testing.assert_array_equal(dst[:, :rows], matrix[:, :cols].T)
    assert (dst[:, rows:] == SENTINEL).all()


@pytest.mark.parametrize(
    ("src_first", "dst_first", "rows", "cols", "src_size", "dst_size"),
    [
        (0, 0, 20, 20, 20 * 20 - 1, 400),  # src one element short
        (0, 0, 20, 20, 400, 399),  # dst one element short
        (-1, 0, 20, 20, 400, 400),  # negative offset
        (0, 5, 20, 20, 400, 400),  # dst block shifted past the end
    ],
)
def test_out_of_bounds_raises(src_first, dst_first, rows, cols, src_size, dst_size):
    src, dst = np.zeros(src_size, np.uint8), np.zeros(dst_size, np.uint8)
    with pytest.raises(ValueError, match="does not fit"):
        transpose_copy(src, src_first, cols, dst, dst_first, rows, rows, cols)
