"""The numba cache guard: kernel sources get new mtimes exactly when any of them changed."""

from __future__ import annotations

import os

from inferentia_kernels.kernels._cache import refresh_stale_cache


def test_sources_are_touched_once_per_change(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("x = 1\n")
    second.write_text("y = 2\n")
    for path in (first, second):
        os.utime(path, (1_000_000, 1_000_000))

    assert refresh_stale_cache(tmp_path)
    assert first.stat().st_mtime > 1_000_000 and second.stat().st_mtime > 1_000_000
    os.utime(second, (1_000_000, 1_000_000))
    assert not refresh_stale_cache(tmp_path)  # unchanged sources: nothing touched
    assert second.stat().st_mtime == 1_000_000

    first.write_text("x = 3\n")  # an edit to one file refreshes the other's stamp too
    assert refresh_stale_cache(tmp_path)
    assert second.stat().st_mtime > 1_000_000
    assert len(list((tmp_path / "__pycache__").glob("kernel-sources-*.stamp"))) == 1
