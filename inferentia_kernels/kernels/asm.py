"""Which instructions the kernels' hot loops compile to on the JIT target.

``hot_loop(kernel, *args)`` compiles a fresh, uncached copy of ``kernel`` for the argument types
of ``args`` (numba does not show the assembly of cached code) and returns the mnemonics of the
innermost loop with the most SIMD multiplications: a GEMM's hot loop. ``HOT_LOOPS`` lists
the package's main loops with small example arguments; ``inferentia-kernels info --asm`` prints
them, and ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` select another target (e.g. an AVX2-only CPU).
"""

from __future__ import annotations

import re

import numba
import numpy as np

from .gemm_float import MR as FLOAT_MR
from .gemm_float import NR as FLOAT_NR
from .gemm_float import gemm_float_tile
from .amx import MR as AMX_MR
from .amx import NR as AMX_NR
from .amx import B_BLOCK_PAD, gemm_amx_tile, tile_config
from .gemm_int8 import gemm_rows_tile
from .int8_microkernel import MR, PAIR_COLUMNS, VNNI_COLUMNS, gemm_packed_tile
from .jit import OPTIONS

__all__ = ["HOT_LOOPS", "hot_loop"]

#: Packed (SIMD) multiplications: vpdpwssd, vpdpbusd, vpmaddwd, vpmulld, vmulps, vfmadd231ps, ...
_PACKED_MULTIPLY = re.compile(r"^v(p\w*(mul|madd|dp)\w*|\w*(mul|fmadd)\w*p[sd])$")
_LABEL = re.compile(r"^\.?LBB\d+_\d+:")


def hot_loop(kernel, *args, containing: str = "") -> tuple[str, ...]:
    """Sorted mnemonics of the innermost loop (a basic block that branches back to itself) of
    ``kernel``, compiled for ``args``, with the most packed (SIMD) multiplications; with
    ``containing``, only loops with an instruction starting with it count (a function can hold
    several versions of a loop, e.g. fused and unfused)."""
    fresh = numba.njit(**{**OPTIONS, "cache": False})(kernel.py_func)
    signature = tuple(numba.typeof(arg) for arg in args)
    fresh.compile(signature)
    loops: list[list[str]] = []  # basic blocks that branch back to their own label
    label, block = None, []
    for line in fresh.inspect_asm(signature).splitlines():
        if _LABEL.match(line):
            label, block = line.rstrip(":").strip(), []
        elif line.startswith("\t") and not line.startswith("\t."):
            mnemonic, *operands = line.split()
            if mnemonic.startswith("{") and operands:  # an encoding prefix: "{vex} vpdpwssd" (AVX-VNNI)
                mnemonic, *operands = operands
            block.append(mnemonic)
            if mnemonic.startswith("j"):
                if operands and operands[0] == label and any(op.startswith(containing) for op in block):
                    loops.append(block)
                label, block = None, []
    best = max(loops, key=lambda ops: sum(bool(_PACKED_MULTIPLY.match(op)) for op in ops), default=[])
    return tuple(sorted(set(best)))


def _packed_int8_args(a_dtype, b_dtype, columns):
    """Arguments of ``gemm_packed_tile`` for one MR x NR block over K = 64."""
    depth = 64
    zeros_i = np.zeros(columns, np.int32)
    return (np.zeros(MR * depth, a_dtype), np.zeros(columns * depth, b_dtype), depth, 256, np.zeros(MR, np.int32),
            zeros_i, np.int32(0), zeros_i, zeros_i, 0, np.zeros(columns, np.float32), zeros_i, zeros_i, np.int32(0),
            np.int32(0), np.int32(0), MR, columns, 0, MR, 0, columns, np.zeros((MR, columns), np.int32),
            np.zeros((MR, columns), np.int32))


def _amx_args():
    """Arguments of ``gemm_amx_tile`` for one 32 x 32 block over K = 128."""
    depth, zeros_i = 128, np.zeros(AMX_NR, np.int32)
    return (np.zeros((AMX_MR, depth), np.uint8), True, False, np.zeros(AMX_MR * depth, np.uint8),
            np.zeros(AMX_NR * depth + AMX_NR // 16 * B_BLOCK_PAD, np.int8), np.zeros((0, 0), np.int8), 1,
            np.uint8(0), 0, np.zeros(2, np.int64), depth, tile_config(), np.zeros(AMX_MR, np.int32), zeros_i,
            np.int32(0), zeros_i, zeros_i, 0, np.zeros(AMX_NR, np.float32), zeros_i, zeros_i, np.int32(0), np.int32(0),
            np.int32(0), AMX_MR, AMX_NR, 0, AMX_MR, 0, AMX_NR, AMX_NR, np.zeros(1, np.int64), 0, False,
            np.zeros((AMX_MR, AMX_NR), np.int32), np.zeros((AMX_MR, AMX_NR), np.int32), np.zeros(0, np.int64))


def _int8_rows_args():
    n = 16
    zeros_i = np.zeros(n, np.int32)
    return (np.zeros((1, n), np.int8), np.zeros((n, n), np.int8), np.int32(0), zeros_i, zeros_i, 0,
            np.zeros(n, np.float32), zeros_i, zeros_i, np.int32(0), np.int32(0), np.int32(0), 0, 1, 0, n,
            np.zeros((1, n), np.int32), np.zeros((1, n), np.int32))


def _float_gemm_args():
    depth = 256  # two K tiles
    return (np.zeros(FLOAT_MR * depth, np.float32), FLOAT_MR, depth, np.zeros(FLOAT_NR * depth, np.float32), FLOAT_NR,
            FLOAT_NR * depth, FLOAT_NR, np.zeros(0, np.float32), 128, 0, FLOAT_MR, 0, FLOAT_NR, FLOAT_MR,
            np.zeros(FLOAT_NR, np.float32), np.float32(-np.inf), np.float32(np.inf), False,
            np.zeros(FLOAT_MR * FLOAT_NR, np.float32), np.zeros((FLOAT_MR, FLOAT_NR), np.float32))


#: name -> (kernel, example arguments, an instruction the loop must contain)
HOT_LOOPS = {
    "INT8 portable microkernel (int16 pairs)": (
        gemm_packed_tile, lambda: _packed_int8_args(np.int16, np.int16, PAIR_COLUMNS), ""),
    "INT8 VNNI microkernel (bytes)": (gemm_packed_tile, lambda: _packed_int8_args(np.uint8, np.int8, VNNI_COLUMNS), ""),
    "INT8 AMX microkernel (tiles)": (gemm_amx_tile, _amx_args, "tdpbusd"),
    "INT8 GEMV rows (gemm_rows_tile)": (gemm_rows_tile, _int8_rows_args, ""),
    "float GEMM, products rounded (fp32)": (gemm_float_tile, _float_gemm_args, "vmulp"),
    "float GEMM, exact products fused (bf16/fp16)": (gemm_float_tile, _float_gemm_args, "vfmadd"),
}
