"""Scalar LLVM operations numba does not expose: float32/int32 bit casts and fused multiply-add."""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["f32_from_u32", "fma_f32", "u32_from_f32"]


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


@intrinsic
def fma_f32(typingctx, a, b, c):
    """``a * b + c`` with a single rounding (``llvm.fma.f32``; a packed FMA once vectorised).

    Equal to ``c + a * b`` whenever ``a * b`` is exact in float32, as for bf16 and fp16 inputs.
    """
    if not (a == b == c == types.float32):
        return None

    def codegen(context, builder, signature, args):
        function_type = ir.FunctionType(ir.FloatType(), [ir.FloatType()] * 3)
        fma = cgutils.get_or_insert_function(builder.module, function_type, "llvm.fma.f32")
        return builder.call(fma, args)

    return types.float32(types.float32, types.float32, types.float32), codegen
