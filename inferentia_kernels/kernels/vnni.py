"""INT8 GEMM on AVX-512 VNNI: ``vpdpbusd`` microkernel written in LLVM IR, VNNI-layout packers.

``vpdpbusd zmm`` adds, in each of 16 int32 lanes, the four products of 4 unsigned bytes and 4
signed bytes. The microkernel computes a ``MR x NR`` (6 x 64) output tile: per group of 4 k
("quad"), 4 vectors of B (64 columns x 4 k) and 6 broadcasts of 4 A bytes feed 24 ``vpdpbusd``
into 24 accumulators held in registers (phi nodes of one IR loop, so nothing spills).

Packed layouts (K padded with zeros to a multiple of 4, which adds nothing):

* A: ``[row block][quad][MR][4]`` uint8 (int8 A stored as ``a ^ 0x80``, as in the portable path);
* B: ``[column block][quad][NR][4]`` int8 (uint8 B stored as ``b ^ 0x80``).

The raw sums are the same as the portable kernel's, so zero points, bias and requantization go
through the same epilogue (``gemm_int8._finish_row``). Compiling ``vpdpbusd`` for a target without the
feature is a fatal LLVM error that Python cannot catch, so the intrinsic refuses to type unless the
JIT target has avx512f, avx512bw and avx512vnni; callers choose the path before compiling.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from .gemm_int8 import _finish_row
from .jit import kernel
from .target import jit_cpu_features

__all__ = ["MR", "NR", "REQUIRED_FEATURES", "gemm_vnni_tile", "pack_a_vnni", "pack_b_vnni"]

MR = 6  # rows per microkernel tile
LANES = 16  # int32 lanes of a zmm register
VECTORS = 4  # zmm vectors of B per quad
NR = LANES * VECTORS  # columns per microkernel tile
REQUIRED_FEATURES = frozenset({"avx512f", "avx512bw", "avx512vnni"})


@intrinsic
def _vnni_microkernel(typingctx, a_packed, a_offset, b_packed, b_offset, quads, tile):
    """tile[MR, NR] (int32) = sum over ``quads`` of packed A quads (at byte a_offset) times packed
    B quads (at byte b_offset)."""
    missing = REQUIRED_FEATURES - jit_cpu_features()
    if missing:
        raise TypingError(f"the JIT target lacks {sorted(missing)}: the VNNI microkernel cannot be compiled")

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        byte_ptr = ir.IntType(8).as_pointer()
        vector = ir.VectorType(i32, LANES)
        a_data = context.make_array(signature.args[0])(context, builder, args[0]).data
        b_data = context.make_array(signature.args[2])(context, builder, args[2]).data
        tile_data = context.make_array(signature.args[5])(context, builder, args[5]).data
        a_base = builder.gep(builder.bitcast(a_data, byte_ptr), [args[1]])
        b_base = builder.gep(builder.bitcast(b_data, byte_ptr), [args[3]])
        dot = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector, vector, vector]), "llvm.x86.avx512.vpdpbusd.512"
        )
        zero = ir.Constant(vector, [0] * LANES)
        entry = builder.block
        loop = builder.append_basic_block("vnni.loop")
        done = builder.append_basic_block("vnni.done")
        builder.cbranch(builder.icmp_signed(">", args[4], ir.Constant(i64, 0)), loop, done)

        builder.position_at_end(loop)
        quad = builder.phi(i64)
        accumulators = [builder.phi(vector) for _ in range(MR * VECTORS)]
        b_quad = builder.gep(b_base, [builder.mul(quad, ir.Constant(i64, NR * 4))])
        b_vectors = [
            builder.load(builder.bitcast(builder.gep(b_quad, [ir.Constant(i64, 64 * v)]), vector.as_pointer()), align=1)
            for v in range(VECTORS)
        ]
        a_quad = builder.gep(a_base, [builder.mul(quad, ir.Constant(i64, MR * 4))])
        updated = []
        for r in range(MR):
            four_bytes = builder.load(builder.bitcast(builder.gep(a_quad, [ir.Constant(i64, 4 * r)]), i32.as_pointer()),
                                      align=1)
            lane0 = builder.insert_element(ir.Constant(vector, ir.Undefined), four_bytes, ir.Constant(i32, 0))
            broadcast = builder.shuffle_vector(lane0, ir.Constant(vector, ir.Undefined), ir.Constant(vector, [0] * LANES))
            for v in range(VECTORS):
                # Operand order: accumulator, unsigned bytes, signed bytes.
                updated.append(builder.call(dot, [accumulators[r * VECTORS + v], broadcast, b_vectors[v]]))
        next_quad = builder.add(quad, ir.Constant(i64, 1))
        loop_end = builder.block
        builder.cbranch(builder.icmp_signed("<", next_quad, args[4]), loop, done)
        quad.add_incoming(ir.Constant(i64, 0), entry)
        quad.add_incoming(next_quad, loop_end)
        for phi, value in zip(accumulators, updated):
            phi.add_incoming(zero, entry)
            phi.add_incoming(value, loop_end)

        builder.position_at_end(done)
        results = []
        for value in updated:
            result = builder.phi(vector)
            result.add_incoming(zero, entry)
            result.add_incoming(value, loop_end)
            results.append(result)
        tile_ptr = builder.bitcast(tile_data, i32.as_pointer())
        for r in range(MR):
            for v in range(VECTORS):
                target = builder.gep(tile_ptr, [ir.Constant(i64, r * NR + v * LANES)])
                builder.store(results[r * VECTORS + v], builder.bitcast(target, vector.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.void(a_packed, a_offset, b_packed, b_offset, quads, tile), codegen


@kernel
def pack_a_vnni(a, flip, row_lo, row_hi, packed, row_sums):
    """Rows [row_lo, row_hi) of A [M, K] into ``packed`` (flat uint8, VNNI A layout, zero-padded
    to whole row blocks and quads), and their sums. ``row_lo`` is a multiple of MR."""
    depth = a.shape[1]
    quads = (depth + 3) // 4
    for i in range(row_lo, row_hi):
        base = (i // MR) * quads * MR * 4 + (i % MR) * 4
        total = np.int32(0)
        for k in range(depth):
            value = np.uint8(np.uint8(a[i, k]) ^ flip)
            packed[base + (k >> 2) * MR * 4 + (k & 3)] = value
            total = np.int32(total + np.int32(value))
        row_sums[i] = total


@kernel
def pack_b_vnni(b, flip, col_lo, col_hi, packed, col_sums):
    """Columns [col_lo, col_hi) of B [K, N] into ``packed`` (flat int8, VNNI B layout, zero-padded),
    and their sums. ``col_lo`` is a multiple of NR. For each column block and quad, 4 rows of B
    are read contiguously and interleaved into one contiguous run of NR x 4 bytes."""
    depth = b.shape[0]
    quads = (depth + 3) // 4
    for j0 in range(col_lo, col_hi, NR):
        width = min(NR, col_hi - j0)
        sums = col_sums[j0:j0 + width]
        for c in range(width):
            sums[c] = 0
        block = packed[(j0 // NR) * quads * NR * 4:]
        for q in range(quads):
            run = block[q * NR * 4:(q + 1) * NR * 4]
            for t in range(min(4, depth - 4 * q)):
                row = b[4 * q + t, j0:j0 + width]
                for c in range(width):
                    value = np.int8(np.uint8(row[c]) ^ flip)
                    run[4 * c + t] = value
                    sums[c] = np.int32(sums[c] + np.int32(value))


@kernel
def gemm_vnni_tile(a_packed, b_packed, depth, row_sums, col_sums, a_zero_point, b_zero_points, bias, mode,
                   multipliers, quantized_multipliers, shifts, y_zero_point, low, high, rows, cols,
                   row_lo, row_hi, col_lo, col_hi, tile, out):
    """out[row_lo:row_hi, col_lo:col_hi] from VNNI-packed A and B; ``row_lo``/``col_lo`` are
    multiples of MR/NR. Each column block of packed B (NR x K bytes) is reused from L2 by every
    row block; ``tile`` is int32 [MR, NR] scratch of the calling thread."""
    quads = (depth + 3) // 4
    a_block_bytes = quads * MR * 4
    b_block_bytes = quads * NR * 4
    for j in range(col_lo, col_hi, NR):
        for i in range(row_lo, row_hi, MR):
            _vnni_microkernel(a_packed, (i // MR) * a_block_bytes, b_packed, (j // NR) * b_block_bytes, quads, tile)
            for r in range(min(MR, rows - i)):
                _finish_row(tile, r, min(NR, cols - j), i + r, j, depth, row_sums, col_sums, a_zero_point,
                            b_zero_points, bias, mode, multipliers, quantized_multipliers, shifts, y_zero_point,
                            low, high, out)
