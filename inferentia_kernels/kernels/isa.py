"""Which INT8 microkernel runs: chosen from the JIT target's features before anything
ISA-specific is compiled.

``INFERENTIA_KERNELS_ISA`` = ``auto`` (default: the fastest the target supports) | ``amx``
(AMX-INT8 ``tdpbusd``/``tdpbssd``) | ``vnni`` (``vpdpbusd``: 512-bit with AVX-512 VNNI, else 256-bit with
AVX-VNNI) | ``portable`` (``vpmaddwd``/``vpdpwssd`` from target-independent code every host runs).
A forced path the target lacks is an error, never a crash. The features are the JIT target's (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` included),
see ``target.py``; AMX also needs Linux to grant the process its tile state.
"""

from __future__ import annotations

import os

from .target import jit_cpu_features
from .amx import AMX_FEATURES, request_permission
from .int8_microkernel import VNNI_FEATURES

__all__ = ["PATHS", "available_paths", "missing", "select_path"]

#: Fastest first.
PATHS = ("amx", "vnni", "portable")
ENVIRONMENT_VARIABLE = "INFERENTIA_KERNELS_ISA"
_REQUIRED = {"amx": AMX_FEATURES, "vnni": VNNI_FEATURES, "portable": frozenset()}


def missing(path: str) -> list[str]:
    """What the host lacks for ``path`` (empty when it can run it)."""
    lacking = sorted(_REQUIRED[path] - jit_cpu_features())
    if path == "amx" and not lacking and not request_permission():
        lacking.append("the Linux permission for AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM)")
    return lacking


def available_paths() -> tuple[str, ...]:
    """The paths the host can run, fastest first."""
    return tuple(path for path in PATHS if not missing(path))


def select_path(requested: str | None = None) -> str:
    """The path to use: ``requested``, else ``$INFERENTIA_KERNELS_ISA``, else ``auto``."""
    if requested is None:
        requested = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower() or "auto"
    if requested == "auto":
        return available_paths()[0]
    if requested not in PATHS:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be one of auto, {', '.join(PATHS)}, got {requested!r}")
    lacking = missing(requested)
    if lacking:
        raise RuntimeError(
            f"{ENVIRONMENT_VARIABLE}={requested}: the JIT target ({os.environ.get('NUMBA_CPU_NAME', 'host')}) "
            f"lacks {', '.join(lacking)}; available: {', '.join(available_paths())}"
        )
    return requested
