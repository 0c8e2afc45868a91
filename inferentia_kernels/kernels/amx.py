"""INT8 GEMM on AMX: a ``tdpbusd``/``tdpbssd`` microkernel in LLVM IR, tile configuration and the
Linux permission request.

AMX has eight tile registers of up to 16 rows x 64 bytes. ``tdpbusd C, A, B`` adds to each int32
of C (16 x 16) the products of 64 unsigned bytes of a row of A (a 16 x 64-byte tile) and 64 signed
bytes of a column of B (a tile of 16 rows of 4 k x 16 columns, the VNNI layout); ``tdpbssd`` does
the same for signed A. The microkernel computes an ``MR x NR`` (32 x 32) block: per K block of 64
it loads two A tiles and two B tiles and issues four dot products into four C tiles, which stay
in tile registers for the whole K.

Packed layouts (K padded with zeros to a multiple of 64, rows and columns to whole tiles):

* A: ``[row block of 16][K block of 64][16 rows][64 bytes]``: every A tile is 1 KiB, contiguous;
  uint8 or int8 as given (no offset). A matrix is packed one row block of MR rows at a time by
  the tile kernel itself (with its row sums, when B's zero points need them), into a buffer
  that stays in cache while the block's column blocks use it; other row sources arrive packed
  (``pack_a_groups`` with groups of 64 and blocks of 16 rows). Tile loads of A in place, 16
  rows a row length apart, measured a third slower;
* B: ``[column block of 16][quad][16 columns][4 bytes]``: every B tile is 1 KiB, contiguous
  (``pack_b_groups`` with blocks of 16 columns), each column block followed by ``B_BLOCK_PAD``
  bytes (so that blocks are not a multiple of 4 KiB apart, which slows packing); int8 (uint8 B
  stored as ``b ^ 0x80``).

The raw sums are the same as the other paths', so zero points, bias and requantization go through
the same epilogue; except for int32 results without B zero points, whose correction and bias
depend on the column only (``column_terms``): the tiles start from those, loaded into every row
(a tile load with a row stride of 0), and store the finished block themselves.

Two things must hold before any tile instruction runs: the JIT target has amx-tile and amx-int8
(the intrinsics refuse to type otherwise: compiling them for a target without the features is a
fatal LLVM error), and Linux has granted the process the AMX state (``request_permission``;
without it the first tile instruction kills the process with SIGILL).
Tile configuration is per thread: the tile kernel loads it on entry and releases the tiles on exit.
"""

from __future__ import annotations

import ctypes
import functools
import sys

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from .atomics import fetch_add, load_acquire, spin_pause
from .bits import X86, copy_64_bytes, store_fence
from .gemm_int8 import STORE_INT32, aligned_matrix, column_terms, finish_block, stream_block
from .int8_microkernel import pack_b_groups
from .jit import kernel
from .register_tile import array_data
from .target import jit_cpu_features

__all__ = ["AMX_FEATURES", "B_BLOCK_PAD", "K_BLOCK", "MR", "NR", "TILE", "gemm_amx_tile", "pack_b_together",
           "request_permission", "tile_config"]

AMX_FEATURES = frozenset({"amx-tile", "amx-int8"})
TILE = 16  # rows of an A or C tile; int32 columns of a C tile; columns of a B tile
K_BLOCK = 64  # bytes of k per row of an A tile
MR = NR = 2 * TILE  # the microkernel's block: 2 x 2 C tiles
_TILE_BYTES = TILE * K_BLOCK  # one A or B tile, 1 KiB
#: Bytes after each column block of packed B (see ``pack_b_groups``).
B_BLOCK_PAD = 64

_ARCH_PRCTL = 158  # x86-64 syscall number
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18


@functools.cache
def request_permission() -> bool:
    """Ask Linux (once per process) for the AMX tile data state; True when granted."""
    if sys.platform != "linux" or not X86:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0


def tile_config() -> np.ndarray:
    """The 64-byte tile configuration: palette 1, tiles 0-7 of 16 rows x 64 bytes."""
    config = np.zeros(64, np.uint8)
    config[0] = 1  # palette
    config[16:32].view(np.uint16)[:8] = K_BLOCK  # bytes per row of tiles 0-7
    config[48:56] = TILE  # rows of tiles 0-7
    return config


def _require_amx() -> None:
    missing = AMX_FEATURES - jit_cpu_features()
    if missing:
        raise TypingError(f"the JIT target lacks {sorted(missing)}: the AMX kernel cannot be compiled")


def _declare(builder, name: str, *arguments) -> ir.Function:
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), list(arguments)), name)


@intrinsic
def _configure(typingctx, config):
    """Load the tile configuration (64 bytes of ``config``) for the calling thread."""
    _require_amx()
    if not (isinstance(config, types.Array) and config.dtype == types.uint8):
        return None

    def codegen(context, builder, signature, args):
        byte_ptr = ir.IntType(8).as_pointer()
        data = builder.bitcast(array_data(context, builder, signature.args[0], args[0]), byte_ptr)
        builder.call(_declare(builder, "llvm.x86.ldtilecfg", byte_ptr), [data])
        return context.get_dummy_value()

    return types.void(config), codegen


@intrinsic
def _release(typingctx):
    """Release the calling thread's tiles."""
    _require_amx()

    def codegen(context, builder, signature, args):
        builder.call(_declare(builder, "llvm.x86.tilerelease"), [])
        return context.get_dummy_value()

    return types.void(), codegen


#: The tile dot product for each A dtype (B is always signed).
_DOT = {types.uint8: "llvm.x86.tdpbusd", types.int8: "llvm.x86.tdpbssd"}


@intrinsic
def _microkernel(typingctx, a_packed, a_offset, a_step, b_packed, b_offset, b_step, k_blocks, start, start_offset,
                 start_stride, dest, dest_offset, dest_stride):
    """One MR x NR block of int32: ``start`` plus the sums over ``k_blocks`` K blocks of the A
    tiles at byte ``a_offset`` (upper 16 rows) and ``a_offset + a_step`` (lower 16 rows) times
    the B tiles at byte ``b_offset`` (left 16 columns) and ``b_offset + b_step`` (right 16
    columns), stored at byte ``dest_offset`` of ``dest`` (rows ``dest_stride`` bytes apart).
    K block ``kb`` of each tile is 1 KiB at ``kb * 1024``. ``start`` is the int32 block at byte
    ``start_offset`` of ``start`` with rows ``start_stride`` bytes apart (0: every row the same),
    or zeros when ``start_stride`` < 0. uint8 A multiplies with ``tdpbusd``, int8 A with
    ``tdpbssd``; B is int8."""
    _require_amx()
    if getattr(a_packed, "dtype", None) not in _DOT or getattr(b_packed, "dtype", None) != types.int8:
        return None
    if not (isinstance(start, types.Array) and start.dtype == types.int32 and isinstance(dest, types.Array)):
        return None

    def codegen(context, builder, signature, args):
        i8, i64 = ir.IntType(8), ir.IntType(64)
        byte_ptr = i8.as_pointer()
        a_off, a_step_, b_off, b_step_, count, s_off, s_stride, d_off, d_stride = (
            context.cast(builder, args[i], signature.args[i], types.int64) for i in (1, 2, 4, 5, 6, 8, 9, 11, 12))

        def pointer(index, offset):
            data = array_data(context, builder, signature.args[index], args[index])
            return builder.gep(builder.bitcast(data, byte_ptr), [offset])

        a_base, b_base = pointer(0, a_off), pointer(3, b_off)
        start_base, dest_base = pointer(7, s_off), pointer(10, d_off)
        zero = _declare(builder, "llvm.x86.tilezero", i8)
        load = _declare(builder, "llvm.x86.tileloadd64", i8, byte_ptr, i64)
        store = _declare(builder, "llvm.x86.tilestored64", i8, byte_ptr, i64)
        dot = _declare(builder, _DOT[signature.args[0].dtype], i8, i8, i8)
        tile = [ir.Constant(i8, t) for t in range(8)]  # C: 0-3 (row r, column c at 2r + c); A: 4, 5; B: 6, 7
        row_stride = ir.Constant(i64, K_BLOCK)

        def c_tile_address(base, stride, r, c):
            offset = builder.add(builder.mul(stride, ir.Constant(i64, r * TILE)), ir.Constant(i64, c * TILE * 4))
            return builder.gep(base, [offset])

        with builder.if_else(builder.icmp_signed("<", s_stride, ir.Constant(i64, 0))) as (zeros, loaded):
            with zeros:
                for c_tile in tile[:4]:
                    builder.call(zero, [c_tile])
            with loaded:
                for r in range(2):
                    for c in range(2):
                        builder.call(load, [tile[2 * r + c], c_tile_address(start_base, s_stride, r, c), s_stride])

        entry = builder.block
        loop = builder.append_basic_block("amx.loop")
        done = builder.append_basic_block("amx.done")
        builder.cbranch(builder.icmp_signed(">", count, ir.Constant(i64, 0)), loop, done)
        builder.position_at_end(loop)
        kb = builder.phi(i64)
        offset = builder.mul(kb, ir.Constant(i64, _TILE_BYTES))
        for t, base, step in ((4, a_base, a_step_), (6, b_base, b_step_)):
            first = builder.gep(base, [offset])
            builder.call(load, [tile[t], first, row_stride])
            builder.call(load, [tile[t + 1], builder.gep(first, [step]), row_stride])
        for r in range(2):
            for c in range(2):
                builder.call(dot, [tile[2 * r + c], tile[4 + r], tile[6 + c]])
        next_kb = builder.add(kb, ir.Constant(i64, 1))
        loop_end = builder.block
        builder.cbranch(builder.icmp_signed("<", next_kb, count), loop, done)
        kb.add_incoming(ir.Constant(i64, 0), entry)
        kb.add_incoming(next_kb, loop_end)

        builder.position_at_end(done)
        for r in range(2):
            for c in range(2):
                builder.call(store, [tile[2 * r + c], c_tile_address(dest_base, d_stride, r, c), d_stride])
        return context.get_dummy_value()

    return (types.void(a_packed, a_offset, a_step, b_packed, b_offset, b_step, k_blocks, start, start_offset,
                       start_stride, dest, dest_offset, dest_stride), codegen)


@kernel(inline="always")
def _pack_row_block(a, i, k_blocks, block):
    """Rows i .. i + MR of a [M, K] (bytes of each row contiguous) into ``block`` (flat, a's
    dtype) as one packed row block of A, every byte written: zeros past row M and past K (B's
    packed K is zero there too, so these only keep the block free of stale values)."""
    rows, depth = a.shape
    full = depth // K_BLOCK
    for r in range(MR):
        first = (r // TILE) * k_blocks * _TILE_BYTES + (r % TILE) * K_BLOCK
        if i + r < rows:
            row_start = (i + r) * a.strides[0]
            for kb in range(full):
                copy_64_bytes(block, first + kb * _TILE_BYTES, a, row_start + kb * K_BLOCK)
            if full < k_blocks:
                to = first + full * _TILE_BYTES
                for c in range(K_BLOCK):
                    k = full * K_BLOCK + c
                    block[to + c] = a[i + r, k] if k < depth else 0
        else:
            for kb in range(k_blocks):
                to = first + kb * _TILE_BYTES
                block[to:to + K_BLOCK] = 0


@kernel(inline="always")
def _sum_row_block(a, i, wanted, row_sums):
    """``row_sums[i + r]`` for r < MR: the int32 sum of row i + r of a [M, K] (its values: signed
    for int8) when ``wanted``, zero otherwise and past row M."""
    rows, depth = a.shape
    for r in range(MR):
        total = np.int32(0)
        if wanted and i + r < rows:
            row = a[i + r]
            for k in range(depth):
                total = np.int32(total + np.int32(row[np.uint64(k)]))
        row_sums[i + r] = total


@kernel
def pack_b_together(b, positions, flip, padded_depth, chunk, packed, col_sums, progress):
    """All of B [K, N] packed into ``packed`` with its ``col_sums`` (``pack_b_groups`` in blocks of
    TILE columns followed by ``B_BLOCK_PAD`` bytes, K padded to ``padded_depth``) by the threads
    that call this with the same ``progress`` (int64 [2], zeros for a new B): each claims chunks
    of ``chunk`` columns (a multiple of NR) from ``progress[0]`` and packs them, then waits
    (spinning) until ``progress[1]``, the chunks done, counts them all, whoever packed them. A
    thread that comes late packs less. A thread waits only for chunks that others have claimed
    and are packing: packing takes no lock and cannot fail, so every claimed chunk gets done."""
    padded_cols = (b.shape[1] + NR - 1) // NR * NR
    chunks = (padded_cols + chunk - 1) // chunk
    while load_acquire(progress, 0) < chunks:
        claimed = fetch_add(progress, 0, 1)
        if claimed >= chunks:
            break
        lo = claimed * chunk
        pack_b_groups(b, positions, flip, lo, min(lo + chunk, padded_cols), TILE, padded_depth, B_BLOCK_PAD, packed,
                      col_sums)
        fetch_add(progress, 1, 1)
    while load_acquire(progress, 1) < chunks:
        spin_pause()


@kernel
def gemm_amx_tile(a, pack_rows, sum_rows, a_packed, b_packed, b, b_positions, b_flip, pack_chunk, packing, depth,
                  config, row_sums, col_sums, a_zero_point,
                  b_zero_points, bias, mode, multipliers, quantized_multipliers, shifts, y_zero_point, low, high, rows,
                  cols, row_lo, row_hi, col_lo, col_hi, strip, claims, reserve, stream, sums, out, started):
    """out[row_lo:row_hi, col_lo:col_hi] from A and AMX-packed B; ``row_lo``/``col_lo`` are
    multiples of MR/NR.

    With ``pack_chunk`` > 0, B is first packed from ``b`` [K, N] (all of it, with its ``col_sums``,
    shared with the other threads that run tiles of the same product: ``pack_b_together`` with
    ``packing`` as the progress), ``b_positions`` and ``b_flip`` as ``pack_b_groups`` takes them;
    else ``b_packed`` and ``col_sums`` hold B packed and ``b`` is not read.

    With ``pack_rows``, A is the matrix ``a`` [rows, K] (uint8 or int8, the bytes of each row
    contiguous): the kernel packs each row block just before its column blocks use it, into
    ``a_packed`` (scratch of MR x K rounded up to whole K blocks), and writes the block's row sums
    into ``row_sums`` (int32 scratch of >= row_hi values) when ``sum_rows``, else zeros (only B
    zero points use them). Otherwise ``a_packed`` holds all of A, packed, with its ``row_sums``,
    and ``a`` is not read. ``config`` is ``tile_config()``.

    The tile's columns are gone through in strips of ``strip`` columns (a multiple of NR; the last
    may be narrower), one strip after the other, so that a strip's part of B stays in cache while
    its row blocks use it. In a strip, each row block adds its whole K for every column block in
    tile registers, into ``sums`` (int32 [MR, >= strip] scratch of the calling thread); then the
    epilogue finishes the row block's outputs, with ``stream`` into a buffer first, from which
    they go to ``out`` by non-temporal stores. int32 results without B zero points skip the
    epilogue where a column block is whole (and, unless streamed, its row block too): their
    tiles start from the column terms and store into ``out`` (or the buffer) directly.

    Row blocks of strip s are claimed one at a time from the counter ``claims[s]`` (int64, zero
    for a new strip; the n-th claim takes the n-th block), so threads that run the same tile with
    the same counters share its row blocks, each computing those it claims: a thread that starts
    late or runs slow does less of the tile instead of holding up the others. A thread leaves a
    strip once no more than ``reserve`` of its blocks are left (0 takes all): those are for a
    thread that passes 0.

    ``started`` (int64, one counter, or none) gets 1 added as the kernel starts, when the calling
    thread has let go of the interpreter's lock: threads waiting to take it can tell."""
    if started.size:
        fetch_add(started, 0, 1)
    k_blocks = (depth + K_BLOCK - 1) // K_BLOCK
    block_bytes = k_blocks * _TILE_BYTES  # a row block of A, a column block of B
    b_step = block_bytes + B_BLOCK_PAD  # from one column block of B to the next
    if pack_chunk > 0:
        pack_b_together(b, b_positions, b_flip, k_blocks * K_BLOCK, pack_chunk, b_packed, col_sums, packing)
    terms = aligned_matrix(1, strip, np.int32)[0]
    # int32 results whose zero-point correction and bias depend on the column only
    finished_by_tiles = mode == STORE_INT32 and not sum_rows and out.itemsize == 4
    staged = aligned_matrix(MR, strip if stream else 0, out.dtype)
    _configure(config)
    blocks = (row_hi - row_lo + MR - 1) // MR
    for s in range((col_hi - col_lo + strip - 1) // strip):
        lo = col_lo + s * strip
        hi = min(lo + strip, col_hi)
        valid = min(hi, cols) - lo
        column_terms(terms, lo, valid, depth, a_zero_point, col_sums, b_zero_points, bias)
        while claims[s] < blocks - reserve:
            claimed = fetch_add(claims, s, 1)
            if claimed >= blocks:
                break
            i = row_lo + claimed * MR
            a_offset = (i // TILE) * block_bytes
            if pack_rows:
                _pack_row_block(a, i, k_blocks, a_packed)
                _sum_row_block(a, i, sum_rows, row_sums)
                a_offset = 0
            last = min(i + MR, rows)
            # Blocks whose whole result the tiles hold: with the column terms as their start, they
            # are stored as they are, into the output or its staging buffer.
            finished_end = lo
            if finished_by_tiles and (stream or last - i == MR):
                finished_end = lo + valid // NR * NR
            for j in range(lo, hi, NR):
                b_offset = (j // TILE) * b_step
                if j >= finished_end:  # raw sums for the epilogue, from column 0 of ``sums``
                    _microkernel(a_packed, a_offset, block_bytes, b_packed, b_offset, b_step, k_blocks, terms, 0, -1,
                                 sums, (j - finished_end) * 4, sums.strides[0])
                elif stream:
                    _microkernel(a_packed, a_offset, block_bytes, b_packed, b_offset, b_step, k_blocks, terms,
                                 (j - lo) * 4, 0, staged, (j - lo) * 4, staged.strides[0])
                else:
                    _microkernel(a_packed, a_offset, block_bytes, b_packed, b_offset, b_step, k_blocks, terms,
                                 (j - lo) * 4, 0, out, i * out.strides[0] + j * 4, out.strides[0])
            rest = finished_end - lo
            if rest < valid:
                if stream:
                    finish_block(sums, i, last, finished_end, valid - rest, row_sums, terms[rest:], b_zero_points,
                                 mode, multipliers, quantized_multipliers, shifts, y_zero_point, low, high, staged, i,
                                 lo)
                else:
                    finish_block(sums, i, last, finished_end, valid - rest, row_sums, terms[rest:], b_zero_points,
                                 mode, multipliers, quantized_multipliers, shifts, y_zero_point, low, high, out, 0, 0)
            if stream:
                stream_block(staged, i, last, lo, valid, out)
    _release()
    store_fence()
