"""Run INT8 GEMMs: pack the operands, then run output tiles on the host threads (``_tiles``).

Two drivers share the packed weights and the tile kernel:

* :func:`gemm_int8` (matmul): A is packed whole; column strips of the output are the tiles and
  each strip's thread packs its own columns of B. With fewer than 4 rows (GEMV) nothing is
  packed: packing B would cost as much as the product.
* :func:`gemm_int8_row_chunks` (convolution): B is packed once; chunks of output rows are the
  tiles and each chunk's thread produces its rows of A (e.g. gathers patches) into a bounded
  buffer, so the whole A is never materialised.

The packing layouts and the microkernel come from a backend: "portable" (int16 pairs,
``vpmaddwd``/``vpdpwssd``, every host) or "vnni" (bytes, AVX-512 ``vpdpbusd``), chosen once by
``kernels.isa.select_path``. Both produce the same raw sums and share the epilogue, so results
are identical.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..kernels.gemm_int8 import STORE_INT32, gemm_rows_tile
from ..kernels.int8_microkernel import (MR, PAIR_COLUMNS, VNNI_COLUMNS, gemm_packed_tile, group_size, pack_a_groups,
                                        pack_b_groups)
from ..kernels.isa import select_path
from . import _tiles
from ._scratch import aligned_empty, scratch_vector

__all__ = ["Epilogue", "PackedB", "Prepacked", "active_path", "gemm_int8", "gemm_int8_row_chunks"]

#: Bytes of A rows a row chunk may hold (per thread).
CHUNK_BYTES = 256 * 1024
#: Products with fewer rows skip packing (GEMV).
FEW_ROWS = 4
#: Values of A from which several threads pack it.
PARALLEL_PACK_VALUES = 1 << 18
#: K per tile of the packed kernels: the tensor engine's K tile for packed INT8.
K_TILE = 256


@dataclass(frozen=True)
class Epilogue:
    """What happens to a tile's int32 accumulators (ruy's MulParams): bias, then either store
    int32 (mode 0) or requantize with the per-column parameters and clamp to [low, high]."""

    bias: np.ndarray  # int32 [N]
    mode: int = STORE_INT32
    multipliers: np.ndarray | None = None  # float32 [N] (float mode)
    quantized_multipliers: np.ndarray | None = None  # int32 [N] (fixed-point modes)
    shifts: np.ndarray | None = None  # int32 [N]
    zero_point: int = 0
    low: int = 0
    high: int = 0
    out_dtype: np.dtype = np.dtype(np.int32)

    def arrays(self, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """float32 multipliers, int32 quantized multipliers and shifts, each [cols]."""
        zeros_f = np.zeros(cols, np.float32) if self.multipliers is None else self.multipliers
        zeros_i = np.zeros(cols, np.int32)
        q = zeros_i if self.quantized_multipliers is None else self.quantized_multipliers
        s = zeros_i if self.shifts is None else self.shifts
        return zeros_f, q, s


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class _Backend:
    """One of the packed INT8 kernels (``kernels/int8_microkernel.py``): its packed dtypes and block
    sizes, and how to pack operands for it and run tiles with it."""

    def __init__(self, name: str, a_dtype, b_dtype, cols: int):
        self.name = name
        self.a_dtype, self.b_dtype = np.dtype(a_dtype), np.dtype(b_dtype)
        self.group = group_size(a_dtype)
        self.rows = MR  # row multiple of packed A
        self.cols = cols  # column multiple of packed B

    def a_size(self, rows: int, depth: int) -> int:
        """Values of packed A for ``rows`` rows (a multiple of MR)."""
        return rows * _round_up(depth, self.group)

    def b_size(self, cols: int, depth: int) -> int:
        """Values of packed B for ``cols`` columns (a multiple of NR)."""
        return cols * _round_up(depth, self.group)

    def pack_a(self, a: np.ndarray, flip: np.uint8, slot: str, parallel: bool) -> tuple[np.ndarray, np.ndarray]:
        """A [M, K] packed into the calling thread's scratch ``slot``, and its row sums; rows
        padded to a multiple of MR. With ``parallel`` (never from inside a tile), the tile
        threads pack row pieces of a large A."""
        rows, depth = a.shape
        padded_rows = _round_up(rows, MR)
        packed = scratch_vector(slot, self.a_size(padded_rows, depth), self.a_dtype)
        row_sums = np.empty(padded_rows, np.int32)
        if not parallel or a.size < PARALLEL_PACK_VALUES:
            pack_a_groups(a, flip, 0, padded_rows, packed, row_sums)
            return packed, row_sums
        step = _round_up(-(-padded_rows // _tiles.THREADS), MR)
        _tiles.run_tiles(lambda piece: pack_a_groups(a, flip, piece[0], piece[1], packed, row_sums),
                         [(lo, min(lo + step, padded_rows), 0, 0) for lo in range(0, padded_rows, step)])
        return packed, row_sums

    def tile(self, product: _Product, a_packed, row_sums, rows, row_lo, row_hi, col_lo, col_hi, out) -> None:
        sums = scratch_vector("int8 sums", (row_hi - row_lo) * self.cols, np.int32).reshape(-1, self.cols)
        gemm_packed_tile(a_packed, product.packed, product.depth, K_TILE, row_sums, *product.kernel_arguments(),
                         rows, product.cols, row_lo, row_hi, col_lo, col_hi, sums, out)


_BACKENDS = {
    "portable": _Backend("portable", np.int16, np.int16, PAIR_COLUMNS),
    "vnni": _Backend("vnni", np.uint8, np.int8, VNNI_COLUMNS),
}
_active: _Backend | None = None


def _backend() -> _Backend:
    global _active
    if _active is None:
        _active = _BACKENDS[select_path()]
    return _active


def active_path() -> str:
    """The INT8 path in use ("vnni" or "portable"), chosen on first use."""
    return _backend().name


def _a_flip(dtype: np.dtype) -> np.uint8:
    return np.uint8(0x80 if dtype == np.int8 else 0)


class PackedB:
    """B [K, N] (int8/uint8) in a backend's packed layout with its column sums.

    Packed lazily by column ranges (each column strip's thread packs its own) or all at once.
    The buffer is the calling thread's scratch when ``scratch`` names a slot (B packed for one
    call), else owned (weights packed once).
    """

    def __init__(self, backend, b: np.ndarray, scratch: str | None = None):
        self.backend, self.b = backend, b
        self.dtype = b.dtype
        self.shape = b.shape
        self.depth, self.cols = b.shape
        self.padded_cols = _round_up(self.cols, backend.cols)
        self.flip = np.uint8(0x80 if b.dtype == np.uint8 else 0)
        size = backend.b_size(self.padded_cols, self.depth)
        self.packed = aligned_empty(size, backend.b_dtype) if scratch is None else scratch_vector(
            scratch, size, backend.b_dtype)
        self.col_sums = np.empty(self.padded_cols, np.int32)

    def pack(self, col_lo: int, col_hi: int) -> "PackedB":
        """Pack columns [col_lo, col_hi), multiples of the backend's NR (the end may pass N)."""
        pack_b_groups(self.b, self.flip, col_lo, min(col_hi, self.padded_cols), self.packed, self.col_sums)
        return self

    def pack_all(self) -> "PackedB":
        return self.pack(0, self.padded_cols)


class _Product:
    """Packed B with the zero points and epilogue of one call: everything the tile kernels need."""

    def __init__(self, weights: PackedB, a_dtype: np.dtype, a_zero_point: int, b_zero_points: np.ndarray,
                 epilogue: Epilogue):
        backend, cols, padded = weights.backend, weights.cols, weights.padded_cols
        self.backend, self.weights = backend, weights
        self.depth, self.cols, self.padded_cols = weights.depth, cols, padded
        self.a_flip = _a_flip(a_dtype)
        self.za = np.int32(a_zero_point + (128 if a_dtype == np.int8 else 0))
        self.zb = np.zeros(padded, np.int32)
        self.zb[:cols] = b_zero_points - (128 if weights.dtype == np.uint8 else 0)
        self.bias = np.zeros(padded, np.int32)
        self.bias[:cols] = epilogue.bias
        self.multipliers, self.quantized, self.shifts = (np.resize(x, padded) for x in epilogue.arrays(cols))
        self.epilogue = epilogue

    @property
    def packed(self) -> np.ndarray:
        return self.weights.packed

    def kernel_arguments(self) -> tuple:
        """The tile kernels' arguments from ``col_sums`` to ``high``."""
        e = self.epilogue
        return (self.weights.col_sums, self.za, self.zb, self.bias, e.mode, self.multipliers, self.quantized,
                self.shifts, np.int32(e.zero_point), np.int32(e.low), np.int32(e.high))

    def tile(self, a_packed, row_sums, rows, row_lo, row_hi, col_lo, col_hi, out) -> None:
        self.backend.tile(self, a_packed, row_sums, rows, row_lo, row_hi, col_lo, col_hi, out)


def gemm_int8(a: np.ndarray, b, a_zero_point: int, b_zero_points: np.ndarray, epilogue: Epilogue) -> np.ndarray:
    """``epilogue((a - a_zero_point) @ (b - b_zero_points))`` for 2-D int8/uint8 a [M, K] and b [K, N]
    (an array, or prepacked weights from ``ops.prepack``)."""
    rows, depth = a.shape
    cols = b.shape[1]
    out = np.empty((rows, cols), dtype=epilogue.out_dtype)
    if rows == 0 or cols == 0:
        return out
    if rows < FEW_ROWS:
        _gemm_few_rows(a, b.weights if isinstance(b, Prepacked) else b, a_zero_point, b_zero_points, epilogue, out)
        return out
    backend = _backend()
    padded_rows = _round_up(rows, backend.rows)
    # Strips start on the backend's column blocks, whatever the configured strip width.
    tiles, column_strips = _tiles.plan_tiles(padded_rows, _round_up(cols, backend.cols), row_multiple=backend.rows,
                                             n_tile=_round_up(_tiles.N_TILE, backend.cols))
    if isinstance(b, Prepacked):
        weights, column_strips_pack = b.matrices(backend)[0], False
    else:
        weights, column_strips_pack = PackedB(backend, b, scratch="int8 packed B"), column_strips
        if not column_strips:  # row tiles all read every column: pack B first, in parallel pieces
            step = _round_up(-(-cols // _tiles.THREADS), backend.cols)
            _tiles.run_tiles(lambda piece: weights.pack(piece[2], piece[3]),
                             [(0, 0, lo, min(lo + step, cols)) for lo in range(0, cols, step)])
    product = _Product(weights, a.dtype, a_zero_point, b_zero_points, epilogue)
    a_packed, row_sums = backend.pack_a(a, product.a_flip, "int8 packed A", parallel=True)

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi, col_lo, col_hi = tile
        if column_strips_pack:
            weights.pack(col_lo, col_hi)  # each strip's owner packs its own columns of B
        product.tile(a_packed, row_sums, rows, row_lo, row_hi, col_lo, col_hi, out)

    _tiles.run_tiles(run, tiles)
    return out


class Prepacked:
    """Integer weights packed once for the INT8 engine (returned by ``ik.ops.prepack``).

    Holds a read-only copy of the weights (so later changes to the caller's array cannot make the
    packed bytes stale) and their packed GEMM operands, one per (path, groups): a matrix [K, N] is
    one operand; OIHW convolution weights give one [C/groups * kH * kW, O/groups] operand per group.
    Packing happens once per key, under a lock; the buffers are 64-byte aligned.
    """

    def __init__(self, weights: np.ndarray):
        self.weights = np.array(weights, copy=True)
        self.weights.flags.writeable = False
        self._packed: dict[tuple, list[PackedB]] = {}
        self._lock = threading.Lock()

    shape = property(lambda self: self.weights.shape)
    dtype = property(lambda self: self.weights.dtype)
    ndim = property(lambda self: self.weights.ndim)

    def matrices(self, backend=None, groups: int | None = None) -> list[PackedB]:
        """The packed GEMM operands for ``backend`` (default: the active one) and ``groups``
        (None for a matrix)."""
        backend = _backend() if backend is None else backend
        key = (backend.name, groups)
        with self._lock:
            if key not in self._packed:
                self._packed[key] = [PackedB(backend, b).pack_all() for b in self._gemm_operands(groups)]
            return self._packed[key]

    def _gemm_operands(self, groups: int | None) -> list[np.ndarray]:
        if groups is None:
            return [self.weights]
        per_group = self.weights.shape[0] // groups
        return [self.weights[g * per_group:(g + 1) * per_group].reshape(per_group, -1).T for g in range(groups)]

    def __repr__(self) -> str:
        return f"Prepacked(shape={self.shape}, dtype={self.dtype.name}, packed for {sorted(self._packed)})"


def _gemm_few_rows(a, b, a_zero_point, b_zero_points, epilogue, out) -> None:
    """Fewer rows than the microkernel's: no packing, B read in place, one column strip per thread."""
    multipliers, quantized, shifts = epilogue.arrays(b.shape[1])
    za = np.int32(a_zero_point)
    zb = b_zero_points.astype(np.int32)
    # One wide strip per thread: each k then updates a long, vectorised run of columns.
    step = max(64, -(-b.shape[1] // (64 * _tiles.THREADS)) * 64)
    tiles = [(0, a.shape[0], lo, min(lo + step, b.shape[1])) for lo in range(0, b.shape[1], step)]

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi, col_lo, col_hi = tile
        scratch = np.empty((row_hi - row_lo, col_hi - col_lo), np.int32)
        gemm_rows_tile(a, b, za, zb, epilogue.bias, epilogue.mode, multipliers, quantized, shifts,
                       np.int32(epilogue.zero_point), np.int32(epilogue.low), np.int32(epilogue.high),
                       row_lo, row_hi, col_lo, col_hi, scratch, out)

    _tiles.run_tiles(run, tiles)


def gemm_int8_row_chunks(fill_rows: Callable[[int, np.ndarray], None], out_rows: Callable[[int, int], np.ndarray],
                         rows: int, segment: int, a_dtype: np.dtype, b: np.ndarray, a_zero_point: int,
                         b_zero_points: np.ndarray, epilogue: Epilogue) -> None:
    """``epilogue((A - a_zero_point) @ (b - b_zero_points))`` for an A [M, K] of ``a_dtype``
    that is never stored whole.

    ``fill_rows(row_lo, buffer)`` writes rows ``row_lo .. row_lo + len(buffer)`` of A into
    ``buffer``; ``out_rows(row_lo, row_hi)`` returns the (possibly strided) [rows, N] view those
    rows of the result go to. Chunks never cross a multiple of ``segment`` rows.
    """
    depth, cols = b.shape
    if rows == 0 or cols == 0:
        return
    backend = _backend()
    product = _Product(b if isinstance(b, PackedB) else PackedB(backend, b).pack_all(), a_dtype, a_zero_point,
                       b_zero_points, epilogue)

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi = tile[0], tile[1]
        buffer = np.empty((row_hi - row_lo, depth), a_dtype)
        fill_rows(row_lo, buffer)
        padded_rows = _round_up(row_hi - row_lo, backend.rows)
        a_packed, row_sums = backend.pack_a(buffer, product.a_flip, "int8 chunk A", parallel=False)
        product.tile(a_packed, row_sums, row_hi - row_lo, 0, padded_rows, 0, product.padded_cols,
                     out_rows(row_lo, row_hi))

    _tiles.run_tiles(run, _tiles.row_chunks(rows, segment, CHUNK_BYTES // max(depth, 1), cols))
