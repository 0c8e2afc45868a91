"""Float GEMM in the tensor engine's accumulation order: a register-blocked microkernel in LLVM IR.

For every output element (i, j), K is cut into tiles of ``k_tile`` (128: the PE array's rows).
Inside a tile the products ``a[i, k] * b[k, j]`` are added in ascending k into a float32
partial that starts at +0.0; tile partials are added in ascending tile order into the float32
PSUM, which starts at +0.0; then ``+ bias[j]``, then the clamp of the activation.

The microkernel computes an ``MR x NR`` block of outputs over one K tile. Its ``MR * VECTORS``
accumulators are generic LLVM vectors ``<LANES x float>`` held in the phi nodes of one IR loop
(so they live in registers): for each k in ascending order it loads ``VECTORS`` vectors of packed
B (row k of the column panel), broadcasts ``a[i + r, k]`` for each of the ``MR`` rows and updates
every accumulator with ``acc + a * b``. Each lane is one output column and adds its own products
in exactly the order above: nothing is reassociated and no fast-math flag is set. After the tile,
each accumulator (the tile partial) is added into the MR x NR PSUM block in memory (L1): stored as
``+0.0 + partial`` after the first tile, ``psum + partial`` after the next ones. After the last
tile, ``_store_tile`` adds the bias, clamps and stores a whole block (edge blocks and outputs with
non-contiguous rows go through the same arithmetic in plain numba code).

``acc + a * b`` is one ``llvm.fma`` when the caller knows every product is exact in float32
(bf16/fp16 inputs, ``fused``): one rounding then equals the two of a multiply and an add. Otherwise
(fp32 inputs, or bf16 products outside float32's normal range) it is an ``fmul`` then an ``fadd``
without contraction flags, so the product is rounded first, as the contract requires.

The IR is target-independent; only the blocking depends on the JIT target's vector registers:
32 zmm registers with AVX-512 (16 lanes, 6 x 4 vectors: 24 accumulators, 4 of B, a broadcast and a
product), else 16 registers (8 lanes with AVX, 4 otherwise; 6 x 2 vectors: 12 accumulators).

Packed layouts (``pack_a_panels``, ``pack_b_panels``, which read any layout; padding rows and
columns are zeros, whose outputs are never stored): A per group of MR rows as [K][MR] float32, so
each k's MR values are contiguous and one K tile of a group is one contiguous run; B per column
panel of NR columns as [K][NR] float32, so each k's NR values are contiguous. The microkernel reads
B with any row stride, so a C-contiguous B can also be read in place (stride N).
"""

from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .bits import fma_f32
from .jit import kernel
from .register_tile import accumulate, array_data, broadcast, load_vector, register_blocking
from .target import jit_cpu_features

__all__ = ["LANES", "MR", "NR", "VECTORS", "gemm_float_tile", "pack_a_panels", "pack_b_panels"]


_FEATURES = jit_cpu_features()
LANES, MR, VECTORS = register_blocking(_FEATURES)
NR = LANES * VECTORS  # columns per microkernel tile (one packed panel of B)
#: Whether llvm.fma is a hardware instruction: an x86 target without FMA would call fmaf per lane.
_HARDWARE_FMA = bool({"fma", "avx512f"} & _FEATURES) or platform.machine().lower() not in (
    "x86_64", "amd64", "i386", "i686", "x86")


@kernel(inline="always")
def _add_product(fused, partial, a, b):
    """``partial + a * b``: fused when the caller knows the product is exact (bf16/fp16 inputs),
    where one rounding equals two; rounded twice otherwise (fp32 inputs: no fused multiply-add).
    ``fused`` is loop-invariant, so LLVM compiles one loop for each case. (Used by the depthwise
    convolution.)"""
    if fused:
        return fma_f32(a, b, partial)
    return partial + a * b


def _microkernel(fused: bool):
    """The microkernel intrinsic; ``fused``: multiply-adds are one ``llvm.fma`` (exact products)."""
    fuse = fused and _HARDWARE_FMA  # without hardware FMA, fmul + fadd gives the same bits

    @intrinsic
    def microkernel(typingctx, a_packed, a_offset, b, b_offset, b_stride, count, first, psum, psum_offset):
        """One K tile of an MR x NR block: for r < MR, c < NR,
        ``psum[psum_offset + r * NR + c] = P + partial``, where ``partial`` is the sum over k < ``count``,
        ascending, from +0.0, of ``a_packed[a_offset + k * MR + r] * b[b_offset + k * b_stride + c]``
        and ``P`` is +0.0 for the ``first`` tile, else the value already there."""
        for array in (a_packed, b, psum):
            if not (isinstance(array, types.Array) and array.dtype == types.float32 and array.layout == "C"):
                return None
        if not all(isinstance(index, types.Integer) for index in (a_offset, b_offset, b_stride, count, psum_offset)):
            return None
        if not isinstance(first, types.Boolean):
            return None

        def codegen(context, builder, signature, args):
            f32, i64 = ir.FloatType(), ir.IntType(64)
            vector = ir.VectorType(f32, LANES)
            a_off, b_off, b_ld, n_k, p_off = (
                context.cast(builder, args[i], signature.args[i], types.int64) for i in (1, 3, 4, 5, 8)
            )
            a_base = builder.gep(array_data(context, builder, signature.args[0], args[0]), [a_off])
            b_base = builder.gep(array_data(context, builder, signature.args[2], args[2]), [b_off])
            p_data = array_data(context, builder, signature.args[7], args[7])
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3),
                                                 f"llvm.fma.v{LANES}f32")
            zero = ir.Constant(vector, [0.0] * LANES)  # +0.0 in every lane

            def step(k, accumulators):
                b_row = builder.gep(b_base, [builder.mul(k, b_ld)])
                b_vectors = [load_vector(builder, b_row, LANES * v, vector, align=4) for v in range(VECTORS)]
                a_column = builder.gep(a_base, [builder.mul(k, ir.Constant(i64, MR))])
                updated = []
                for r in range(MR):
                    a_value = broadcast(builder, builder.load(builder.gep(a_column, [ir.Constant(i64, r)]), align=4),
                                        vector)
                    for v in range(VECTORS):
                        partial = accumulators[r * VECTORS + v]
                        if fuse:  # a * b + partial, one rounding
                            updated.append(builder.call(fma, [a_value, b_vectors[v], partial]))
                        else:  # the product rounded, then added (no contraction flags)
                            updated.append(builder.fadd(partial, builder.fmul(a_value, b_vectors[v])))
                return updated

            partials = accumulate(builder, n_k, [zero] * (MR * VECTORS), step, "float_micro")
            p_base = builder.gep(p_data, [p_off])
            targets = [
                builder.bitcast(builder.gep(p_base, [ir.Constant(i64, r * NR + v * LANES)]), vector.as_pointer())
                for r in range(MR) for v in range(VECTORS)
            ]
            with builder.if_else(args[6]) as (then, otherwise):
                with then:  # the PSUM starts at +0.0
                    for target, partial in zip(targets, partials):
                        builder.store(builder.fadd(zero, partial), target, align=4)
                with otherwise:  # PSUM + tile partial, in that operand order
                    for target, partial in zip(targets, partials):
                        builder.store(builder.fadd(builder.load(target, align=4), partial), target, align=4)
            return context.get_dummy_value()

        return types.void(a_packed, a_offset, b, b_offset, b_stride, count, first, psum, psum_offset), codegen

    return microkernel


_microkernel_fused = _microkernel(True)
_microkernel_rounded = _microkernel(False)


@intrinsic
def _store_tile(typingctx, psum, bias, bias_offset, low, high, out, out_offset, out_row_stride):
    """The epilogue of a whole MR x NR tile: for r < MR, c < NR, ``value = psum[r * NR + c] +
    bias[bias_offset + c]``; ``value < low`` gives ``low``, then ``value > high`` gives ``high``
    (a NaN stays); stored at ``out.data[out_offset + r * out_row_stride + c]`` (rows contiguous)."""
    for array in (psum, bias):
        if not (isinstance(array, types.Array) and array.dtype == types.float32 and array.layout == "C"):
            return None
    if not (isinstance(out, types.Array) and out.dtype == types.float32 and out.mutable):
        return None
    if not (low == high == types.float32):
        return None
    if not all(isinstance(index, types.Integer) for index in (bias_offset, out_offset, out_row_stride)):
        return None

    def codegen(context, builder, signature, args):
        f32, i64 = ir.FloatType(), ir.IntType(64)
        vector = ir.VectorType(f32, LANES)
        bias_off, out_off, out_ld = (context.cast(builder, args[i], signature.args[i], types.int64) for i in (2, 6, 7))
        p_data = array_data(context, builder, signature.args[0], args[0])
        bias_data = array_data(context, builder, signature.args[1], args[1])
        out_data = array_data(context, builder, signature.args[5], args[5])
        low_v, high_v = broadcast(builder, args[3], vector), broadcast(builder, args[4], vector)
        bias_base = builder.gep(bias_data, [bias_off])
        biases = [load_vector(builder, bias_base, v * LANES, vector, align=4) for v in range(VECTORS)]
        out_base = builder.gep(out_data, [out_off])
        for r in range(MR):
            out_row = builder.gep(out_base, [builder.mul(ir.Constant(i64, r), out_ld)])
            for v in range(VECTORS):
                value = builder.fadd(load_vector(builder, p_data, r * NR + v * LANES, vector, align=4), biases[v])
                value = builder.select(builder.fcmp_ordered("<", value, low_v), low_v, value)
                value = builder.select(builder.fcmp_ordered(">", value, high_v), high_v, value)
                target = builder.bitcast(builder.gep(out_row, [ir.Constant(i64, v * LANES)]), vector.as_pointer())
                builder.store(value, target, align=4)
        return context.get_dummy_value()

    return types.void(psum, bias, bias_offset, low, high, out, out_offset, out_row_stride), codegen


@kernel
def pack_a_panels(a, row_lo, row_hi, packed):
    """Rows [row_lo, row_hi) of A [M, K] (any layout) into ``packed`` (flat float32): the MR rows
    from i = g * MR at offset i * K as [K][MR], rows past M zero. ``row_lo`` is a multiple of MR."""
    rows, depth = a.shape
    zero = np.float32(0.0)
    for i in range(row_lo, row_hi, MR):
        group = packed[i * depth:(i + MR) * depth]
        if i + MR <= rows:
            for k in range(depth):  # MR rows read side by side, one contiguous run written
                for r in range(MR):
                    group[k * MR + r] = a[i + r, k]
        else:
            for k in range(depth):
                for r in range(MR):
                    group[k * MR + r] = a[i + r, k] if i + r < rows else zero


#: Rows of B per block when B's columns are contiguous (a transposed view): 64 x NR floats in L1.
_COLUMN_BLOCK = 64


@kernel
def pack_b_panels(b, col_lo, col_hi, packed):
    """Columns [col_lo, col_hi) of B [K, N] (any layout) into ``packed`` (flat float32) as panels of
    NR columns, each [K][NR]: the panel of columns col_lo + p * NR .. + NR at offset p * K * NR,
    columns past ``col_hi`` zero. B's rows are read contiguously when its rows are contiguous, else
    (e.g. a convolution's weights, the transpose of [O, K]) its columns, a block of k at a time."""
    depth = b.shape[0]
    zero = np.float32(0.0)
    by_columns = depth > 1 and abs(b.strides[0]) < abs(b.strides[1])
    for j0 in range(col_lo, col_hi, NR):
        width = min(NR, col_hi - j0)
        panel = packed[((j0 - col_lo) // NR) * depth * NR:((j0 - col_lo) // NR + 1) * depth * NR]
        if by_columns:
            for k0 in range(0, depth, _COLUMN_BLOCK):
                k1 = min(k0 + _COLUMN_BLOCK, depth)
                for c in range(width):
                    column = b[k0:k1, j0 + c]
                    for k in range(k1 - k0):
                        panel[(k0 + k) * NR + c] = column[k]
                for k in range(k0, k1):
                    for c in range(width, NR):
                        panel[k * NR + c] = zero
        else:
            for k in range(depth):
                row = b[k, j0:j0 + width]
                dest = panel[k * NR:(k + 1) * NR]
                for c in range(width):
                    dest[c] = row[c]
                for c in range(width, NR):
                    dest[c] = zero


@kernel
def gemm_float_tile(a_packed, rows, depth, b_main, b_stride, b_panel_step, edge_lo, b_edge, k_tile, row_lo, row_hi,
                    col_lo, col_hi, row_block, bias, low, high, fused, psum, out):
    """out[row_lo:min(row_hi, rows), col_lo:col_hi] = clamp(psum + bias, low, high) in the order above.

    ``a_packed`` holds A's rows (``pack_a_panels``) covering [row_lo, row_hi), ``row_lo`` a
    multiple of MR. B comes in two parts, both flat float32: the panel of columns j0 .. j0 + NR
    (j0 a multiple of NR from ``col_lo``) is read from ``b_main`` at offset
    ``(j0 // NR) * b_panel_step + k * b_stride`` when ``j0 < edge_lo``, else from ``b_edge`` at
    ``((j0 - edge_lo) // NR) * K * NR + k * NR`` (``pack_b_panels`` layout). So ``b_main`` is either
    packed panels (stride NR, step K * NR) or B itself, C-contiguous (stride N, step NR, with the
    last partial panel packed in ``b_edge``). ``bias`` [N]; ``low``/``high`` of -inf/+inf mean no
    clamp; a NaN passes through the clamp unchanged. ``fused``: every product is exact in float32
    (bf16/fp16 inputs), so multiply-adds may be fused. ``psum`` is float32 [MR * NR] scratch of the
    calling thread; ``row_block`` is a multiple of MR.

    Loops: blocks of ``row_block`` rows, then column panels (one panel of B, K x NR floats, stays
    in L2 while every row group of the block reads it; A streams), then groups of MR rows, then K
    tiles. For one group and panel the PSUM (MR x NR, in L1) starts at +0.0 and receives the tile
    partials in ascending tile order; then the epilogue stores the valid rows and columns only.
    """
    row_end = min(row_hi, rows)
    rows_contiguous = out.strides[1] == out.itemsize
    row_stride = out.strides[0] // out.itemsize
    for i0 in range(row_lo, row_end, row_block):
        i1 = min(i0 + row_block, row_end)
        for j0 in range(col_lo, col_hi, NR):
            width = min(NR, col_hi - j0)
            in_main = j0 < edge_lo
            b = b_main if in_main else b_edge
            panel = (j0 // NR) * b_panel_step if in_main else ((j0 - edge_lo) // NR) * depth * NR
            stride = b_stride if in_main else NR
            for i in range(i0, i1, MR):
                for t in range(0, depth, k_tile):
                    if fused:
                        _microkernel_fused(a_packed, i * depth + t * MR, b, panel + t * stride, stride,
                                           min(k_tile, depth - t), t == 0, psum, 0)
                    else:
                        _microkernel_rounded(a_packed, i * depth + t * MR, b, panel + t * stride, stride,
                                             min(k_tile, depth - t), t == 0, psum, 0)
                if depth == 0:  # no tile: the PSUM stays +0.0
                    for index in range(MR * NR):
                        psum[index] = np.float32(0.0)
                valid = min(MR, row_end - i)
                if rows_contiguous and valid == MR and width == NR:
                    _store_tile(psum, bias, j0, low, high, out, i * row_stride + j0, row_stride)
                elif rows_contiguous:
                    for r in range(valid):
                        sums = psum[r * NR:r * NR + width]
                        row = out[i + r, j0:j0 + width]
                        for c in range(width):
                            value = sums[c] + bias[j0 + c]
                            if value < low:
                                value = low
                            if value > high:
                                value = high
                            row[c] = value
                else:  # e.g. a convolution's [pixels, channels] view of NCHW: rows are contiguous in memory
                    for c in range(width):
                        column = out[i:i + valid, j0 + c]
                        bias_c = bias[j0 + c]
                        for r in range(valid):
                            value = psum[r * NR + c] + bias_c
                            if value < low:
                                value = low
                            if value > high:
                                value = high
                            column[r] = value
