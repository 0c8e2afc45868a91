"""Which INT8 microkernel runs: chosen from the JIT target's features before anything
ISA-specific is compiled.

``INFERENTIA_KERNELS_ISA`` = ``auto`` (default: the fastest the target supports) | ``vnni``
(AVX-512 VNNI ``vpdpbusd``) | ``portable`` (``vpmaddwd``/``vpdpwssd`` from target-independent code every host runs). A forced path
the target lacks is an error, never a crash. The features are the JIT target's
(``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` included), see ``target.py``.
"""

from __future__ import annotations

import os

from .target import jit_cpu_features
from .int8_microkernel import VNNI_FEATURES

__all__ = ["PATHS", "available_paths", "select_path"]

#: Fastest first.
PATHS = ("vnni", "portable")
ENVIRONMENT_VARIABLE = "INFERENTIA_KERNELS_ISA"


def available_paths() -> tuple[str, ...]:
    """The paths the JIT target can run, fastest first."""
    features = jit_cpu_features()
    return tuple(path for path in PATHS if path == "portable" or VNNI_FEATURES <= features)


def select_path(requested: str | None = None) -> str:
    """The path to use: ``requested``, else ``$INFERENTIA_KERNELS_ISA``, else ``auto``."""
    if requested is None:
        requested = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower() or "auto"
    if requested == "auto":
        return available_paths()[0]
    if requested not in PATHS:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be one of auto, {', '.join(PATHS)}, got {requested!r}")
    if requested not in available_paths():
        missing = sorted(VNNI_FEATURES - jit_cpu_features())
        raise RuntimeError(
            f"{ENVIRONMENT_VARIABLE}={requested}: the JIT target ({os.environ.get('NUMBA_CPU_NAME', 'host')}) "
            f"lacks {', '.join(missing)}; available: {', '.join(available_paths())}"
        )
    return requested
