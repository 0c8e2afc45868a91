"""What the JIT compiles for: the CPU name and features numba's code generator targets.

numba targets the host CPU unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` say otherwise, so
the features reported here (and used to choose ISA-specific kernels) are the JIT target's, not
the raw CPU flags: a feature counts as available only when the target's feature string enables
it explicitly (``+avx512vnni``).
"""

from __future__ import annotations

import functools
import os

from llvmlite import binding
from numba.core import codegen, config

__all__ = ["KERNEL_FEATURES", "jit_cpu_features", "jit_cpu_name", "numba_cache_location"]

#: The x86 features that decide which instructions the kernels can use.
KERNEL_FEATURES = (
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512vnni",
    "avxvnni",
    "avx512bf16",
    "avx512fp16",
    "amx-tile",
    "amx-int8",
    "amx-bf16",
)


def jit_cpu_name() -> str:
    return config.CPU_NAME or binding.get_host_cpu_name()


@functools.cache
def jit_cpu_features() -> frozenset[str]:
    """Features the JIT target enables explicitly (respecting ``NUMBA_CPU_FEATURES``)."""
    text = config.CPU_FEATURES if config.CPU_FEATURES is not None else codegen.get_host_cpu_features()
    return frozenset(item[1:] for item in text.split(",") if item.startswith("+"))


def numba_cache_location() -> str:
    """Where compiled kernels are cached: ``NUMBA_CACHE_DIR``, else beside the package's modules."""
    if config.CACHE_DIR:
        return config.CACHE_DIR
    package = os.path.dirname(os.path.abspath(__file__))
    where = os.path.join(package, "__pycache__")
    writable = os.access(package, os.W_OK)
    return where if writable else f"{where} is read-only: numba falls back to a per-user cache directory"
