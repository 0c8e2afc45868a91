"""LLVM operations numba does not expose: float32/int32 bit casts, fused multiply-add, and a
64-byte copy in one vector move."""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["copy_64_bytes", "f32_from_u32", "fma_f32", "u32_from_f32"]


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


@intrinsic
def copy_64_bytes(typingctx, dst, dst_offset, src, src_offset):
    """Copy the 64 bytes at byte ``src_offset`` of ``src``'s data to byte ``dst_offset`` of
    ``dst``'s (arrays of any dtype and layout; offsets in bytes from each array's first element,
    not checked): one vector load and store, where a loop over 64 bytes would stay scalar because
    LLVM cannot rule out that the arrays overlap."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array)):
        return None

    def codegen(context, builder, signature, args):
        byte_ptr = ir.IntType(8).as_pointer()
        piece = ir.VectorType(ir.IntType(8), 64).as_pointer()
        to, at = (context.cast(builder, args[i], signature.args[i], types.int64) for i in (1, 3))
        dst_base = builder.bitcast(context.make_array(signature.args[0])(context, builder, args[0]).data, byte_ptr)
        src_base = builder.bitcast(context.make_array(signature.args[2])(context, builder, args[2]).data, byte_ptr)
        value = builder.load(builder.bitcast(builder.gep(src_base, [at]), piece), align=1)
        builder.store(value, builder.bitcast(builder.gep(dst_base, [to]), piece), align=1)
        return context.get_dummy_value()

    return types.void(dst, dst_offset, src, src_offset), codegen
