"""The only place where numba options are chosen.

Every kernel is compiled ahead of its first call with ``cache=True`` (compiled code is stored
beside the module, so later processes skip compilation), ``nogil=True`` (kernels run on a
thread pool, one output tile per thread) and without ``fastmath`` (every result bit is
specified, so the compiler may not reassociate or contract floating-point operations).
"""

from __future__ import annotations

import numba

__all__ = ["OPTIONS", "kernel"]

OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


def kernel(*args, **kwargs):
    """``numba.njit`` with the package's fixed options; use as ``@kernel`` or
    ``@kernel(inline="always")`` (numba-level inlining, for small per-element helpers that LLVM
    would otherwise leave as calls)."""
    if args and callable(args[0]) and not kwargs:
        return numba.njit(**OPTIONS)(args[0])
    return numba.njit(*args, **{**OPTIONS, **kwargs})
