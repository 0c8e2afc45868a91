"""LLVM IR building blocks of the register-tiled microkernels (float and INT8 GEMM).

A microkernel keeps a block of accumulators, one LLVM vector each, in the phi nodes of a single
IR loop, so LLVM allocates them to registers and nothing is stored until the loop ends. These
helpers emit that loop and the loads and broadcasts around it; what a step computes is the
caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

__all__ = ["accumulate", "array_data", "broadcast", "load_vector", "register_blocking"]

_I32, _I64 = ir.IntType(32), ir.IntType(64)


def register_blocking(features: frozenset[str]) -> tuple[int, int, int]:
    """(lanes, rows, vectors) of a microkernel with 32-bit accumulators for the JIT target's
    vector registers: ``rows x vectors`` accumulators of ``lanes`` lanes."""
    if "avx512f" in features:
        return 16, 6, 4  # 32 zmm: 24 accumulators + 4 of B + broadcast + product
    if "avx" in features:
        return 8, 6, 2  # 16 ymm: 12 accumulators + 2 of B + broadcast + product
    return 4, 6, 2  # 128-bit vectors (SSE, NEON): the same 16-register budget


def array_data(context, builder, array_type, value) -> ir.Value:
    """The data pointer of a numba array argument."""
    return context.make_array(array_type)(context, builder, value).data


def broadcast(builder: ir.IRBuilder, scalar: ir.Value, vector_type: ir.VectorType) -> ir.Value:
    """``scalar`` in every lane of a ``vector_type`` (insertelement + splat shuffle)."""
    lane0 = builder.insert_element(ir.Constant(vector_type, ir.Undefined), scalar, ir.Constant(_I32, 0))
    splat = ir.Constant(ir.VectorType(_I32, vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(lane0, ir.Constant(vector_type, ir.Undefined), splat)


def load_vector(builder: ir.IRBuilder, base: ir.Value, offset: int | ir.Value, vector_type: ir.Type,
                align: int) -> ir.Value:
    """Load a ``vector_type`` at element ``offset`` of the pointer ``base``."""
    index = ir.Constant(_I64, offset) if isinstance(offset, int) else offset
    return builder.load(builder.bitcast(builder.gep(base, [index]), vector_type.as_pointer()), align=align)


def accumulate(builder: ir.IRBuilder, count: ir.Value, initial: Sequence[ir.Value],
               step: Callable[[ir.Value, list[ir.Value]], list[ir.Value]], name: str) -> list[ir.Value]:
    """Emit ``for index in range(count): values = step(index, values)`` (``count`` an i64) with
    ``values`` held in phi nodes, starting from ``initial``; return the values after the loop
    (``initial`` when ``count <= 0``). The builder is left after the loop."""
    entry = builder.block
    loop = builder.append_basic_block(f"{name}.loop")
    done = builder.append_basic_block(f"{name}.done")
    builder.cbranch(builder.icmp_signed(">", count, ir.Constant(_I64, 0)), loop, done)

    builder.position_at_end(loop)
    index = builder.phi(_I64)
    values = [builder.phi(value.type) for value in initial]
    updated = step(index, values)
    next_index = builder.add(index, ir.Constant(_I64, 1))
    loop_end = builder.block
    builder.cbranch(builder.icmp_signed("<", next_index, count), loop, done)
    index.add_incoming(ir.Constant(_I64, 0), entry)
    index.add_incoming(next_index, loop_end)
    for phi, start, value in zip(values, initial, updated):
        phi.add_incoming(start, entry)
        phi.add_incoming(value, loop_end)

    builder.position_at_end(done)
    results = []
    for start, value in zip(initial, updated):
        result = builder.phi(value.type)
        result.add_incoming(start, entry)
        result.add_incoming(value, loop_end)
        results.append(result)
    return results
