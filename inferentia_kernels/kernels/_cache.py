"""Keep numba's on-disk cache consistent across the kernel modules.

numba invalidates a cached kernel only when the kernel's own source file changes (it compares
the file's mtime and size), but kernels inline functions from the package's other kernel files:
after an edit to ``requantize.py``, the cached GEMM kernels would still run the old
requantization. So at import, when the combined hash of the kernel sources differs from the one
recorded in ``__pycache__``, every kernel source gets a new mtime and numba recompiles them all.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

__all__ = ["refresh_stale_cache"]


def refresh_stale_cache(directory: Path) -> bool:
    """Touch the ``*.py`` files of ``directory`` if their contents changed since the last call;
    returns whether it did. Silently does nothing where the directory is read-only (an installed
    package's files and caches are then written together)."""
    sources = sorted(directory.glob("*.py"))
    digest = hashlib.sha256(b"".join(path.name.encode() + path.read_bytes() for path in sources)).hexdigest()[:16]
    marker = directory / "__pycache__" / f"kernel-sources-{digest}.stamp"
    if marker.exists():
        return False
    try:
        marker.parent.mkdir(exist_ok=True)
        now = time.time()
        for path in sources:
            os.utime(path, (now, now))
        for old in marker.parent.glob("kernel-sources-*.stamp"):
            old.unlink()
        marker.touch()
    except OSError:
        return False
    return True
