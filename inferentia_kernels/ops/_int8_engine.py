"""Run one INT8 GEMM: pack the operands, then run the output tiles (see ``_tiles``).

With column strips each tile's thread packs the columns of B it needs and then runs the serial,
GIL-free tile kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels.gemm_int8 import STORE_INT32, gemm_u8s8_tile, pack_a, pack_b
from . import _tiles

__all__ = ["Epilogue", "gemm_int8"]


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
        zeros_f = np.zeros(cols, np.float32) if self.multipliers is None else self.multipliers
        zeros_i = np.zeros(cols, np.int32)
        q = zeros_i if self.quantized_multipliers is None else self.quantized_multipliers
        s = zeros_i if self.shifts is None else self.shifts
        return zeros_f, q, s


def _col_block(depth: int) -> int:
    """Columns of packed B reused from L2: about 256 KiB of B, a multiple of 4 columns."""
    return max(4, min(_tiles.N_TILE, (256 * 1024 // max(depth, 1)) // 4 * 4))


def gemm_int8(a: np.ndarray, b: np.ndarray, a_zero_point: int, b_zero_points: np.ndarray,
              epilogue: Epilogue) -> np.ndarray:
    """``epilogue((a - a_zero_point) @ (b - b_zero_points))`` for 2-D int8/uint8 a [M, K], b [K, N]."""
    rows, depth = a.shape
    cols = b.shape[1]
    out = np.empty((rows, cols), dtype=epilogue.out_dtype)
    if rows == 0 or cols == 0:
        return out
    rows4 = -(-rows // 4) * 4
    cols4 = -(-cols // 4) * 4

    a_flip = np.uint8(0x80 if a.dtype == np.int8 else 0)
    b_flip = np.uint8(0x80 if b.dtype == np.uint8 else 0)
    za = np.int32(a_zero_point + (128 if a.dtype == np.int8 else 0))
    zb = (b_zero_points - (128 if b.dtype == np.uint8 else 0)).astype(np.int32)

    a_packed = np.zeros((rows4, depth), np.uint8)
    row_sums = np.zeros(rows4, np.int32)
    pack_a(a, a_flip, a_packed, row_sums)
    b_packed = np.zeros((cols4, depth), np.int8)
    col_sums = np.zeros(cols4, np.int32)
    zb4 = np.zeros(cols4, np.int32)
    zb4[:cols] = zb
    bias4 = np.zeros(cols4, np.int32)
    bias4[:cols] = epilogue.bias
    multipliers, quantized, shifts = (np.resize(x, cols4) for x in epilogue.arrays(cols))
    col_block = _col_block(depth)

    tiles, column_strips = _tiles.plan_tiles(rows4, cols4)
    if not column_strips:
        pack_b(b, b_flip, 0, cols, b_packed, col_sums)

    def run(tile: _tiles.Tile) -> None:
        row_lo, row_hi, col_lo, col_hi = tile
        if column_strips:
            # Each strip's owner packs its own columns of B.
            pack_b(b, b_flip, col_lo, min(col_hi, cols), b_packed, col_sums)
        gemm_u8s8_tile(a_packed, b_packed, row_sums, col_sums, za, zb4, bias4, epilogue.mode,
                       multipliers, quantized, shifts, np.int32(epilogue.zero_point),
                       np.int32(epilogue.low), np.int32(epilogue.high), rows, cols,
                       row_lo, row_hi, col_lo, col_hi, col_block, out)

    _tiles.run_tiles(run, tiles)
    return out
