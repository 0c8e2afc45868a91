"""Run INT8 GEMMs: pack the operands, then run output tiles on the host threads (``_tiles``).

A is given as a *row source*: a matrix (:class:`MatrixRows`), or anything that packs its rows on
demand, e.g. a convolution's patches, so that A is never materialised unpacked. One driver,
:func:`gemm_int8_rows`, runs every product:

* Column strips of the output are the tiles when there are enough of them (see
  ``_strip_width``): A is packed whole first (by all threads) and each strip's thread packs its
  own columns of B; or, where the threads share every strip's rows (``_Strips``), the tile
  kernels pack all of B first, together (AMX).
* Otherwise rows are split: B is packed first (by all threads), and each row tile's thread packs
  its own rows of A into its scratch; one tile per thread, or, when the packed A would exceed a
  memory bound, chunks of at most ``CHUNK_BYTES`` of packed rows.

The AMX tile kernel packs the rows of a matrix A itself, one block of 32 rows at a time, so
there A has no packing pass in either case.

With fewer than 4 rows of a matrix (GEMV) nothing is packed: packing B would cost as much as the
product. Prepacked B is the exception on the "vnni" and "amx" paths, whose packed kernels beat the
row loop even though most of their rows are padding.

The packing layouts and the microkernel come from a backend: "amx" (bytes, 1 KiB tiles,
``tdpbusd`` or ``tdpbssd``), "vnni" (bytes, ``vpdpbusd`` at 512 bits with AVX-512 VNNI or 256
bits with AVX-VNNI) or "portable" (int16 pairs, ``vpmaddwd``/``vpdpwssd``, every host), chosen once by
``kernels.isa.select_path``. All produce the same raw sums and share the epilogue, so results
are identical.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol
from dataclasses import dataclass

import numpy as np

from ..kernels.gemm_int8 import STORE_INT32, gemm_rows_tile
from ..kernels.int8_microkernel import (MR, PAIR_COLUMNS, VNNI_COLUMNS, gemm_packed_tile, group_size, pack_a_groups,
                                        pack_b_groups)
from ..kernels import amx
from ..kernels.amx import gemm_amx_tile
from ..kernels.isa import select_path
from ..kernels.transpose import transpose_copy
from . import _tiles, _workers
from ._recent import Recent
from ._scratch import aligned_empty, scratch_vector, shared_zeros

__all__ = ["Epilogue", "MatrixRows", "PackedB", "Prepacked", "active_path", "conv_weight_matrices", "gemm_int8",
           "gemm_int8_rows"]

#: Bytes of packed A rows a row chunk may hold (per thread). Each chunk costs some tens of
#: microseconds of Python, which the threads take turns at (the GIL): 256 KiB chunks made the
#: batch-8 ResNet 3x3 layers a third slower.
CHUNK_BYTES = 1024 * 1024
#: Bytes of packed B per column strip on the host: about half of a core's L2, so that a strip's
#: B stays there while A streams past (2048^3 on AMX: 1.4 -> 1.8-2.1 TOPS with strips of 512
#: instead of 128).
STRIP_BYTES = 1024 * 1024
#: Products with fewer rows skip packing (GEMV), unless B is prepacked for a backend whose
#: ``packed_few_rows`` (1 x 4096 x 4096 prepacked, AMX: 1.35 -> 0.88 ms; VNNI: 1.17 -> 0.85 ms;
#: the portable kernel: 1.12 -> 1.64 ms, so it keeps the row loop).
FEW_ROWS = 4
#: Values of A or B from which several threads pack it.
PARALLEL_PACK_VALUES = 1 << 18
#: Multiply-adds from which a product of a matrix A is split over the host threads, per backend:
#: about half a millisecond of one thread's work. Waking a worker thread (an idle vCPU halts, and a
#: wake-up goes through the hypervisor), handing it the interpreter and waiting for it took
#: 0.1-0.3 ms on the two-vCPU host where these were measured: at each threshold one thread and two
#: took about the same time, below it one was faster (128 x 768 x 768 on AMX, prepacked: 0.16
#: against 0.27 ms).
PARALLEL_MACS = {"portable": 1 << 26, "vnni": 1 << 27, "amx": 1 << 28}
#: The same for other row sources: a convolution's patches are gathered as they are packed, work
#: that the multiply-adds do not count and that threads share well (ResNet-50's 3x3 layer at
#: 56 x 56 x 64, 115M multiply-adds, took 1.44x the time on one thread on AMX).
PATCHES_PARALLEL_MACS = 1 << 25
#: The same for products of fewer than FEW_ROWS rows (1 x 1024 x 1024: 0.11 ms on one thread,
#: 0.24 ms on two; 1 x 4096 x 4096: 1.4 against 1.1 ms).
FEW_ROWS_PARALLEL_MACS = 1 << 23
#: Bytes of B per chunk that a thread claims when the tile kernels pack B together (AMX): small
#: enough that a thread that starts late still finds some.
PACK_CHUNK_BYTES = 128 * 1024
#: K per tile of the packed kernels: the tensor engine's K tile for packed INT8.
K_TILE = 256
#: Row blocks of a shared strip that worker threads leave to the calling thread (see ``_Strips``;
#: 1 measured 3-7 % slower at 1024^3 and 2048^3).
CALLER_BLOCKS = 2
#: Output bytes above which the AMX kernel streams its results to memory (non-temporal stores)
#: instead of through the caches, where they would evict the operands the kernel reuses:
#: twice a core's L2, so only outputs that could not stay in cache anyway. 2048^3
#: prepacked: 7.0-7.4 -> 5.9-6.9 ms. 1024^3 (4 MiB of int32, which the tiles store themselves)
#: took 0.85-0.89x the time through the caches, on one thread and on two.
STREAM_BYTES = 4 * 1024 * 1024
#: Products (B with one call's zero points and epilogue) that prepacked weights keep for later
#: calls. matmul_integer with prepacked B on two threads, kept against built per call: 256^3
#: 0.83x the time, 512^3 0.85x, 1024^3 0.99x.
KEPT_PRODUCTS = 8


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
        """float32 multipliers, int32 quantized multipliers and shifts, each [cols]: those the mode
        does not use are shared zeros (``shared_zeros``), which the kernels only read."""
        zeros_f = shared_zeros(cols, "float32") if self.multipliers is None else self.multipliers
        zeros_i = shared_zeros(cols, "int32")
        q = zeros_i if self.quantized_multipliers is None else self.quantized_multipliers
        s = zeros_i if self.shifts is None else self.shifts
        return zeros_f, q, s


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _padded(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` followed by zeros up to ``size`` (``values`` itself when contiguous and of that size)."""
    if values.size == size and values.flags.c_contiguous:
        return values
    out = np.zeros(size, values.dtype)
    out[:values.size] = values
    return out


class RowSource(Protocol):
    """Rows of A [rows, depth] (int8 or uint8) that can pack themselves."""

    rows: int
    depth: int
    dtype: np.dtype

    def pack(self, flip: np.uint8, first: int, row_lo: int, row_hi: int, group: int, block: int,
             packed: np.ndarray, row_sums: np.ndarray) -> None:
        """Packed rows [row_lo, row_hi) of the buffer ``packed`` (layout ``[row block][group]
        [block][group]``, see ``kernels.int8_microkernel.pack_a_groups``) are rows first + row_lo ..
        first + row_hi of A (zeros past the last row); their sums go to ``row_sums``."""


class MatrixRows:
    """A row source for a matrix A [M, K]."""

    def __init__(self, a: np.ndarray):
        self.a = a
        self.rows, self.depth = a.shape
        self.dtype = a.dtype

    def pack(self, flip, first, row_lo, row_hi, group, block, packed, row_sums) -> None:
        pack_a_groups(self.a[first:], flip, row_lo, row_hi, group, block, packed, row_sums)


@dataclass(frozen=True)
class RowsOfA:
    """Rows of A for a backend's tile kernel: either ``packed`` (the backend's layout) with
    ``row_sums`` (int32, one per row, padding rows included), or, for a kernel that packs row
    blocks itself (AMX), the ``matrix`` [rows, K] (the kernel then sums the rows it needs)."""

    packed: np.ndarray | None = None
    row_sums: np.ndarray | None = None
    matrix: np.ndarray | None = None


class _Backend:
    """One of the packed INT8 kernels: its packed dtypes and layouts, and how to pack operands for it
    and run tiles with it (``kernels/int8_microkernel.py``: "vnni", "portable")."""

    def __init__(self, name: str, a_dtype, b_dtype, cols: int, *, rows: int = MR, a_block: int = MR,
                 a_group: int | None = None, b_block: int | None = None, b_block_pad: int = 0,
                 k_multiple: int | None = None, packed_few_rows: bool = False):
        self.name = name
        self.packed_few_rows = packed_few_rows  # products of < FEW_ROWS rows and prepacked B use the packed kernel
        self.a_dtype, self.b_dtype = np.dtype(a_dtype), np.dtype(b_dtype)
        self.rows = rows  # row multiple of packed A (the microkernel's rows)
        self.cols = cols  # column multiple of packed B (the microkernel's columns)
        self.a_block = a_block  # rows per block of packed A
        self.group = group_size(a_dtype) if a_group is None else a_group  # k per group of packed A
        self.b_block = cols if b_block is None else b_block  # columns per block of packed B
        self.b_block_pad = b_block_pad  # bytes after each block of packed B
        self.k_multiple = group_size(b_dtype) if k_multiple is None else k_multiple  # packed B's K padding

    def a_size(self, rows: int, depth: int) -> int:
        """Values of packed A for ``rows`` rows (a multiple of ``self.rows``)."""
        return rows * _round_up(depth, self.group)

    def b_size(self, cols: int, depth: int) -> int:
        """Values of packed B for ``cols`` columns (a multiple of ``self.cols``), block padding included."""
        pad = cols // self.b_block * self.b_block_pad // self.b_dtype.itemsize
        return cols * _round_up(depth, self.k_multiple) + pad

    def a_flip(self, dtype: np.dtype) -> np.uint8:
        """The bits packing flips in every value of an A of ``dtype``: 0x80 for int8 A, stored
        as ``a ^ 0x80 = a + 128`` for the kernels that multiply unsigned bytes (the zero point
        absorbs the 128), else 0."""
        return np.uint8(0x80 if dtype == np.int8 else 0)

    def packed_a_dtype(self, dtype: np.dtype) -> np.dtype:
        """The dtype of packed A for an A of ``dtype``."""
        return self.a_dtype

    def packs_rows_in_tiles(self, source: RowSource) -> bool:
        """Whether the tile kernel packs ``source``'s rows itself (no packing pass over A), one
        row block at a time, claiming each so that threads can share a tile's rows."""
        return False

    def packs_b_in_tiles(self, weights: PackedB) -> bool:
        """Whether the tile kernel can pack ``weights`` (not yet packed) itself, all of B shared
        by the threads that run the product's tiles."""
        return False

    def rows_of_a(self, source: RowSource, first: int, count: int, slot: str, parallel: bool) -> RowsOfA:
        """Rows first .. first + count of ``source`` for the tile kernel: packed into the calling
        thread's scratch ``slot``, rows padded to a multiple of ``self.rows``, with their row sums
        (which the packers compute on the way). With ``parallel`` (never from inside a tile), the
        host threads pack row pieces of a large A."""
        padded_rows = _round_up(count, self.rows)
        packed = scratch_vector(slot, self.a_size(padded_rows, source.depth), self.packed_a_dtype(source.dtype))
        row_sums = np.empty(padded_rows, np.int32)
        flip = self.a_flip(source.dtype)
        if not parallel or count * source.depth < PARALLEL_PACK_VALUES:
            source.pack(flip, first, 0, padded_rows, self.group, self.a_block, packed, row_sums)
        else:
            step = _round_up(-(-padded_rows // _tiles.THREADS), self.rows)
            _tiles.run_on_host(
                lambda piece: source.pack(flip, first, piece[0], piece[1], self.group, self.a_block, packed, row_sums),
                [(lo, min(lo + step, padded_rows), 0, 0) for lo in range(0, padded_rows, step)])
        return RowsOfA(packed=packed, row_sums=row_sums)

    def sums(self, rows: int) -> np.ndarray:
        """The calling thread's int32 [rows, cols] buffer of a tile's raw sums."""
        return scratch_vector("int8 sums", rows * self.cols, np.int32).reshape(-1, self.cols)

    def tile(self, product: _Product, a: RowsOfA, rows, row_lo, row_hi, col_lo, col_hi, out, claims=None,
             reserve=0, strip=None) -> None:
        """Output block [row_lo, row_hi) x [col_lo, col_hi) (rows of ``a``) into ``out``. Kernels
        that claim row blocks (``packs_rows_in_tiles``) go through the block in column strips of
        ``strip`` columns (default: all), taking each strip's row blocks from its counter in
        ``claims`` (int64, one per strip, see ``kernels.amx.gemm_amx_tile``), shared by threads
        running the same block; this one computes the whole block."""
        gemm_packed_tile(a.packed, product.packed, product.depth, K_TILE, a.row_sums, *product.kernel_arguments,
                         rows, product.cols, row_lo, row_hi, col_lo, col_hi, self.sums(row_hi - row_lo), out)


class _AmxBackend(_Backend):
    """The AMX kernel (``kernels/amx.py``): 32 x 32 blocks of four 16 x 16 tiles, K in blocks of 64.
    A keeps its dtype (``tdpbusd`` for uint8, ``tdpbssd`` for int8). The tile kernel packs a
    matrix A itself, one row block at a time into a buffer that stays in cache, so that no
    packing pass over A precedes the tiles."""

    def __init__(self):
        # a_dtype only sizes packed A here: A keeps its own dtype (packed_a_dtype)
        super().__init__("amx", np.uint8, np.int8, amx.NR, rows=amx.MR, a_block=amx.TILE, a_group=amx.K_BLOCK,
                         b_block=amx.TILE, b_block_pad=amx.B_BLOCK_PAD, k_multiple=amx.K_BLOCK, packed_few_rows=True)
        self.config = amx.tile_config()

    def a_flip(self, dtype: np.dtype) -> np.uint8:
        return np.uint8(0)

    def packed_a_dtype(self, dtype: np.dtype) -> np.dtype:
        return np.dtype(dtype)

    def packs_rows_in_tiles(self, source: RowSource) -> bool:
        """A matrix whose rows are contiguous."""
        return isinstance(source, MatrixRows) and (source.a.strides[1] == 1 or source.depth <= 1)

    def packs_b_in_tiles(self, weights: PackedB) -> bool:
        """B read in place (rows contiguous), not packed yet."""
        return weights.b is weights.source and not weights.packed_all

    def rows_of_a(self, source: RowSource, first: int, count: int, slot: str, parallel: bool) -> RowsOfA:
        """A matrix that the tile kernel packs itself, as it is; other row sources packed."""
        if not self.packs_rows_in_tiles(source):
            return super().rows_of_a(source, first, count, slot, parallel)
        return RowsOfA(matrix=source.a[first:first + count])

    def tile(self, product: _Product, a: RowsOfA, rows, row_lo, row_hi, col_lo, col_hi, out, claims=None,
             reserve=0, strip=None) -> None:
        # Once per process, also in one that runs this tile for another (e.g. a dask worker).
        if not amx.request_permission():
            raise RuntimeError("AMX: Linux refused this process the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM)")
        strip = col_hi - col_lo if strip is None else strip
        sums = scratch_vector("int8 sums", amx.MR * strip, np.int32).reshape(amx.MR, strip)
        if a.matrix is None:
            matrix, packed, row_sums = _NO_MATRIX[a.packed.dtype], a.packed, a.row_sums
        else:  # the kernel packs (and sums) one row block at a time into this thread's buffers
            matrix = a.matrix
            packed = scratch_vector("amx A block", self.a_size(amx.MR, product.depth), matrix.dtype)
            row_sums = scratch_vector("amx row sums", row_hi, np.int32)
        weights = product.weights
        if product.packing is None:  # B is packed
            b, chunk, progress = _NO_MATRIX[np.dtype(np.int8)], 0, _NO_PROGRESS
        else:  # the kernel packs B first, with the other threads, in chunks of about PACK_CHUNK_BYTES
            b, progress = weights.b, product.packing
            chunk = _round_up(max(PACK_CHUNK_BYTES // max(weights.depth, 1), 1), amx.NR)
        gemm_amx_tile(matrix, a.matrix is not None, product.row_sums_needed, packed, product.packed, b,
                      weights.positions, weights.flip, chunk, progress, product.depth, self.config, row_sums,
                      *product.kernel_arguments, rows, product.cols, row_lo, row_hi, col_lo, col_hi, strip,
                      np.zeros(-(-(col_hi - col_lo) // strip), np.int64) if claims is None else claims,
                      reserve, product.stream, sums, out, _workers.released)


#: The unused matrix arguments of the AMX kernel when A comes packed, or B.
_NO_MATRIX = {np.dtype(t): np.zeros((0, 0), t) for t in (np.uint8, np.int8)}
#: The unused progress counters of the AMX kernel when B comes packed.
_NO_PROGRESS = np.zeros(2, np.int64)


_BACKENDS = {
    "portable": _Backend("portable", np.int16, np.int16, PAIR_COLUMNS),
    "vnni": _Backend("vnni", np.uint8, np.int8, VNNI_COLUMNS, packed_few_rows=True),
    "amx": _AmxBackend(),
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


class PackedB:
    """B [K, N] (int8/uint8) in a backend's packed layout with its column sums; with ``positions``
    > 1, K is transposed from (channel, position) to (position, channel) order
    (``kernels.int8_microkernel.pack_b_groups``).

    Packed lazily by column ranges (each column strip's thread packs its own) or all at once.
    The packer reads rows of B: a B whose columns are contiguous (a transposed view, e.g. OIHW
    convolution weights) is first copied row-major, each range by its packer, into a second
    buffer. The buffers are the calling thread's scratch when ``scratch`` names a slot (slots
    ``scratch`` and ``scratch + " rows"``: B packed for one call), else owned (weights packed
    once; the row-major copy is dropped once all is packed).
    """

    def __init__(self, backend, b: np.ndarray, scratch: str | None = None, positions: int = 1):
        self.backend, self.source = backend, b
        self.b = b if _rows_contiguous(b) else _buffer(None if scratch is None else scratch + " rows", b.size,
                                                       b.dtype).reshape(b.shape)
        self.positions = positions
        self.dtype = b.dtype
        self.shape = b.shape
        self.depth, self.cols = b.shape
        self.padded_cols = _round_up(self.cols, backend.cols)
        self.flip = np.uint8(0x80 if b.dtype == np.uint8 else 0)
        size = backend.b_size(self.padded_cols, self.depth)
        self.packed = _buffer(scratch, size, backend.b_dtype)
        self.col_sums = np.empty(self.padded_cols, np.int32)
        self.packed_all = False  # True once every column is packed

    def pack(self, col_lo: int, col_hi: int) -> "PackedB":
        """Pack columns [col_lo, col_hi), multiples of the backend's NR (the end may pass N)."""
        if self.b is not self.source:  # the B packer reads rows: first make these columns row-major
            _copy_columns(self.source, self.b, col_lo, min(col_hi, self.cols))
        backend = self.backend
        pack_b_groups(self.b, self.positions, self.flip, col_lo, min(col_hi, self.padded_cols), backend.b_block,
                      _round_up(self.depth, backend.k_multiple), backend.b_block_pad, self.packed, self.col_sums)
        return self

    def pack_all(self) -> "PackedB":
        self.pack(0, self.padded_cols)
        self.packed_all = True
        self.source = self.b = None  # packed for good: the operand (or its row-major copy) is not needed
        return self


def _buffer(scratch: str | None, size: int, dtype) -> np.ndarray:
    """An aligned vector: the calling thread's ``scratch`` slot, or owned when None."""
    return aligned_empty(size, dtype) if scratch is None else scratch_vector(scratch, size, dtype)


def _rows_contiguous(b: np.ndarray) -> bool:
    return b.shape[0] <= 1 or b.shape[1] <= 1 or b.strides[1] == b.itemsize


def _copy_columns(b: np.ndarray, rows: np.ndarray, col_lo: int, col_hi: int) -> None:
    """``rows[:, col_lo:col_hi] = b[:, col_lo:col_hi]`` into a row-major copy of B [K, N]. When b's
    columns are contiguous (a transposed view, e.g. a convolution's OIHW weights as
    [C * kH * kW, O]) by blocked transposes, so that the B packer reads rows vectorised across
    columns."""
    depth, cols = b.shape
    if col_hi <= col_lo:
        return
    if b.T.flags.c_contiguous:
        transpose_copy(b.T.reshape(-1), col_lo * depth, depth, rows.reshape(-1), col_lo, cols, col_hi - col_lo, depth)
    else:
        np.copyto(rows[:, col_lo:col_hi], b[:, col_lo:col_hi])


class _Product:
    """Packed B with the zero points and epilogue of one call: everything the tile kernels need."""

    def __init__(self, weights: PackedB, a_dtype: np.dtype, a_zero_point: int, b_zero_points: np.ndarray,
                 epilogue: Epilogue, stream: bool = False, packed_by_tiles: bool = False):
        backend, cols, padded = weights.backend, weights.cols, weights.padded_cols
        self.backend, self.weights = backend, weights
        self.depth, self.cols, self.padded_cols = weights.depth, cols, padded
        za = np.int32(a_zero_point + (128 if backend.a_flip(a_dtype) else 0))
        zb = _padded(np.asarray(b_zero_points - 128 if weights.dtype == np.uint8 else b_zero_points, np.int32), padded)
        self.row_sums_needed = np.count_nonzero(zb) > 0  # zb * rowsum(A) is the only use of A's row sums
        self.stream = stream  # results bypass the caches (AMX kernel only)
        #: With B packed by the tile kernels (``_Backend.packs_b_in_tiles``): their shared progress.
        self.packing = np.zeros(2, np.int64) if packed_by_tiles else None
        multipliers, quantized, shifts = (_padded(x, padded) for x in epilogue.arrays(cols))
        #: The tile kernels' arguments from ``col_sums`` to ``high``.
        self.kernel_arguments = (weights.col_sums, za, zb, _padded(epilogue.bias, padded), epilogue.mode, multipliers,
                                 quantized, shifts, np.int32(epilogue.zero_point), np.int32(epilogue.low),
                                 np.int32(epilogue.high))

    @property
    def packed(self) -> np.ndarray:
        return self.weights.packed

    def tile(self, a: RowsOfA, rows, row_lo, row_hi, col_lo, col_hi, out, claims=None, reserve=0, strip=None) -> None:
        self.backend.tile(self, a, rows, row_lo, row_hi, col_lo, col_hi, out, claims, reserve, strip)


def gemm_int8(a: np.ndarray, b, a_zero_point: int, b_zero_points: np.ndarray, epilogue: Epilogue) -> np.ndarray:
    """``epilogue((a - a_zero_point) @ (b - b_zero_points))`` for 2-D int8/uint8 a [M, K] and b [K, N]
    (an array, or prepacked weights from ``ops.prepack``)."""
    out = aligned_empty((a.shape[0], b.shape[1]), epilogue.out_dtype)
    prepacked = isinstance(b, Prepacked)
    if 0 < a.shape[0] < FEW_ROWS and b.shape[1] and not (prepacked and _backend().packed_few_rows):
        _gemm_few_rows(a, b.weights if prepacked else b, a_zero_point, b_zero_points, epilogue, out)
    else:
        gemm_int8_rows(MatrixRows(a), b, a_zero_point, b_zero_points, epilogue, out)
    return out


def gemm_int8_rows(source: RowSource, b, a_zero_point: int, b_zero_points: np.ndarray, epilogue: Epilogue,
                   out: np.ndarray | None, max_packed_bytes: int | None = None,
                   tile_done: Callable[[_tiles.Tile, np.ndarray], None] | None = None, b_positions: int = 1) -> None:
    """``out[...] = epilogue((A - a_zero_point) @ (b - b_zero_points))`` for the rows A of
    ``source`` and b [K, N] (an array, packed with ``b_positions`` as ``PackedB`` does; prepacked
    weights; or a ``PackedB``); ``out`` is [M, N] with contiguous rows. A is packed whole unless
    that takes more than ``max_packed_bytes``; then it is packed in row chunks of at most
    ``CHUNK_BYTES`` per thread (a matrix on AMX: by the tile kernel, see ``rows_of_a``).

    ``tile_done(tile, rows)`` runs once a tile's block (rows and columns inside [M, N]) is final,
    with ``rows`` [tile rows, N] holding it; in the tile's thread unless the tiles run in other
    processes. With ``out`` None (``tile_done`` then takes the results), row chunks run here keep
    their rows in per-thread scratch, so that no [M, N] buffer is needed."""
    rows, depth, cols = source.rows, source.depth, b.shape[1]
    if rows == 0 or cols == 0:
        return
    backend = _backend()
    padded_rows = _round_up(rows, backend.rows)
    whole = max_packed_bytes is None or (
        backend.a_size(padded_rows, depth) * backend.a_dtype.itemsize <= max_packed_bytes)
    threshold = PARALLEL_MACS[backend.name] if isinstance(source, MatrixRows) else PATCHES_PARALLEL_MACS
    alone = rows * depth * cols < threshold and not _tiles.on_a_device()
    packs_rows = backend.packs_rows_in_tiles(source)
    # On the host, threads share the row blocks of strips whose tile kernel packs them itself
    # (``_Backend.packs_rows_in_tiles``), instead of splitting rows between them.
    shared = packs_rows and tile_done is None and not _tiles.on_a_device()
    weights = _weights(backend, b, b_positions)
    blocks = -(-padded_rows // backend.rows)
    # Such kernels may also pack a fresh B, all threads together, when they share every strip and
    # all of B fits one strip (in cache when the strip uses it; with more strips, each thread
    # packing its own strips of B was faster: 2048^3 on AMX 0.95x the time).
    packed_by_tiles = (shared and whole and not alone and _caller_blocks(blocks) > 0
                       and backend.packs_b_in_tiles(weights) and weights.padded_cols <= _strip_columns(backend, depth))
    if whole and alone:
        tiles, column_strips = [(0, padded_rows, 0, _round_up(cols, backend.cols))], True  # all on this thread
    elif whole:
        # Each thread packs its own part of a fresh B, rather than all waiting for all of it,
        # when A is the smaller operand or needs no packing pass.
        own_b = not packed_by_tiles and (rows < cols or (isinstance(b, np.ndarray) and packs_rows))
        tiles, column_strips = _tiles.plan_tiles(padded_rows, _round_up(cols, backend.cols), row_multiple=backend.rows,
                                                 threads=1 if shared else None,
                                                 n_tile=_strip_width(backend, depth, cols, own_b))
    else:
        chunk = CHUNK_BYTES // max(backend.a_size(1, depth) * backend.a_dtype.itemsize, 1)
        tiles, column_strips = _tiles.row_chunks(rows, rows, chunk, cols), False
    rows_here = out is None and not column_strips and _tiles.tiles_run_here()
    if out is None and not rows_here:
        out = scratch_vector("int8 product", rows * cols, epilogue.out_dtype).reshape(rows, cols)
    if not column_strips and not weights.packed_all:
        _pack_now(weights)
    # An output that tile_done reads back at once stays cached.
    stream = tile_done is None and out.nbytes > STREAM_BYTES
    if isinstance(b, Prepacked):
        product = b.product(weights, source.dtype, a_zero_point, b_zero_points, epilogue, stream)
    else:
        product = _Product(weights, source.dtype, a_zero_point, b_zero_points, epilogue, stream, packed_by_tiles)

    def inside(tile: _tiles.Tile) -> _tiles.Tile:
        return tile[0], min(tile[1], rows), tile[2], min(tile[3], cols)

    helper = None
    if whole and column_strips:  # every strip reads all of A: pack it first, with all threads
        a = backend.rows_of_a(source, 0, rows, "int8 packed A", parallel=True)
        shared, reserve = shared and not alone, _caller_blocks(blocks)
        if shared and reserve and (weights.packed_all or product.packing is not None):
            _go_through_strips_together(product, a, rows, tiles, out, reserve)
            return
        strips = _Strips(product, a, rows, tiles, blocks, out, shared=shared)
        run = strips.run
        if strips.shared:
            helper = strips.join
    else:  # row tiles: each packs its own rows of A (into its thread's scratch, or in the tile kernel)
        def run(tile: _tiles.Tile) -> None:
            row_lo, row_hi = tile[0], min(tile[1], rows)
            count = row_hi - row_lo
            a = backend.rows_of_a(source, row_lo, count, "int8 rows A", parallel=False)
            if rows_here:
                block = scratch_vector("int8 rows", count * cols, epilogue.out_dtype).reshape(count, cols)
            else:
                block = out[row_lo:row_hi]
            product.tile(a, count, 0, _round_up(count, backend.rows), 0, product.padded_cols, block)
            if rows_here:
                tile_done(inside(tile), block)

    def after(tile: _tiles.Tile) -> None:
        tile = inside(tile)
        tile_done(tile, out[tile[0]:tile[1]])

    _tiles.run_tiles(run, tiles, out=out, region=lambda tile: _block(inside(tile)),
                     after=None if tile_done is None or rows_here else after, helper=helper)


def _go_through_strips_together(product: _Product, a: RowsOfA, rows: int, strips: list[_tiles.Tile],
                                out: np.ndarray, reserve: int) -> None:
    """Every host thread goes through all the column strips at once, B packed (or packed by the
    tile kernels, each call's first step, shared by the threads that make it): one tile-kernel
    call per thread, which claims row blocks from one counter per strip (kernels that claim row
    blocks, ``_Backend.packs_rows_in_tiles``). Worker threads leave each strip's last ``reserve``
    blocks to the calling thread (as in ``_Strips``)."""
    claims = np.zeros(len(strips), np.int64)
    row_lo, row_hi, col_lo, strip = strips[0][0], strips[0][1], strips[0][2], strips[0][3] - strips[0][2]
    _tiles.run_together(lambda caller: product.tile(a, rows, row_lo, row_hi, col_lo, strips[-1][3], out, claims,
                                                    0 if caller else reserve, strip))


class _Strips:
    """The column strips of one product [rows, N] (tiles of all rows), each computed by its owner
    (``run``, a task of ``run_tiles``: packs the strip's columns of a fresh B, then computes it).

    ``shared`` (kernels that claim row blocks, on the host): the threads share each strip's row
    blocks through a counter per strip. With a fresh B, each owner packs its columns first; then
    every thread, once no task is left, joins the strips whose B is packed. (Strips of many row
    blocks whose B is packed go to ``_go_through_strips_together`` instead.) Worker threads leave a
    strip's last ``CALLER_BLOCKS`` blocks to the calling thread, which joins every strip (waiting
    for its B) and takes what is left: it finds the worker threads done rather than sleeping until
    they are, and a worker that wakes late does less of the work instead of finishing last."""

    def __init__(self, product: _Product, a: RowsOfA, rows: int, strips: list[_tiles.Tile], blocks: int,
                 out: np.ndarray, shared: bool):
        self.product, self.a, self.rows, self.strips, self.blocks, self.out = product, a, rows, strips, blocks, out
        self.shared = shared
        self.index = {strip: s for s, strip in enumerate(strips)}
        self.claims = np.zeros(len(strips), np.int64)  # row blocks of each strip claimed so far
        self.packed = [product.weights.packed_all] * len(strips)  # whether a strip's columns of B are packed
        # Shared with B to pack: set once a strip's packing has ended (or failed). Not otherwise,
        # so that the strips can go to a device's tasks in other processes.
        self.settled = [threading.Event() for _ in strips] if shared and not all(self.packed) else None
        self.caller = threading.get_ident()
        self.reserve = _caller_blocks(blocks) if shared else 0

    def run(self, strip: _tiles.Tile) -> None:
        s = self.index[strip]
        if not self.packed[s]:
            try:
                self.product.weights.pack(strip[2], strip[3])  # each strip's owner packs its own columns of B
                self.packed[s] = True
            finally:  # a caller waiting for the strip goes on; a failed packing raises from the owner's task
                if self.settled is not None:
                    self.settled[s].set()
        self._claim(s, s + 1)

    def join(self) -> None:
        """Claim row blocks of every strip whose B is packed; the caller waits for each strip's B.
        With all of B packed, one kernel call goes through the strips in order."""
        if all(self.packed):
            self._claim(0, len(self.strips))
            return
        caller = threading.get_ident() == self.caller
        for s in range(len(self.strips)):
            if self.settled is not None:
                if caller:
                    self.settled[s].wait()  # its owner is packing it: the caller ran every task no worker took
                if not self.settled[s].is_set():
                    continue
            self._claim(s, s + 1)

    def _claim(self, first: int, last: int) -> None:
        """Claim row blocks of strips [first, last) (their B packed), strip after strip, if any of them
        has blocks left for this thread. Every strip is checked: strips owned by different threads
        are left in any order, with different reserves (a worker's owner task leaves the caller
        its reserve of a strip that the caller's own task emptied before it)."""
        reserve = self.reserve if threading.get_ident() != self.caller else 0
        if self.packed[first] and self.claims[first:last].min() < self.blocks - reserve:
            lo = self.strips[first][2]
            self.product.tile(self.a, self.rows, self.strips[first][0], self.strips[first][1], lo,
                              self.strips[last - 1][3], self.out, self.claims[first:last], reserve,
                              self.strips[first][3] - lo)


def _caller_blocks(blocks: int) -> int:
    """Row blocks that worker threads leave to the calling thread in a shared strip of ``blocks``:
    only in strips of many blocks (in a strip of a few, two blocks are a large share of the work)."""
    return min(CALLER_BLOCKS, blocks // 16)


def _strip_width(backend: _Backend, depth: int, cols: int, own_b: bool) -> int:
    """Columns per strip, a multiple of the backend's column block.

    On the host, as many as keep a strip's packed B within ``STRIP_BYTES`` (each strip reads all
    of A, so narrow strips multiply the traffic of A), and with ``own_b`` no more than a thread's
    share of the columns: then every thread gets a strip and packs its own part of B, rather than
    all threads waiting for B to be packed before rows are split; then, when there are several
    strips, the fewest strips of near-equal width whose count is a multiple of the threads, where
    one exists (a balanced load).
    On a device with more cores than host threads, an equal share of the columns for each core,
    but at least the chip's 128-column tile (with fewer cores the host's plan already gives every
    core tiles)."""
    host = _strip_width_on_host(backend, depth, cols, own_b)
    if _tiles.workers() > _tiles.THREADS:
        return _round_up(max(_tiles.N_TILE, min(-(-cols // _tiles.workers()), host)), backend.cols)
    return host


def _strip_columns(backend: _Backend, depth: int) -> int:
    """Columns whose packed B fits ``STRIP_BYTES`` (block padding aside: 1024 columns at K = 1024)."""
    return STRIP_BYTES // max(backend.b_size(1, depth) * backend.b_dtype.itemsize, 1)


def _strip_width_on_host(backend: _Backend, depth: int, cols: int, own_b: bool) -> int:
    width = max(backend.cols, _strip_columns(backend, depth) // backend.cols * backend.cols)
    if own_b:
        width = min(width, _round_up(-(-cols // _tiles.THREADS), backend.cols))
    blocks, most = -(-cols // backend.cols), width // backend.cols
    if blocks <= most:
        return width  # one strip: rows are split instead
    # the fewest strips, in multiples of the threads, that cut the column blocks evenly
    for strips in range(_round_up(-(-blocks // most), _tiles.THREADS), blocks + 1, _tiles.THREADS):
        per_strip = -(-blocks // strips)
        if -(-blocks // per_strip) % _tiles.THREADS == 0:
            return per_strip * backend.cols
    return width


def _block(tile: _tiles.Tile) -> tuple[slice, slice]:
    """The part of a 2-D output that a tile (inside it) writes."""
    return slice(tile[0], tile[1]), slice(tile[2], tile[3])


def _weights(backend: _Backend, b, positions: int) -> PackedB:
    """B for ``backend``: prepacked weights as they are; an array to pack into this call's scratch
    (by ``_pack_now``, by each column strip's owner, or by the tile kernels)."""
    if isinstance(b, PackedB):
        return b
    if isinstance(b, Prepacked):
        return b.matrices(backend)[0]
    return PackedB(backend, b, scratch="int8 packed B", positions=positions)


def _pack_now(weights: PackedB) -> None:
    """Pack all of ``weights``, with all host threads when it is large."""
    threads = _tiles.THREADS if weights.depth * weights.cols >= PARALLEL_PACK_VALUES else 1
    step = _round_up(-(-weights.padded_cols // threads), weights.backend.cols)
    _tiles.run_on_host(lambda piece: weights.pack(piece[2], piece[3]),
                       [(0, 0, lo, min(lo + step, weights.padded_cols)) for lo in range(0, weights.padded_cols, step)])
    weights.packed_all = True


def conv_weight_matrices(w: np.ndarray, groups: int) -> list[np.ndarray]:
    """OIHW weights as one GEMM operand [C/groups * kH * kW, O/groups] per group (views:
    k = (c * kH + i) * kW + j)."""
    per_group = w.shape[0] // groups
    return [w[g * per_group:(g + 1) * per_group].reshape(per_group, -1).T for g in range(groups)]


class Prepacked:
    """Integer weights packed once for the INT8 engine (returned by ``ik.ops.prepack``).

    Holds a read-only copy of the weights (so later changes to the caller's array cannot make the
    packed bytes stale) and their packed GEMM operands, one per (path, groups): a matrix [K, N] is
    one operand; OIHW convolution weights give one [C/groups * kH * kW, O/groups] operand per group,
    packed with K in (kernel position, channel) order, the order of
    ``kernels.int8_microkernel.pack_patches_groups``.
    Packing happens once per key, under a lock; the buffers are 64-byte aligned.
    """

    def __init__(self, weights: np.ndarray):
        self.weights = np.array(weights, copy=True)
        self.weights.flags.writeable = False
        self._packed: dict[tuple, list[PackedB]] = {}
        self._lock = threading.Lock()
        self._products: Recent[_Product] = Recent(KEPT_PRODUCTS)

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
                if groups is None:
                    self._packed[key] = [PackedB(backend, self.weights).pack_all()]
                else:
                    positions = self.weights.shape[2] * self.weights.shape[3]
                    self._packed[key] = [PackedB(backend, b, positions=positions).pack_all()
                                         for b in conv_weight_matrices(self.weights, groups)]
            return self._packed[key]

    def product(self, weights: PackedB, a_dtype: np.dtype, a_zero_point: int, b_zero_points: np.ndarray,
                epilogue: Epilogue, stream: bool) -> _Product:
        """``weights`` (one of ``matrices``) with the rest of a call's operands (``_Product``), kept
        for later calls with the same A dtype, zero point and streaming, and the same zero-point and
        epilogue *objects*: the ops pass the same ones for repeated per-tensor zero points, plain
        int32 results and repeated QParams, so that calls with stationary weights skip this step.
        (Kept here, not in ``weights``, which a product refers to: that cycle would keep packed
        weights alive until the garbage collector's next full pass.)"""
        key = (id(weights), a_dtype, a_zero_point, id(b_zero_points), id(epilogue), stream)
        return self._products.get(key, (weights, b_zero_points, epilogue), lambda: _Product(
            weights, a_dtype, a_zero_point, b_zero_points, epilogue, stream))

    def __repr__(self) -> str:
        return f"Prepacked(shape={self.shape}, dtype={self.dtype.name}, packed for {sorted(self._packed)})"


def _gemm_few_rows(a, b, a_zero_point, b_zero_points, epilogue, out) -> None:
    """Fewer rows than the microkernel's: no packing, B read in place, one column strip per thread
    (one strip in all below ``FEW_ROWS_PARALLEL_MACS`` off a device)."""
    multipliers, quantized, shifts = epilogue.arrays(b.shape[1])
    za = np.int32(a_zero_point)
    zb = b_zero_points.astype(np.int32)
    alone = a.size * b.shape[1] < FEW_ROWS_PARALLEL_MACS and not _tiles.on_a_device()
    # One wide strip per thread: each k then updates a long, vectorised run of columns.
    step = max(64, -(-b.shape[1] // (64 * (1 if alone else _tiles.THREADS))) * 64)
    tiles = [(0, a.shape[0], lo, min(lo + step, b.shape[1])) for lo in range(0, b.shape[1], step)]

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi, col_lo, col_hi = tile
        scratch = np.empty((row_hi - row_lo, col_hi - col_lo), np.int32)
        gemm_rows_tile(a, b, za, zb, epilogue.bias, epilogue.mode, multipliers, quantized, shifts,
                       np.int32(epilogue.zero_point), np.int32(epilogue.low), np.int32(epilogue.high),
                       row_lo, row_hi, col_lo, col_hi, scratch, out)

    _tiles.run_tiles(run, tiles, out=out, region=_block)
