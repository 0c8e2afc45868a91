"""LLVM operations numba does not expose: float32/int32 bit casts, fused multiply-add, and
64-byte copies in one vector move (cached, or streamed past the caches)."""

from __future__ import annotations

import platform

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["X86", "copy_64_bytes", "f32_from_u32", "fma_f32", "store_fence", "stream_64_bytes", "u32_from_f32"]

#: Whether the JIT target (the host) is x86-64.
X86 = platform.machine() in ("x86_64", "AMD64")


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


def _copy_64_bytes_codegen(nontemporal: bool):
    def codegen(context, builder, signature, args):
        byte_ptr = ir.IntType(8).as_pointer()
        piece = ir.VectorType(ir.IntType(8), 64).as_pointer()
        to, at = (context.cast(builder, args[i], signature.args[i], types.int64) for i in (1, 3))
        dst_base = builder.bitcast(context.make_array(signature.args[0])(context, builder, args[0]).data, byte_ptr)
        src_base = builder.bitcast(context.make_array(signature.args[2])(context, builder, args[2]).data, byte_ptr)
        value = builder.load(builder.bitcast(builder.gep(src_base, [at]), piece), align=1)
        store = builder.store(value, builder.bitcast(builder.gep(dst_base, [to]), piece),
                              align=64 if nontemporal else 1)
        if nontemporal:
            store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()

    return codegen


@intrinsic
def copy_64_bytes(typingctx, dst, dst_offset, src, src_offset):
    """Copy the 64 bytes at byte ``src_offset`` of ``src``'s data to byte ``dst_offset`` of
    ``dst``'s (arrays of any dtype and layout; offsets in bytes from each array's first element,
    not checked): one vector load and store, where a loop over 64 bytes would stay scalar because
    LLVM cannot rule out that the arrays overlap."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array)):
        return None
    return types.void(dst, dst_offset, src, src_offset), _copy_64_bytes_codegen(nontemporal=False)


@intrinsic
def stream_64_bytes(typingctx, dst, dst_offset, src, src_offset):
    """``copy_64_bytes`` with a non-temporal store: the line goes to memory without being read
    into the caches first or evicting anything there. The destination address must be a multiple
    of 64 (unchecked: a misaligned one faults), and other threads may see the store only after
    a ``store_fence``."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array)):
        return None
    return types.void(dst, dst_offset, src, src_offset), _copy_64_bytes_codegen(nontemporal=True)


@intrinsic
def store_fence(typingctx):
    """Order the calling thread's non-temporal stores before its later stores (``sfence`` on
    x86, a release fence elsewhere)."""

    def codegen(context, builder, signature, args):
        if X86:
            fence = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                   "llvm.x86.sse.sfence")
            builder.call(fence, [])
        else:
            builder.fence("release")
        return context.get_dummy_value()

    return types.void(), codegen
