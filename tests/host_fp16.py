"""The host FPU's float32 -> float16 conversion, as a fast, independent peer for the tests.

LLVM lowers ``fptrunc float to half`` to the hardware instruction (F16C ``vcvtps2ph`` or
AVX512-FP16 ``vcvtss2sh``), which rounds to nearest even per IEEE 754. It agrees with numpy's
cast on every non-NaN input; on signalling NaNs the hardware sets the quiet bit and numpy does
not, so NaN inputs are compared with numpy itself.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import binding, ir
from numba.core import types
from numba.extending import intrinsic

HOST_HAS_F16_CONVERSION = bool(binding.get_host_cpu_features().get("f16c", False))


@intrinsic
def _f16_bits_hw(typingctx, value):
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(types.float32), codegen


@numba.njit(nogil=True)
def f16_bits_by_host(src, dst):
    for i in range(src.size):
        dst[i] = _f16_bits_hw(src[i])
