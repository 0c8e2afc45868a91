"""Run float GEMMs in the tensor engine's order on the host threads (see ``_int8_engine``).

:func:`gemm_float` takes A whole; :func:`gemm_float_row_chunks` asks for chunks of A's rows, so
a convolution's patch matrix is never materialised whole. Inputs are float32 arrays holding
values already rounded to the precision.

A is packed in groups of ``MR`` rows and B in column panels of ``NR`` columns (``kernels.gemm_float``;
with few rows B is read in place). Results never depend on the split into tiles or blocks: every
output adds its own products in the fixed order whatever tile it lands in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..kernels.gemm_float import MR, NR, gemm_float_tile, pack_a_panels, pack_b_panels
from . import _tiles
from ._scratch import aligned_empty, scratch_vector

__all__ = ["K_TILE", "gemm_float", "gemm_float_row_chunks"]

#: Products summed into one partial before it joins the PSUM: the PE array's 128 rows.
K_TILE = 128
#: Bytes of A rows a row chunk may hold (per thread).
CHUNK_BYTES = 512 * 1024
#: Most bytes of packed A rows (all of K) in one row block of the tile kernel. Each panel of B
#: (K x NR floats) stays in L2 while every row group of the block reads it; A streams from L3 (one
#: byte per 32 flops on AVX-512), so blocks are large: blocks of A sized for L2 let it evict B.
A_BLOCK_BYTES = 8 * 1024 * 1024
#: Rows up to which B is read in place rather than packed.
IN_PLACE_ROWS = 3 * MR
#: Values below which the operands are packed by one thread.
_PARALLEL_PACK_VALUES = 256 * 1024
#: Multiply-adds from which a product is split over the host threads: about half a millisecond of
#: one thread's work (see ``_int8_engine.PARALLEL_MACS``; bf16 256^3 took 0.57 ms on one thread and
#: 0.65 ms on two, 64^3 0.06 against 0.19 ms).
PARALLEL_MACS = 1 << 25


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _row_block(depth: int, rows: int) -> int:
    """Rows per block of the tile kernel for ``rows`` rows: equal blocks, a multiple of MR, of at
    most about A_BLOCK_BYTES of A rows (a small last block would stream every panel of B for a
    few rows)."""
    limit = max(MR, A_BLOCK_BYTES // (4 * max(depth, 1)) // MR * MR)
    blocks = -(-rows // limit)
    return _round_up(-(-rows // blocks), MR)


class _B:
    """B as the tile kernel reads it: ``main`` (packed panels, or B itself when ``in_place``) and
    ``edge`` (the last partial panel, packed, when B is read in place)."""

    def __init__(self, b: np.ndarray, rows: int):
        depth, cols = b.shape
        # Few rows: packing B would cost more than it saves; the microkernel reads B in place.
        in_place = rows <= IN_PLACE_ROWS and b.flags.c_contiguous
        self.b, self.depth, self.cols, self.in_place = b, depth, cols, in_place
        if in_place:
            self.edge_lo = cols // NR * NR
            self.main, self.stride, self.panel_step = b.reshape(-1), cols, NR
            self.edge = aligned_empty(depth * NR)
            if self.edge_lo < cols:
                pack_b_panels(b, self.edge_lo, cols, self.edge)
        else:
            self.edge_lo = _round_up(cols, NR)
            self.main, self.stride, self.panel_step = scratch_vector("b", self.edge_lo * depth), NR, NR * depth
            self.edge = self.main[:0]

    def pack(self, col_lo: int, col_hi: int) -> None:
        """Pack the panels of columns [col_lo, col_hi) (``col_lo`` a multiple of NR)."""
        if not self.in_place and col_hi > col_lo:
            pack_b_panels(self.b, col_lo, min(col_hi, self.cols), self.main[col_lo * self.depth:])


def _run(a_packed, rows, depth, b: _B, bias, low, high, exact_products, row_lo, row_hi, col_lo, col_hi, out) -> None:
    row_block = _row_block(depth, max(row_hi - row_lo, 1))
    psum = scratch_vector("psum", MR * NR)
    gemm_float_tile(a_packed, rows, depth, b.main, b.stride, b.panel_step, b.edge_lo, b.edge, K_TILE, row_lo, row_hi,
                    col_lo, col_hi, row_block, bias, low, high, exact_products, psum, out)


def _pack(a: np.ndarray | None, a_packed: np.ndarray | None, b: _B | None, threads: int) -> None:
    """Pack every row group of ``a`` and every column panel of ``b`` (either may be None), split
    over ``threads`` host threads when there is enough to pack."""
    parts = []  # (a rows lo, hi, b columns lo, hi)
    size = 0
    if a is not None:
        rows = a.shape[0]
        step = _round_up(-(-rows // threads), MR)
        parts += [(lo, min(lo + step, rows), 0, 0) for lo in range(0, rows, step)]
        size += a.size
    if b is not None and not b.in_place:
        step = _round_up(-(-b.cols // threads), NR)
        parts += [(0, 0, lo, min(lo + step, b.cols)) for lo in range(0, b.cols, step)]
        size += b.b.size

    def work(part: _tiles.Tile) -> None:
        if part[1] > part[0]:
            pack_a_panels(a, part[0], _round_up(part[1], MR), a_packed)
        if b is not None:
            b.pack(part[2], part[3])

    if threads == 1 or size < _PARALLEL_PACK_VALUES:
        for part in parts:
            work(part)
    else:
        _tiles.run_on_host(work, parts)


def _prepare(b: np.ndarray, bias: np.ndarray, low, high):
    """The kernels' argument types. Operands are not copied: the packers read any layout."""
    return np.asarray(b, np.float32), np.ascontiguousarray(bias, dtype=np.float32), np.float32(low), np.float32(high)


def gemm_float(a: np.ndarray, b: np.ndarray, bias: np.ndarray, low: np.float32, high: np.float32,
               exact_products: bool) -> np.ndarray:
    """2-D float32 a [M, K] @ b [K, N] in the tensor engine's order, then bias and clamp.

    ``exact_products``: the inputs hold bf16 or fp16 values, whose products are exact in float32.
    """
    rows, depth = a.shape
    cols = b.shape[1]
    out = aligned_empty((rows, cols))
    if rows == 0 or cols == 0:
        return out
    a = np.asarray(a, np.float32)
    b, bias, low, high = _prepare(b, bias, low, high)
    exact_products = bool(exact_products)
    a_packed = scratch_vector("a", _round_up(rows, MR) * depth)
    b_operand = _B(b, rows)
    panels = -(-cols // NR)
    alone = rows * depth * cols < PARALLEL_MACS and not _tiles.on_a_device()
    workers = 1 if alone else _tiles.workers()
    # Column strips of whole panels when there are enough panels to share evenly; else one strip,
    # which plan_tiles splits by rows (every worker then uses all of B, packed beforehand).
    per_strip = -(-panels // workers) if panels >= 2 * workers else panels
    tiles, column_strips = _tiles.plan_tiles(_round_up(rows, MR), cols, row_multiple=MR, threads=1 if alone else None,
                                             n_tile=per_strip * NR)
    strips_pack_b = column_strips and len(tiles) > 1  # each strip's owner packs its own panels
    _pack(a, a_packed, None if strips_pack_b else b_operand, 1 if alone else _tiles.THREADS)

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi, col_lo, col_hi = tile
        if strips_pack_b:
            b_operand.pack(col_lo, col_hi)
        _run(a_packed, rows, depth, b_operand, bias, low, high, exact_products, row_lo, row_hi, col_lo, col_hi, out)

    _tiles.run_tiles(run, tiles, out=out, region=lambda tile: (slice(tile[0], min(tile[1], rows)), slice(tile[2], tile[3])))
    return out


def gemm_float_row_chunks(fill_rows: Callable[[int, np.ndarray], None], out: np.ndarray,
                          out_rows: Callable[[int, int], tuple], rows: int, segment: int, b: np.ndarray,
                          bias: np.ndarray, low: np.float32, high: np.float32, exact_products: bool) -> None:
    """``clamp(A @ b + bias)`` for a float32 A [M, K] that is never stored whole.

    ``fill_rows(row_lo, buffer)`` writes rows ``row_lo .. row_lo + len(buffer)`` of A into
    ``buffer``; ``out[out_rows(row_lo, row_hi)]`` is the (possibly strided) [rows, N] view those
    rows of the result go to. Chunks never cross a multiple of ``segment`` rows."""
    depth, cols = b.shape
    if rows == 0 or cols == 0:
        return
    b, bias, low, high = _prepare(b, bias, low, high)
    exact_products = bool(exact_products)
    b_operand = _B(b, rows)
    _pack(None, None, b_operand, _tiles.THREADS)

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi = tile[0], tile[1]
        count = row_hi - row_lo
        buffer = scratch_vector("chunk rows", count * depth).reshape(count, depth)
        fill_rows(row_lo, buffer)
        a_packed = scratch_vector("chunk a", _round_up(count, MR) * depth)
        pack_a_panels(buffer, 0, _round_up(count, MR), a_packed)
        _run(a_packed, count, depth, b_operand, bias, low, high, exact_products, 0, count, 0, cols,
             out[out_rows(row_lo, row_hi)])

    _tiles.run_tiles(run, _tiles.row_chunks(rows, segment, CHUNK_BYTES // (4 * max(depth, 1)), cols), out=out,
                     region=lambda tile: out_rows(tile[0], tile[1]))
