"""An atomic counter for kernels that run at once on several threads and share units of work:
each thread claims the next unit with ``fetch_add`` until none is left (an LLVM atomic that
numba does not expose)."""

from __future__ import annotations

from numba.core import types
from numba.extending import intrinsic

from .register_tile import array_data

__all__ = ["fetch_add"]


@intrinsic
def fetch_add(typingctx, counters, index, value):
    """Atomically add ``value`` to ``counters[index]`` (an int64 vector) and return the value
    before (sequentially consistent: of several threads adding 1, each gets a different value)."""
    if not (isinstance(counters, types.Array) and counters.dtype == types.int64 and counters.ndim == 1
            and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        index_, amount = (context.cast(builder, args[i], signature.args[i], types.int64) for i in (1, 2))
        element = builder.gep(array_data(context, builder, signature.args[0], args[0]), [index_])
        return builder.atomic_rmw("add", element, amount, "seq_cst")

    return types.int64(counters, index, value), codegen
