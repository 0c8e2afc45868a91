"""Split a GEMM's output into tiles, each owned by one thread, and run them.

Tiles are column strips of ``N_TILE`` columns (the PE array's 128 output columns), all rows;
when there are fewer strips than threads (GEMV-like shapes) rows are split instead. Results
never depend on the split: integer sums are exact, and the float kernels add every output's
products in a fixed order whatever tile it lands in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["N_TILE", "THREADS", "Tile", "plan_tiles", "row_chunks", "run_tiles"]

#: Columns per tile: the tensor engine's 128 output columns.
N_TILE = 128
#: Threads that run tiles: one per host CPU.
THREADS = os.cpu_count() or 1

Tile = tuple[int, int, int, int]  # row_lo, row_hi, col_lo, col_hi

_pool: ThreadPoolExecutor | None = None


def plan_tiles(rows: int, cols: int, *, row_multiple: int = 4, threads: int | None = None,
               n_tile: int | None = None) -> tuple[list[Tile], bool]:
    """Tiles covering [0, rows) x [0, cols), and whether they are column strips.

    ``rows``/``cols`` are already rounded up to ``row_multiple``; row splits keep that multiple.
    """
    threads = THREADS if threads is None else threads
    n_tile = N_TILE if n_tile is None else n_tile
    strips = [(0, rows, lo, min(lo + n_tile, cols)) for lo in range(0, cols, n_tile)]
    if len(strips) >= threads or rows <= row_multiple:
        return strips, True
    step = -(-rows // (row_multiple * threads)) * row_multiple
    return [(lo, min(lo + step, rows), 0, cols) for lo in range(0, rows, step)], False


def row_chunks(rows: int, segment: int, limit: int, cols: int, *, threads: int | None = None) -> list[Tile]:
    """Tiles of whole rows: chunks of at most ``limit`` rows (a memory bound; a multiple of 4
    when it can be), small enough to give every thread work, never crossing a multiple of
    ``segment`` rows (e.g. an image's pixels)."""
    threads = THREADS if threads is None else threads
    chunk = max(4, min(limit, -(-rows // threads)) // 4 * 4)
    return [
        (lo, min(lo + chunk, start + segment, rows), 0, cols)
        for start in range(0, rows, segment)
        for lo in range(start, min(start + segment, rows), chunk)
    ]


def run_tiles(work: Callable[[Tile], None], tiles: list[Tile]) -> None:
    """Run ``work(tile)`` for every tile: inline for one tile, else on the shared thread pool."""
    global _pool
    if len(tiles) == 1:
        work(tiles[0])
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="inferentia-kernels")
    for future in [_pool.submit(work, tile) for tile in tiles]:
        future.result()
