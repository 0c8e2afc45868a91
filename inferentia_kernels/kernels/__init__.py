"""numba kernels: arrays in, preallocated arrays out; no validation, no allocation in hot loops."""

from pathlib import Path

from ._cache import refresh_stale_cache

refresh_stale_cache(Path(__file__).parent)
