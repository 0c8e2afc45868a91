"""Every one of the 2**32 float32 bit patterns, converted to bfloat16 and to float16.

bfloat16 is compared with ml_dtypes everywhere. float16 is compared with the host FPU's IEEE
conversion for all non-NaN patterns and with numpy's cast for all NaN patterns and for the whole
range where numpy's result is a normal float16 (numpy's cast raises floating-point flags per
element outside it, which makes a full 2**32 sweep through numpy take minutes).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import ml_dtypes
import numpy as np
import pytest

from host_fp16 import HOST_HAS_F16_CONVERSION, f16_bits_by_host
from inferentia_kernels import to_bfloat16, to_float16

CHUNK = 1 << 24
CHUNKS = (1 << 32) // CHUNK

pytestmark = pytest.mark.slow


def _patterns(start: int, stop: int, step: int = 1) -> np.ndarray:
    """The uint32 bit patterns start, start + step, ... below stop (stop may be 2**32)."""
    return np.arange(0, stop - start, step, dtype=np.uint32) + np.uint32(start)


def _first_mismatch(ours: np.ndarray, theirs: np.ndarray, patterns: np.ndarray, where=None) -> str | None:
    differ = ours != theirs
    if where is not None:
        differ &= where
    if not differ.any():
        return None
    i = int(np.flatnonzero(differ)[0])
    return f"0x{int(patterns[i]):08x}: ours 0x{int(ours[i]):04x}, peer 0x{int(theirs[i]):04x}"


def _sweep(check) -> list[str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [m for m in pool.map(check, range(CHUNKS)) if m is not None]


def test_bfloat16_matches_ml_dtypes_for_every_float32():
    def check(chunk: int) -> str | None:
        patterns = _patterns(chunk * CHUNK, (chunk + 1) * CHUNK)
        values = patterns.view(np.float32)
        ours = to_bfloat16(values).view(np.uint16)
        with np.errstate(invalid="ignore"):
            theirs = values.astype(ml_dtypes.bfloat16).view(np.uint16)
        return _first_mismatch(ours, theirs, patterns)

    assert _sweep(check) == []


@pytest.mark.skipif(not HOST_HAS_F16_CONVERSION, reason="host has no hardware float16 conversion")
def test_float16_matches_ieee_conversion_for_every_non_nan_float32():
    def check(chunk: int) -> str | None:
        patterns = _patterns(chunk * CHUNK, (chunk + 1) * CHUNK)
        values = patterns.view(np.float32)
        ours = to_float16(values).view(np.uint16)
        theirs = np.empty(CHUNK, dtype=np.uint16)
        f16_bits_by_host(values, theirs)
        return _first_mismatch(ours, theirs, patterns, where=~np.isnan(values))

    assert _sweep(check) == []


@pytest.mark.parametrize(
    "start, stop",
    [
        (0x38800000, 0x47800000),  # positive values whose float16 is normal
        (0xB8800000, 0xC7800000),  # negative values whose float16 is normal
        (0x7F800001, 0x80000000),  # positive NaNs
        (0xFF800001, 0x100000000),  # negative NaNs
    ],
    ids=["normal+", "normal-", "nan+", "nan-"],
)
def test_float16_matches_numpy_cast(start, stop):
    patterns = _patterns(start, stop)
    values = patterns.view(np.float32)
    with np.errstate(all="ignore"):
        theirs = values.astype(np.float16).view(np.uint16)
    assert _first_mismatch(to_float16(values).view(np.uint16), theirs, patterns) is None


def test_float16_matches_numpy_cast_on_a_stride_through_all_patterns():
    patterns = _patterns(0, 2**32, step=4093)  # a prime stride visits every exponent and sign
    values = patterns.view(np.float32)
    with np.errstate(all="ignore"):
        theirs = values.astype(np.float16).view(np.uint16)
    assert _first_mismatch(to_float16(values).view(np.uint16), theirs, patterns) is None
