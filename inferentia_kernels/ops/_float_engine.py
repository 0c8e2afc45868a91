"""Run float GEMMs in the tensor engine's order on the host threads (see ``_int8_engine``).

:func:`gemm_float` takes A whole; :func:`gemm_float_row_chunks` asks for chunks of A's rows, so
a convolution's patch matrix is never materialised whole. Inputs are float32 arrays holding
values already rounded to the precision.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..kernels.gemm_float import gemm_f32_tile
from . import _tiles

__all__ = ["K_TILE", "gemm_float", "gemm_float_row_chunks"]

#: Products summed into one partial before it joins the PSUM: the PE array's 128 rows.
K_TILE = 128
#: Bytes of A rows a row chunk may hold (per thread).
CHUNK_BYTES = 512 * 1024


#: Output columns per pass: 4 partial rows of 512 floats (8 KiB) stay in L1, and a 128 x 512
#: block of B (256 KiB) in L2.
COL_BLOCK = 512


def _run(a_rows, b, bias, low, high, exact_products, row_lo, row_hi, col_lo, col_hi, out) -> None:
    col_block = min(COL_BLOCK, col_hi - col_lo)
    scratch = np.empty((4, col_block), np.float32)
    gemm_f32_tile(a_rows, b, K_TILE, row_lo, row_hi, col_lo, col_hi, col_block, bias, low, high, exact_products,
                  scratch, out)


def _padded_rows(a: np.ndarray) -> np.ndarray:
    """``a`` with zero rows appended up to a multiple of 4 (the kernel's row block)."""
    rows4 = -(-a.shape[0] // 4) * 4
    if rows4 == a.shape[0] and a.flags.c_contiguous:
        return a
    padded = np.zeros((rows4, a.shape[1]), np.float32)
    padded[: a.shape[0]] = a
    return padded


def gemm_float(a: np.ndarray, b: np.ndarray, bias: np.ndarray, low: np.float32, high: np.float32,
               exact_products: bool) -> np.ndarray:
    """2-D float32 a [M, K] @ b [K, N] in the tensor engine's order, then bias and clamp.

    ``exact_products``: the inputs hold bf16 or fp16 values, whose products are exact in float32.
    """
    rows = a.shape[0]
    cols = b.shape[1]
    out = np.empty((rows, cols), np.float32)
    if rows == 0 or cols == 0:
        return out
    a_rows = _padded_rows(a)
    b = np.ascontiguousarray(b)
    # Strips as wide as the column block: a long inner loop is what makes the kernel fast.
    tiles, _ = _tiles.plan_tiles(a_rows.shape[0], cols, n_tile=max(COL_BLOCK, -(-cols // _tiles.THREADS)))
    _tiles.run_tiles(lambda t: _run(a_rows, b, bias, low, high, exact_products, t[0], t[1], t[2], t[3], out), tiles)
    return out


def gemm_float_row_chunks(fill_rows: Callable[[int, np.ndarray], None], out_rows: Callable[[int, int], np.ndarray],
                          rows: int, segment: int, b: np.ndarray, bias: np.ndarray, low: np.float32,
                          high: np.float32, exact_products: bool) -> None:
    """``clamp(A @ b + bias)`` for a float32 A [M, K] that is never stored whole
    (``fill_rows``, ``out_rows`` and ``segment`` as in ``_int8_engine.gemm_int8_row_chunks``)."""
    depth, cols = b.shape
    if rows == 0 or cols == 0:
        return
    b = np.ascontiguousarray(b)

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi = tile[0], tile[1]
        buffer = np.zeros((-(-(row_hi - row_lo) // 4) * 4, depth), np.float32)
        fill_rows(row_lo, buffer[: row_hi - row_lo])
        _run(buffer, b, bias, low, high, exact_products, 0, buffer.shape[0], 0, cols, out_rows(row_lo, row_hi))

    _tiles.run_tiles(run, _tiles.row_chunks(rows, segment, CHUNK_BYTES // (4 * max(depth, 1)), cols))
