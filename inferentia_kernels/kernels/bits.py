"""Reinterpret scalars between float32 and 32-bit integers inside kernels (LLVM ``bitcast``)."""

from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["f32_from_u32", "u32_from_f32"]


@intrinsic
def u32_from_f32(typingctx, value):
    """The IEEE bit pattern of a float32 scalar."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(types.float32), codegen


@intrinsic
def f32_from_u32(typingctx, value):
    """The float32 scalar whose IEEE bit pattern is the low 32 bits of an integer.

    numba widens unsigned 32-bit arithmetic to 64 bits, so any integer type is accepted.
    """
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], ir.IntType(32)) if value.bitwidth > 32 else args[0]
        return builder.bitcast(low, ir.FloatType())

    return types.float32(value), codegen
