"""Shared test configuration: hypothesis profiles.

Select one with ``HYPOTHESIS_PROFILE=dev pytest`` (default ``ci``).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=False,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fresh_pool():
    """Give the test its own host thread pool and shut it down afterwards.

    Yields a function that shuts down the current pool, so that the next op creates one sized by
    a patched ``_tiles.THREADS``.
    """
    from inferentia_kernels.ops import _tiles

    def reset() -> None:
        pool, _tiles._pool = _tiles._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    saved = _tiles._pool
    _tiles._pool = None
    try:
        yield reset
    finally:
        reset()
        _tiles._pool = saved
