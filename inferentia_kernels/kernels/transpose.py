"""Blocked 2-D transposes between flat arrays: the layout changes of the integer convolutions.

A scalar transpose reads or writes one element per instruction at a stride, and LLVM does not
vectorise it. Here 16 x 16 blocks are loaded as 16 vectors, transposed in registers by four
rounds of interleaving (``punpck``-style shuffles for bytes, ``vpermt2d`` for 32-bit values) and
stored as 16 vectors.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .jit import kernel
from .register_tile import array_data, load_vector

__all__ = ["BLOCK", "transpose_copy"]

BLOCK = 16
_LOW = [lane for i in range(BLOCK // 2) for lane in (i, BLOCK + i)]
_HIGH = [lane for i in range(BLOCK // 2, BLOCK) for lane in (i, BLOCK + i)]


@intrinsic
def _transpose_block(typingctx, src, src_first, src_stride, dst, dst_first, dst_stride, cols):
    """``dst[dst_first + c * dst_stride + r] = src[src_first + r * src_stride + c]`` for r < 16 and
    c < cols <= 16, without bounds checks (``transpose_copy`` checks them); 16 elements of each
    source row are read whatever ``cols``. Each round interleaves row i with row i + 8 (elements
    0-7, then 8-15); four rounds rotate the 4 + 4 index bits into a transpose."""
    arrays_ok = all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in (src, dst))
    if not arrays_ok or src.dtype != dst.dtype or not isinstance(src.dtype, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vector = ir.VectorType(ir.IntType(signature.args[0].dtype.bitwidth), BLOCK)
        src_off, src_step, dst_off, dst_step, count = (context.cast(builder, args[i], signature.args[i], types.int64)
                                                       for i in (1, 2, 4, 5, 6))
        source = builder.gep(array_data(context, builder, signature.args[0], args[0]), [src_off])
        target = builder.gep(array_data(context, builder, signature.args[3], args[3]), [dst_off])
        rows = [load_vector(builder, source, builder.mul(src_step, ir.Constant(i64, r)), vector, align=1)
                for r in range(BLOCK)]
        low, high = (ir.Constant(ir.VectorType(i32, BLOCK), lanes) for lanes in (_LOW, _HIGH))
        for _ in range(4):
            half = BLOCK // 2
            rows = [builder.shuffle_vector(rows[i], rows[i + half], lanes) for i in range(half) for lanes in (low, high)]
        for c, row in enumerate(rows):
            with builder.if_then(builder.icmp_signed(">", count, ir.Constant(i64, c)), likely=True):
                address = builder.gep(target, [builder.mul(dst_step, ir.Constant(i64, c))])
                builder.store(row, builder.bitcast(address, vector.as_pointer()), align=1)
        return context.get_dummy_value()

    return types.void(src, src_first, src_stride, dst, dst_first, dst_stride, cols), codegen


@kernel(inline="always")
def _block_start(size, index):
    """Start of block ``index`` along an axis of ``size`` elements: steps of 16, the last block
    moved back to end at ``size`` (it overlaps its neighbour, which a copy allows), and 0 when
    the axis is shorter than a block."""
    return max(0, min(index * BLOCK, size - BLOCK))


@kernel
def transpose_copy(src, src_first, src_stride, dst, dst_first, dst_stride, rows, cols):
    """``dst[dst_first + c * dst_stride + r] = src[src_first + r * src_stride + c]`` for r < rows and
    c < cols, between flat C-contiguous arrays of one integer dtype: a [rows, cols] block with row
    stride ``src_stride`` into its transpose with row stride ``dst_stride``.

    16 x 16 blocks in registers when ``rows`` is at least 16. When ``cols`` is smaller, a block
    reads 16 elements of each row (where that stays inside ``src``) and stores ``cols`` rows.
    Blocks go in passes of as many source rows as fill a cache line of each destination row
    (64 for bytes), across all columns, so that every destination line is written whole while it
    is in cache. Remaining rows go element by element. Raises ValueError when any element would
    fall outside either array."""
    if rows <= 0 or cols <= 0:
        return
    if (min(src_first, src_stride, dst_first, dst_stride) < 0
            or src_first + (rows - 1) * src_stride + cols > src.size
            or dst_first + (cols - 1) * dst_stride + rows > dst.size):
        raise ValueError("transpose_copy: the block does not fit in src or dst")
    row_blocks = (rows + BLOCK - 1) // BLOCK if rows >= BLOCK else 0
    readable = 0  # leading row blocks whose 16-element reads stay inside src
    while readable < row_blocks and (src_first + (_block_start(rows, readable) + BLOCK - 1) * src_stride
                                     + max(cols, BLOCK) <= src.size):
        readable += 1
    per_pass = max(1, 64 // (BLOCK * src.itemsize))
    for first_block in range(0, readable, per_pass):
        for cb in range((cols + BLOCK - 1) // BLOCK):
            c = _block_start(cols, cb)
            for rb in range(first_block, min(first_block + per_pass, readable)):
                r = _block_start(rows, rb)
                _transpose_block(src, src_first + r * src_stride + c, src_stride, dst,
                                 dst_first + c * dst_stride + r, dst_stride, min(cols, BLOCK))
    done = _block_start(rows, readable - 1) + BLOCK if readable else 0  # rows [0, done) are copied
    for r in range(done, rows):
        for c in range(cols):
            dst[dst_first + c * dst_stride + r] = src[src_first + r * src_stride + c]
