"""Atomic counters for kernels that run at once on several threads and share units of work:
each thread claims the next unit with ``fetch_add`` until none is left, and waits for units
other threads are still doing with ``load_acquire`` and ``spin_pause`` (LLVM operations that
numba does not expose)."""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .bits import X86
from .jit import kernel
from .register_tile import array_data

__all__ = ["fetch_add", "load_acquire", "spin_pause", "wait_for_change", "wait_for_turn"]


def _counter(context, builder, signature, args):
    """A pointer to ``counters[index]`` (the first two arguments)."""
    index = context.cast(builder, args[1], signature.args[1], types.int64)
    return builder.gep(array_data(context, builder, signature.args[0], args[0]), [index])


def _is_counter(counters, index) -> bool:
    return (isinstance(counters, types.Array) and counters.dtype == types.int64 and counters.ndim == 1
            and isinstance(index, types.Integer))


@intrinsic
def fetch_add(typingctx, counters, index, value):
    """Atomically add ``value`` to ``counters[index]`` (an int64 vector) and return the value
    before (sequentially consistent: of several threads adding 1, each gets a different value)."""
    if not (_is_counter(counters, index) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        amount = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", _counter(context, builder, signature, args), amount, "seq_cst")

    return types.int64(counters, index, value), codegen


@intrinsic
def load_acquire(typingctx, counters, index):
    """``counters[index]`` (an int64 vector), read atomically, and read again at every call (a
    plain read in a waiting loop may be hoisted out of it): what a thread wrote before its
    ``fetch_add`` is visible once this read sees that add."""
    if not _is_counter(counters, index):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_counter(context, builder, signature, args), "acquire", 8)

    return types.int64(counters, index), codegen


@intrinsic
def spin_pause(typingctx):
    """Tell the CPU that the thread is waiting in a loop (x86 ``pause``: the loop then takes less
    power and leaves the core's other hardware thread more of it); nothing elsewhere."""

    def codegen(context, builder, signature, args):
        if X86:
            pause = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, pause, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()

    return types.void(), codegen


@kernel
def wait_for_change(counters, index, seen, spins) -> bool:
    """Whether ``counters[index]`` differs from ``seen``, checked up to ``spins`` times with a
    ``spin_pause`` in between."""
    for _ in range(spins):
        if load_acquire(counters, index) != seen:
            return True
        spin_pause()
    return load_acquire(counters, index) != seen


@kernel
def wait_for_turn(given, taken, released, spins) -> None:
    """A worker thread's wait for work, awake and without the interpreter's lock, so that the
    thread handing work over runs on: until ``given[0]``, the count of work handed over, differs
    from ``taken``; then, unless ``given[1]`` is -1, until ``released[0]`` differs from
    ``given[1]`` (another thread's kernel has started: that thread no longer holds the
    interpreter's lock). Each wait gives up after ``spins`` rounds."""
    if wait_for_change(given, 0, taken, spins):
        expected = load_acquire(given, 1)
        if expected >= 0:
            wait_for_change(released, 0, expected, spins)
