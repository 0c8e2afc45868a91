"""INT8 GEMM: group-interleaved packing and two register-tiled microkernels written in LLVM IR.

Both microkernels compute an ``MR x NR`` block of int32 sums of unsigned A times signed B and
keep it in registers (phi nodes of one IR loop). Each 32-bit lane of an accumulator is one output
column and adds, per step, the products of one *group* of consecutive k: 4 k of bytes, or 2 k
of 16-bit values. Which kernel runs follows from the packed dtype:

* **VNNI** (uint8 A, int8 B; groups of 4): one ``vpdpbusd`` per accumulator and step, 512-bit
  (AVX-512 VNNI, 6 x 64 blocks) or, on a target with AVX-VNNI but not AVX-512, 256-bit (6 x 16
  blocks); the width is the JIT target's, fixed for the process. Compiling it for a target
  without the feature would be a fatal LLVM error that Python cannot catch, so it refuses to
  type unless the JIT target has avx512f, avx512bw and avx512vnni, or avxvnni.
* **Pairs** (int16 A and B holding the same byte values; groups of 2): target-independent IR,
  ``sext``, ``mul`` and an add of the even and odd products, which the x86 back end compiles to
  one ``vpmaddwd`` (SSE2/AVX2/AVX-512) or ``vpdpwssd`` (AVX-VNNI, AVX-512 VNNI) per accumulator
  and step: 2 products per 32-bit lane. The portable path every host runs. Products
  (|a| <= 255, |b| <= 128) and pair sums are exact in int32; accumulation wraps modulo 2**32.

Packed layouts (K zero-padded to whole groups, rows and columns to whole blocks; zeros add
nothing). A group occupies 4 bytes per row or column:

* A: ``[row block][group][MR][G]``: uint8 values (int8 A stored as ``a ^ 0x80``);
* B: ``[column block][group][NR][G]``: int8 values (uint8 B stored as ``b ^ 0x80``).

The offsets 128 go into the zero points; the raw sums then go through the shared epilogue
(``gemm_int8.finish_block``: zero points by row/column sums, bias, requantization).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from .bits import copy_64_bytes
from .gemm_int8 import column_terms, finish_block
from .jit import kernel
from .register_tile import accumulate, array_data, broadcast, load_vector, register_blocking
from .target import jit_cpu_features

__all__ = ["MR", "PAIR_COLUMNS", "VNNI_BITS", "VNNI_COLUMNS", "VNNI_FEATURES", "gemm_packed_tile", "group_size",
           "pack_a_groups", "pack_b_groups", "pack_patches_groups"]

MR = 6  # rows per microkernel block, both kernels


def _vnni_form(features: frozenset[str]) -> tuple[frozenset[str], int, int]:
    """(features it needs, lanes, vectors) of the VNNI kernel for a JIT target: 512-bit
    ``vpdpbusd`` (AVX-512 VNNI, 6 x 4 zmm accumulators) where the target has it, else the 256-bit
    VEX form (AVX-VNNI, 6 x 2 ymm accumulators of its 16 registers); the 512-bit needs when it
    has neither."""
    avx512 = frozenset({"avx512f", "avx512bw", "avx512vnni"})
    if avx512 <= features or "avxvnni" not in features:
        return avx512, 16, 4
    return frozenset({"avxvnni"}), 8, 2


VNNI_FEATURES, _VNNI_LANES, _VNNI_VECTORS = _vnni_form(jit_cpu_features())
VNNI_COLUMNS = _VNNI_LANES * _VNNI_VECTORS  # NR of the VNNI kernel: 64 (AVX-512) or 16 (AVX-VNNI)
VNNI_BITS = 32 * _VNNI_LANES  # vector width of the VNNI kernel
_PAIR_LANES, _PAIR_ROWS, _PAIR_VECTORS = register_blocking(jit_cpu_features())
assert _PAIR_ROWS == MR
PAIR_COLUMNS = _PAIR_LANES * _PAIR_VECTORS  # NR of the pairs kernel: 64 (AVX-512), 16 (AVX), 8


def group_size(dtype) -> int:
    """k per group for a packed dtype: 4 (bytes) or 2 (int16)."""
    return 4 // np.dtype(dtype).itemsize


@kernel(inline="always")
def _layout(packed):
    """(k per group, NR) of the kernel that reads ``packed``; a constant for each dtype."""
    if packed.itemsize == 1:
        return 4, VNNI_COLUMNS
    return 2, PAIR_COLUMNS


def _vnni_step(builder, a_base, b_base, quad, accumulators):
    i32, i64 = ir.IntType(32), ir.IntType(64)
    vector = ir.VectorType(i32, _VNNI_LANES)
    # One LLVM intrinsic per width; the back end encodes the 256-bit one as {vex} vpdpbusd (AVX-VNNI).
    dot = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3),
                                         f"llvm.x86.avx512.vpdpbusd.{VNNI_BITS}")
    b_quad = builder.gep(b_base, [builder.mul(quad, ir.Constant(i64, VNNI_COLUMNS * 4))])
    b_vectors = [load_vector(builder, b_quad, 4 * _VNNI_LANES * v, vector, align=1) for v in range(_VNNI_VECTORS)]
    a_quad = builder.gep(a_base, [builder.mul(quad, ir.Constant(i64, MR * 4))])
    updated = []
    for r in range(MR):
        four_bytes = builder.load(builder.bitcast(builder.gep(a_quad, [ir.Constant(i64, 4 * r)]), i32.as_pointer()),
                                  align=1)
        a_value = broadcast(builder, four_bytes, vector)
        for v in range(_VNNI_VECTORS):  # operand order: accumulator, unsigned bytes, signed bytes
            updated.append(builder.call(dot, [accumulators[r * _VNNI_VECTORS + v], a_value, b_vectors[v]]))
    return updated


def _pairs_step(builder, a_base, b_base, pair, accumulators):
    i16, i32, i64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
    lanes = _PAIR_LANES
    halves = ir.VectorType(i16, 2 * lanes)  # lanes x (k even, k odd)
    wide = ir.VectorType(i32, 2 * lanes)
    vector = ir.VectorType(i32, lanes)
    even = ir.Constant(vector, list(range(0, 2 * lanes, 2)))
    odd = ir.Constant(vector, list(range(1, 2 * lanes, 2)))
    b_pair = builder.gep(b_base, [builder.mul(pair, ir.Constant(i64, PAIR_COLUMNS * 2))])
    b_vectors = [builder.sext(load_vector(builder, b_pair, 2 * lanes * v, halves, align=2), wide)
                 for v in range(_PAIR_VECTORS)]
    a_pair = builder.gep(a_base, [builder.mul(pair, ir.Constant(i64, MR * 2))])
    updated = []
    for r in range(MR):
        two_values = builder.load(builder.bitcast(builder.gep(a_pair, [ir.Constant(i64, 2 * r)]), i32.as_pointer()),
                                  align=2)
        a_value = builder.sext(builder.bitcast(broadcast(builder, two_values, vector), halves), wide)
        for v in range(_PAIR_VECTORS):
            # This shape (products of the whole vectors, then even + odd) is what the x86 back end
            # matches to vpmaddwd; the accumulation wraps like the hardware's.
            products = builder.mul(a_value, b_vectors[v], flags=["nsw"])
            pair_sums = builder.add(builder.shuffle_vector(products, ir.Constant(wide, ir.Undefined), even),
                                    builder.shuffle_vector(products, ir.Constant(wide, ir.Undefined), odd),
                                    flags=["nsw"])
            updated.append(builder.add(accumulators[r * _PAIR_VECTORS + v], pair_sums))
    return updated


@intrinsic
def _microkernel(typingctx, a_packed, a_offset, b_packed, b_offset, groups, add_to_sums, sums, sums_offset):
    """One MR x NR block: ``sums[sums_offset:][:MR * NR]`` (int32, row-major MR x NR) = S + the sums
    over ``groups`` groups of packed A (from element a_offset) times packed B (from element
    b_offset), where S is the block's previous value if ``add_to_sums``, else 0. The VNNI kernel
    for uint8 A and int8 B, the pairs kernel for int16 A and B."""
    dtypes = (getattr(a_packed, "dtype", None), getattr(b_packed, "dtype", None))
    if dtypes == (types.uint8, types.int8):
        missing = VNNI_FEATURES - jit_cpu_features()
        if missing:
            raise TypingError(f"the JIT target lacks {sorted(missing)}: the VNNI microkernel cannot be compiled")
        step, lanes, vectors = _vnni_step, _VNNI_LANES, _VNNI_VECTORS
    elif dtypes == (types.int16, types.int16):
        step, lanes, vectors = _pairs_step, _PAIR_LANES, _PAIR_VECTORS
    else:
        return None
    if not (isinstance(sums, types.Array) and sums.dtype == types.int32 and sums.layout == "C"):
        return None

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vector = ir.VectorType(i32, lanes)
        a_off, b_off, count, s_off = (context.cast(builder, args[i], signature.args[i], types.int64)
                                      for i in (1, 3, 4, 7))
        a_base = builder.gep(array_data(context, builder, signature.args[0], args[0]), [a_off])
        b_base = builder.gep(array_data(context, builder, signature.args[2], args[2]), [b_off])
        block = builder.gep(array_data(context, builder, signature.args[6], args[6]), [s_off])
        zero = ir.Constant(vector, [0] * lanes)
        offsets = [r * lanes * vectors + v * lanes for r in range(MR) for v in range(vectors)]
        initial = [builder.select(args[5], load_vector(builder, block, offset, vector, align=4), zero)
                   for offset in offsets]
        totals = accumulate(builder, count, initial,
                            lambda group, accumulators: step(builder, a_base, b_base, group, accumulators), "int8_micro")
        for offset, total in zip(offsets, totals):
            target = builder.bitcast(builder.gep(block, [ir.Constant(i64, offset)]), vector.as_pointer())
            builder.store(total, target, align=4)
        return context.get_dummy_value()

    return types.void(a_packed, a_offset, b_packed, b_offset, groups, add_to_sums, sums, sums_offset), codegen


@kernel(inline="always")
def _scatter_row(row_words, i, groups, block, group_words, words):
    """Row i of packed A, ``groups`` groups of ``group_words`` words each, to its place in the layout
    ``[row block][group][block][group_words]`` of ``words``."""
    first = (i // block) * groups * block * group_words + (i % block) * group_words
    if group_words == 1:  # the common case, as its own loop (a strided copy)
        for g in range(groups):
            words[first + g * block] = row_words[g]
    else:  # unsigned offsets: no negative-index tests, so the copy of each group vectorises
        for g in range(groups):
            to = np.uint64(first + g * block * group_words)
            at = np.uint64(g * group_words)
            for w in range(group_words):
                words[to + np.uint64(w)] = row_words[at + np.uint64(w)]


@kernel
def pack_a_groups(a, flip, row_lo, row_hi, group, block, packed, row_sums):
    """Rows [row_lo, row_hi) of packed A from A [M, K] into ``packed`` (flat, C-contiguous uint8,
    int8 or int16; each value ``a ^ flip``) in the layout ``[row block][group][block][group]``:
    ``group`` consecutive k of a row (a whole number of 32-bit words) side by side, ``block`` rows
    per block; and ``row_sums`` (int32 sums of the packed rows, read as ``packed``'s dtype).
    ``row_lo`` is a multiple of ``block``; rows from M on (padding) are zeros. Every value of
    these rows is written, so ``packed`` may start uninitialised.

    Each row is converted into a contiguous scratch row first (a vectorised loop), then copied one
    group (whole 32-bit words) at a time to its place in the row block."""
    rows, depth = a.shape
    groups = (depth + group - 1) // group
    words = packed.view(np.uint32)  # one word per (row, group)
    row = np.zeros(groups * group, packed.dtype)  # K padded with zeros to whole groups
    row_words = row.view(np.uint32)
    for i in range(row_lo, row_hi):
        total = np.int32(0)
        if i < rows:
            source = a[i]
            for k in range(depth):
                at = np.uint64(k)
                row[at] = np.uint8(np.uint8(source[at]) ^ flip)
                total = np.int32(total + np.int32(row[at]))  # as packed: signed for int8
        else:
            row[:] = 0
        row_sums[i] = total
        _scatter_row(row_words, i, groups, block, group * packed.itemsize // 4, words)


@kernel(inline="always")
def _b_row(k, inner, positions):
    """The row of B that packed k comes from: k = s * inner + c reads row c * positions + s."""
    return (k % inner) * positions + k // inner


def _interleave(builder, first, second, lanes: int):
    """``[first[0], second[0], first[1], second[1], ...]``: two vectors of ``lanes`` lanes zipped."""
    mask = ir.Constant(ir.VectorType(ir.IntType(32), 2 * lanes), [v for c in range(lanes) for v in (c, lanes + c)])
    return builder.shuffle_vector(first, second, mask)


@intrinsic
def _pack_16_quads(typingctx, packed, byte_offset, row0, row1, row2, row3, at, flip, col_sums, sums_at):
    """16 columns of one 4-byte group of packed B in a few vector instructions: bytes ``at`` ..
    ``at + 16`` of the rows ``row0`` .. ``row3`` (k, k + 1, k + 2, k + 3; int8 or uint8), each
    ``^ flip``, stored interleaved as 16 words ``[row0[c], row1[c], row2[c], row3[c]]`` at byte
    ``byte_offset`` of ``packed``; their signed sums added to ``col_sums[sums_at:sums_at + 16]``.
    The scalar loop of ``pack_b_groups`` does the same one column at a time (LLVM does not turn
    it into these shuffles)."""
    rows = (row0, row1, row2, row3)
    if not all(isinstance(r, types.Array) and r.dtype in (types.int8, types.uint8) and r.ndim == 1 for r in rows):
        return None
    if not (isinstance(packed, types.Array) and isinstance(col_sums, types.Array) and col_sums.dtype == types.int32):
        return None

    def codegen(context, builder, signature, args):
        i8, i16, i32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
        bytes16 = ir.VectorType(i8, 16)
        at_, offset, sums_offset = (context.cast(builder, args[i], signature.args[i], types.int64) for i in (6, 1, 9))
        flips = broadcast(builder, builder.trunc(context.cast(builder, args[7], signature.args[7], types.uint8), i8),
                          bytes16)
        values = []
        for r in range(4):
            data = builder.bitcast(array_data(context, builder, signature.args[2 + r], args[2 + r]), i8.as_pointer())
            values.append(builder.xor(load_vector(builder, data, at_, bytes16, 1), flips))
        pairs = [builder.bitcast(_interleave(builder, values[q], values[q + 1], 16), ir.VectorType(i16, 16))
                 for q in (0, 2)]
        words = builder.bitcast(_interleave(builder, pairs[0], pairs[1], 16), ir.VectorType(i8, 64))
        base = builder.bitcast(array_data(context, builder, signature.args[0], args[0]), i8.as_pointer())
        builder.store(words, builder.bitcast(builder.gep(base, [offset]), words.type.as_pointer()), align=1)
        lanes = ir.VectorType(i32, 16)
        total = builder.sext(values[0], lanes)
        for v in values[1:]:
            total = builder.add(total, builder.sext(v, lanes))
        sums = builder.gep(array_data(context, builder, signature.args[8], args[8]), [sums_offset])
        sums = builder.bitcast(sums, lanes.as_pointer())
        builder.store(builder.add(builder.load(sums, align=4), total), sums, align=4)
        return context.get_dummy_value()

    return types.void(packed, byte_offset, row0, row1, row2, row3, at, flip, col_sums, sums_at), codegen


@kernel
def pack_b_groups(b, positions, flip, col_lo, col_hi, columns, padded_depth, block_pad, packed, col_sums):
    """Columns [col_lo, col_hi) of packed B from B [K, N] into ``packed`` (flat, C-contiguous int8
    or int16) in the layout ``[column block][group][columns][G]``, G = 4 bytes of k per column and
    group, ``columns`` per block, K padded with zeros to ``padded_depth`` (a multiple of G), each
    block followed by ``block_pad`` zero bytes (a multiple of 4); and
    ``col_sums`` (int32 sums of the packed columns). With ``positions`` = P > 1 the K axis is
    transposed as [K / P, P] -> [P, K / P]: packed k = s * (K / P) + c holds row c * P + s of ``b``
    (a convolution's weights, rows (channel, kernel position), packed as (kernel position,
    channel)); P = 1 keeps the order. ``col_lo`` and ``col_hi`` are multiples of ``columns``;
    columns from N on (padding) are zeros. Every value of these columns is written, so ``packed``
    may start uninitialised.

    With blocks a multiple of 4 KiB apart, the stores of one group to every block of the range
    fall in one set of the L1 cache and evict each other: with a 64-byte ``block_pad``, AMX's
    blocks of 16 columns (16 KiB apart at K = 1024) packed in 0.85x the time at 1024 x 1024 and
    0.6x at 2048 x 2048 and 768 x 3072 (one thread, 3 runs alternating).

    Each column's group is one 32-bit word of the packed run, assembled by shifting every value
    into its place. Each row of B is read once, for all column blocks (a loop vectorised over
    columns when B's rows are contiguous, which the engine makes sure of)."""
    group = 4 // packed.itemsize
    bits = 32 // group
    mask = np.uint32((1 << bits) - 1)
    depth, cols = b.shape
    inner = depth // positions
    groups = padded_depth // group
    block_words = groups * columns + block_pad // 4  # from one column block to the next
    words = packed.view(np.uint32)
    valid_hi = max(col_lo, min(col_hi, cols))  # columns [col_lo, valid_hi) are B's; the rest is padding
    col_sums[col_lo:col_hi] = 0
    for j0 in range(col_lo, col_hi, columns):  # zeros: padding columns, and K padding groups
        width = max(0, min(columns, cols - j0))
        block = (j0 // columns) * block_words
        for g in range(groups):
            first = block + g * columns
            words[first + (width if group * g < depth else 0):first + columns] = 0
        words[block + groups * columns:block + block_words] = 0
    # Each group's rows read once for all blocks of the range, each word written once. Unsigned
    # offsets: numba then skips its negative-index tests and the loops vectorise.
    full_groups = depth // group
    for g in range(full_groups):
        k = group * g
        row0 = b[_b_row(k, inner, positions), col_lo:valid_hi]
        row1 = b[_b_row(k + 1, inner, positions), col_lo:valid_hi]
        row2, row3 = row0, row1  # used when a group is 4 bytes
        if group == 4:
            row2 = b[_b_row(k + 2, inner, positions), col_lo:valid_hi]
            row3 = b[_b_row(k + 3, inner, positions), col_lo:valid_hi]
        for j0 in range(col_lo, valid_hi, columns):
            offset = np.uint64(j0 - col_lo)
            first = np.uint64((j0 // columns) * block_words + g * columns)
            if group == 4 and columns % 16 == 0 and valid_hi - j0 >= columns:  # a whole block, 16 columns at a time
                for c in range(0, columns, 16):
                    _pack_16_quads(packed, 4 * (first + np.uint64(c)), row0, row1, row2, row3, offset + np.uint64(c),
                                   flip, col_sums, np.uint64(j0) + np.uint64(c))
                continue
            for c in range(min(columns, valid_hi - j0)):
                at = offset + np.uint64(c)
                v0 = np.int32(np.int8(np.uint8(row0[at]) ^ flip))
                v1 = np.int32(np.int8(np.uint8(row1[at]) ^ flip))
                if group == 4:
                    v2 = np.int32(np.int8(np.uint8(row2[at]) ^ flip))
                    v3 = np.int32(np.int8(np.uint8(row3[at]) ^ flip))
                    total = np.int32(v0 + v1 + v2 + v3)
                    word = ((np.uint32(v0) & mask) | ((np.uint32(v1) & mask) << np.uint32(8))
                            | ((np.uint32(v2) & mask) << np.uint32(16)) | ((np.uint32(v3) & mask) << np.uint32(24)))
                else:
                    total = np.int32(v0 + v1)
                    word = (np.uint32(v0) & mask) | ((np.uint32(v1) & mask) << np.uint32(16))
                j = np.uint64(j0) + np.uint64(c)
                col_sums[j] = np.int32(col_sums[j] + total)
                words[first + np.uint64(c)] = word
    if full_groups * group < depth:  # the last, partial group: its missing rows are zeros
        g = full_groups
        for t in range(depth - group * g):
            k = group * g + t
            row = b[_b_row(k, inner, positions), col_lo:valid_hi]
            shift = np.uint32(bits * t)
            for j0 in range(col_lo, valid_hi, columns):
                offset = np.uint64(j0 - col_lo)
                first = np.uint64((j0 // columns) * block_words + g * columns)
                for c in range(min(columns, valid_hi - j0)):
                    value = np.int8(np.uint8(row[offset + np.uint64(c)]) ^ flip)
                    j = np.uint64(j0) + np.uint64(c)
                    col_sums[j] = np.int32(col_sums[j] + np.int32(value))
                    word = (np.uint32(np.int32(value)) & mask) << shift
                    where = first + np.uint64(c)
                    words[where] = word if t == 0 else words[where] | word


@kernel
def pack_patches_groups(image, flip, c_lo, channels, kernel_h, kernel_w, stride_h, stride_w, dil_h, dil_w, out_h,
                        out_w, pixels, first, row_lo, row_hi, group, block, packed, row_sums):
    """Rows [row_lo, row_hi) of packed A for a convolution (implicit im2col), as ``pack_a_groups``
    does for a matrix. Row r is output pixel ``p = first + r = (n * out_h + oh) * out_w + ow`` (rows
    from ``pixels`` on are zeros); its k = (i * kernel_w + j) * channels + c holds
    ``image[n, oh * stride_h + i * dil_h, ow * stride_w + j * dil_w, c_lo + c]``, with ``image`` the
    input in NHWC order, already padded (with the input zero point). Each of a row's
    kernel_h * kernel_w runs of ``channels`` values is contiguous in ``image``.

    Groups of 64 bytes (AMX) with whole groups per run and nothing to flip are copied straight
    from the image into place, one vector move each; otherwise a row is assembled in a scratch
    row and then scattered."""
    depth = kernel_h * kernel_w * channels
    groups = (depth + group - 1) // group
    words = packed.view(np.uint32)
    row = np.zeros(groups * group, packed.dtype)
    row_words = row.view(np.uint32)
    plane = out_h * out_w
    _, padded_h, padded_w, all_channels = image.shape
    flat = image.reshape(-1)
    vector_runs = group * packed.itemsize == 64 and channels % 64 == 0 and flip == 0 and flat.dtype == packed.dtype
    for r in range(row_lo, row_hi):
        p = first + r
        total = np.int32(0)
        if p < pixels:
            n = p // plane
            oh = (p % plane) // out_w
            ow = p % out_w
            k = np.uint64(0)
            to = (r // block) * groups * block * 64 + (r % block) * 64  # vector runs: the row's group 0, in bytes
            for i in range(kernel_h):
                y = oh * stride_h + i * dil_h
                for j in range(kernel_w):
                    x = ow * stride_w + j * dil_w
                    # Unsigned offsets: numba then skips its negative-index test and the copy vectorises.
                    run = np.uint64(((n * padded_h + y) * padded_w + x) * all_channels + c_lo)
                    if vector_runs:
                        for c in range(channels):
                            total = np.int32(total + np.int32(flat[run + np.uint64(c)]))
                        for q in range(channels // 64):
                            copy_64_bytes(packed, to, flat, run + np.uint64(q * 64))
                            to += block * 64
                    else:
                        for c in range(channels):
                            at = k + np.uint64(c)
                            row[at] = np.uint8(np.uint8(flat[run + np.uint64(c)]) ^ flip)
                            total = np.int32(total + np.int32(row[at]))  # as packed: signed for int8
                        k += np.uint64(channels)
        else:
            row[:] = 0
        row_sums[r] = total
        if not (vector_runs and p < pixels):
            _scatter_row(row_words, r, groups, block, group * packed.itemsize // 4, words)


@kernel
def gemm_packed_tile(a_packed, b_packed, depth, k_tile, row_sums, col_sums, a_zero_point, b_zero_points, bias, mode,
                     multipliers, quantized_multipliers, shifts, y_zero_point, low, high, rows, cols,
                     row_lo, row_hi, col_lo, col_hi, sums, out):
    """out[row_lo:row_hi, col_lo:col_hi] from packed A and B; ``row_lo``/``col_lo`` are multiples
    of MR/NR, ``k_tile`` a multiple of 4. ``sums`` is int32 [>= row_hi - row_lo, NR] scratch of the
    calling thread (rows rounded up to MR).

    For each column block of NR columns, K is cut into tiles of ``k_tile``: the block's slice of
    packed B for one K tile (NR x k_tile values) stays in L1 while every row block of the tile
    adds its products into its rows of ``sums``; after the last K tile the epilogue finishes the
    column block's rows."""
    group, columns = _layout(a_packed)
    groups = (depth + group - 1) // group
    tile_groups = k_tile // group
    a_block = groups * MR * group
    b_block = groups * columns * group
    terms = np.empty(columns, np.int32)
    for j in range(col_lo, col_hi, columns):
        for g0 in range(0, max(groups, 1), tile_groups):  # K = 0: one empty tile, sums of zero
            count = min(tile_groups, groups - g0)
            for i in range(row_lo, row_hi, MR):
                _microkernel(a_packed, (i // MR) * a_block + g0 * MR * group, b_packed,
                             (j // columns) * b_block + g0 * columns * group, count, g0 > 0, sums,
                             (i - row_lo) * columns)
        width = min(columns, cols - j)
        column_terms(terms, j, width, depth, a_zero_point, col_sums, b_zero_points, bias)
        finish_block(sums, row_lo, min(row_hi, rows), j, width, row_sums, terms, b_zero_points, mode, multipliers,
                     quantized_multipliers, shifts, y_zero_point, low, high, out, 0, 0)
