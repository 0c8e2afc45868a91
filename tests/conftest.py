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
    """Give the test its own host worker threads and stop them afterwards.

    Yields a function that stops the current workers, so that the next op starts as many as a
    patched ``_tiles.THREADS`` asks for.
    """
    from inferentia_kernels.ops import _workers

    _workers.stop_all()
    try:
        yield _workers.stop_all
    finally:
        _workers.stop_all()
