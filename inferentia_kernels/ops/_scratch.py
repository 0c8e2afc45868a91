"""Per-thread scratch buffers that the engines reuse across calls."""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

__all__ = ["SCRATCH_BYTES", "aligned_empty", "scratch_vector", "shared_zeros"]

#: Largest scratch buffer (bytes) a thread keeps for its later calls; larger ones are allocated per call.
SCRATCH_BYTES = 16 * 1024 * 1024
_scratch = threading.local()


def aligned_empty(shape, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` (an int or a tuple) whose data starts on a
    64-byte (cache line) boundary, so that no 64-byte row a kernel loads or stores straddles two lines
    (numpy's own allocations are 16-byte aligned)."""
    dtype = np.dtype(dtype)
    nbytes = (math.prod(shape) if isinstance(shape, tuple) else shape) * dtype.itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + nbytes].view(dtype).reshape(shape)


@functools.lru_cache(maxsize=64)
def shared_zeros(size: int, dtype: str) -> np.ndarray:
    """A vector of ``size`` zeros of ``dtype`` shared by every caller, which must never write to it:
    kernel arguments that a call does not need (no bias, multipliers of another mode), without an
    allocation per call."""
    return np.zeros(size, dtype)


def scratch_vector(slot: str, size: int, dtype=np.float32) -> np.ndarray:
    """An uninitialised, 64-byte aligned vector of ``size`` values that the calling thread reuses
    in its later calls (``slot`` names its use; a slot is never used twice at once). Fresh
    buffers would cost a page fault per 4 KiB on every call."""
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > SCRATCH_BYTES:
        return aligned_empty(size, dtype)
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    buffer = buffers.get((slot, dtype))
    if buffer is None or buffer.size < size:
        buffer = buffers[(slot, dtype)] = aligned_empty(size, dtype)
    return buffer[:size]
