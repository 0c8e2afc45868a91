"""INT8 paths: selection from the JIT target, every available path bit-exact, no crash when a
path is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import inferentia_kernels as ik
from inferentia_kernels.kernels import isa
from inferentia_kernels.kernels.target import jit_cpu_features
from inferentia_kernels.ops import _int8_engine, _tiles
from inferentia_kernels.reference import conv as ref_conv
from inferentia_kernels.reference import requantize as ref_rq
from inferentia_kernels.reference.matmul_integer import matmul_integer as ref_matmul_integer

PATHS = isa.available_paths()
HAS_VNNI = "vnni" in PATHS


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    monkeypatch.setattr(_int8_engine, "_active", _int8_engine._BACKENDS[request.param])
    return request.param


def random_int8(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape, dtype=dtype)


# M around the GEMV limit (4) and the microkernels' height (6), N around their widths (16, 64) and
# the 128-column strips, K around the groups (2, 4) and values where padding matters.
SHAPES = [(1, 1, 1), (4, 3, 5), (5, 5, 63), (6, 4, 64), (7, 9, 65), (6, 2, 16), (7, 1, 17), (12, 130, 129),
          (13, 257, 200), (33, 1000, 17)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("a_dtype", [np.int8, np.uint8], ids=["s8", "u8"])
@pytest.mark.parametrize("b_dtype", [np.int8, np.uint8], ids=["s8", "u8"])
@pytest.mark.parametrize("prepacked", [False, True], ids=["fresh", "prepacked"])
def test_matmul_integer_bit_exact_on_every_path(path, shape, a_dtype, b_dtype, prepacked):
    """Prepacked B also takes the packed kernels below the GEMV limit on the vnni and amx paths."""
    rng = np.random.default_rng(hash((shape, a_dtype, b_dtype)) % 2**32)
    m, k, n = shape
    a, b = random_int8(rng, a_dtype, (m, k)), random_int8(rng, b_dtype, (k, n))
    za = int(random_int8(rng, a_dtype, ()))
    zb = random_int8(rng, b_dtype, (n,))
    got = ik.ops.matmul_integer(a, ik.ops.prepack(b) if prepacked else b, za, zb)
    np.testing.assert_array_equal(got, ref_matmul_integer(a, b, za, zb))


@pytest.mark.parametrize("prepacked", [False, True], ids=["fresh", "prepacked"])
def test_several_column_strips_on_every_path(monkeypatch, path, prepacked):
    """Split over the host threads (whatever its size) and deep enough that a strip holds a few
    hundred of the 600 columns (``STRIP_BYTES`` of packed B): strips that end inside a column
    block, B packed by each strip's owner or prepacked."""
    monkeypatch.setitem(_int8_engine.PARALLEL_MACS, path, 0)
    rng = np.random.default_rng(41)
    a, b = random_int8(rng, np.uint8, (40, 4100)), random_int8(rng, np.int8, (4100, 600))
    assert 600 > _int8_engine._strip_width(_int8_engine._BACKENDS[path], 4100, 600, own_b=True)
    zb = random_int8(rng, np.int8, (600,))
    got = ik.ops.matmul_integer(a, ik.ops.prepack(b) if prepacked else b, 7, zb)
    np.testing.assert_array_equal(got, ref_matmul_integer(a, b, 7, zb))


def test_extreme_values_and_wraparound_on_every_path(path):
    k = 40_000  # |acc| can exceed 2**31: both paths wrap exactly like the reference
    a = np.full((6, k), 255, np.uint8)
    b = np.full((k, 64), -128, np.int8)
    with pytest.warns(ik.errors.AccumulatorOverflowWarning):
        got = ik.ops.matmul_integer(a, b, 0, 127)
    np.testing.assert_array_equal(got, ref_matmul_integer(a, b, 0, np.full(64, 127, np.int8)))


@pytest.mark.parametrize("mode", ["float", "fixed_point", "fixed_point_single"])
def test_qlinear_matmul_every_mode_on_every_path(path, mode):
    rng = np.random.default_rng(7)
    a, b = random_int8(rng, np.uint8, (2, 11, 70)), random_int8(rng, np.int8, (70, 130))
    a_qp = ik.QParams(0.02, 131, np.uint8)
    b_qp = ik.QParams(rng.uniform(0.001, 0.01, 130).astype(np.float32), 0, np.int8, axis=-1)
    y_qp = ik.QParams(0.4, -5, np.int8)
    bias = rng.integers(-3000, 3000, 130).astype(np.int32)
    got = ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, bias=bias, mode=mode, activation="relu")
    low, high = int(y_qp.zero_point), 127
    expected = ref_rq.qlinear_matmul(a, a_qp.scale, 131, b, b_qp.scale, 0, y_qp.scale, -5, np.int8, bias=bias,
                                     mode=mode, activation_range=(low, high))
    np.testing.assert_array_equal(got, expected)


def test_conv_integer_on_every_path(path):
    rng = np.random.default_rng(3)
    x, w = random_int8(rng, np.uint8, (2, 6, 9, 8)), random_int8(rng, np.int8, (70, 3, 3, 2))
    got = ik.ops.conv_integer(x, w, 17, 3, stride=(2, 1), padding=(1, 0, 2, 1), groups=2)
    np.testing.assert_array_equal(got, ref_conv.conv_integer(x, w, 17, 3, (2, 1), (1, 0, 2, 1), (1, 1), 2))


# (M, K, N): one row block; a tail of rows after the blocks; column strips (A packed by each
# strip); rows split into tiles (prepacked B), the second with a tail; K not a multiple of 64.
AMX_ROW_BLOCK_SHAPES = [(32, 64, 32), (95, 128, 70), (100, 2048, 1100), (300, 1024, 256), (70, 100, 40)]


def _amx_views(a: np.ndarray) -> dict[str, np.ndarray]:
    """Views of A's values with bytes contiguous along each row, as the AMX kernel reads them."""
    m, k = a.shape
    wide = np.zeros((m, k + 64), a.dtype)
    wide[:, :k] = a
    flipped = np.ascontiguousarray(a[::-1])
    return {"contiguous": a, "rows far apart": wide[:, :k], "rows in reverse": flipped[::-1]}


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize("shape", AMX_ROW_BLOCK_SHAPES, ids=str)
@pytest.mark.parametrize("a_dtype", [np.int8, np.uint8], ids=["s8", "u8"])
@pytest.mark.parametrize("b_dtype", [np.int8, np.uint8], ids=["s8", "u8"])
def test_amx_packs_row_blocks_of_a_matrix_in_the_tile_kernel(monkeypatch, shape, a_dtype, b_dtype):
    """The AMX tile kernel packs a matrix A one row block at a time (int8 A as it is, through
    ``tdpbssd``), with two host threads whatever the machine. Results are the reference's with
    and without B zero points (the kernel sums A's rows only when one is non-zero or B is uint8),
    B fresh or prepacked, for rows far apart or in reverse order."""
    backend = _int8_engine._BACKENDS["amx"]
    monkeypatch.setattr(_int8_engine, "_active", backend)
    monkeypatch.setattr(_tiles, "THREADS", 2)
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    a, b = random_int8(rng, a_dtype, (m, k)), random_int8(rng, b_dtype, (k, n))
    za = int(random_int8(rng, a_dtype, ()))
    for zb in (np.zeros(n, b_dtype), random_int8(rng, b_dtype, (n,))):
        expected = ref_matmul_integer(a, b, za, zb)
        for view in _amx_views(a).values():
            assert backend.rows_of_a(_int8_engine.MatrixRows(view), 0, m, "test A", parallel=False).matrix is not None
            np.testing.assert_array_equal(ik.ops.matmul_integer(view, b, za, zb), expected)
            np.testing.assert_array_equal(ik.ops.matmul_integer(view, ik.ops.prepack(b), za, zb), expected)


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
def test_amx_row_block_packing_matches_the_packer(monkeypatch):
    """One row block packed by the tile kernel's own packer is byte for byte the AMX layout of
    ``pack_a_groups`` (flip 0), every byte written (a block of garbage before), for int8 and
    uint8 A, K with a tail and rows past M; a broadcast A (rows zero bytes apart) too."""
    from inferentia_kernels.kernels.amx import K_BLOCK, MR, _pack_row_block
    from inferentia_kernels.kernels.int8_microkernel import pack_a_groups

    backend = _int8_engine._BACKENDS["amx"]
    rng = np.random.default_rng(23)
    for dtype in (np.int8, np.uint8):
        for a in (random_int8(rng, dtype, (40, 150)), np.broadcast_to(random_int8(rng, dtype, (150,)), (40, 150))):
            k_blocks = -(-a.shape[1] // K_BLOCK)
            expected = np.empty(backend.a_size(2 * MR, a.shape[1]), dtype)
            pack_a_groups(a, np.uint8(0), 0, 2 * MR, backend.group, backend.a_block, expected,
                          np.empty(2 * MR, np.int32))
            for i in (0, MR):  # a whole block, then one with 8 rows of A and 24 of padding
                block = np.full(backend.a_size(MR, a.shape[1]), 0x5A, np.uint8).view(dtype)
                _pack_row_block(a, i, k_blocks, block)
                np.testing.assert_array_equal(block, expected[i * k_blocks * K_BLOCK:(i + MR) * k_blocks * K_BLOCK])


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
def test_amx_reads_nothing_past_the_end_of_a(tmp_path):
    """A whose last row ends exactly where an inaccessible page starts: a read of a byte past A
    (a 64-byte vector move over the K tail, say) would kill the subprocess."""
    result = _run(
        """
        import ctypes, mmap
        import numpy as np
        import inferentia_kernels as ik
        from inferentia_kernels.reference.matmul_integer import matmul_integer
        page = mmap.PAGESIZE
        memory = mmap.mmap(-1, 4 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(memory))
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.mprotect(ctypes.c_void_p(base + 3 * page), ctypes.c_size_t(page), 0) == 0  # PROT_NONE
        rng = np.random.default_rng(5)
        b = rng.integers(-128, 128, (100, 40), dtype=np.int8)
        for dtype, m in ((np.int8, 64), (np.uint8, 70)):
            values = rng.integers(-128, 128, (m, 100)).astype(dtype)
            a = np.frombuffer(memory, dtype, m * 100, 3 * page - m * 100).reshape(m, 100)
            a[:] = values
            assert (ik.ops.matmul_integer(a, b, 3, 0) == matmul_integer(values, b, 3, 0)).all()
        print("ok")
        """,
        tmp_path,
    )
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_patch_packing_in_whole_64_byte_runs_matches_the_matrix_packer(dtype):
    """AMX's layout (groups of 64 bytes, blocks of 16 rows, no flip) with channel runs of whole
    groups takes the packer's vector-move path: the same bytes and row sums as packing the
    explicit patch matrix, rows past the last pixel zero, into a buffer full of garbage; here
    for the second 64-channel group of a 128-channel image, 3 x 3 kernel, stride 2."""
    from inferentia_kernels.kernels.int8_microkernel import pack_a_groups, pack_patches_groups

    rng = np.random.default_rng(29)
    image = random_int8(rng, dtype, (2, 9, 8, 128))  # padded NHWC
    out_h, out_w, channels, c_lo = 4, 3, 64, 64
    patches = np.stack([np.concatenate([image[n, 2 * oh + i, 2 * ow + j, c_lo:c_lo + channels]
                                        for i in range(3) for j in range(3)])
                        for n in range(2) for oh in range(out_h) for ow in range(out_w)])
    pixels, depth = patches.shape
    rows = 32
    expected, expected_sums = np.empty(rows * depth, dtype), np.empty(rows, np.int32)
    pack_a_groups(patches, np.uint8(0), 0, rows, 64, 16, expected, expected_sums)
    packed = np.full(rows * depth, 0x5A, np.uint8).view(dtype)
    sums = np.full(rows, 12345, np.int32)
    pack_patches_groups(image, np.uint8(0), c_lo, channels, 3, 3, 2, 2, 1, 1, out_h, out_w, pixels, 0, 0, rows, 64,
                        16, packed, sums)
    np.testing.assert_array_equal(packed, expected)
    np.testing.assert_array_equal(sums, expected_sums)


@pytest.mark.parametrize("stream", [False, True], ids=["cached", "streamed"])
@pytest.mark.parametrize("b_zero_points", ["random", "zero"])
def test_a_tile_writes_its_block_and_nothing_else(path, stream, b_zero_points):
    """A tile of nine column blocks that starts at the third block, its rows ending inside the
    last row block: its block of the output is the reference's and every other value keeps its
    sentinel, which tiles running side by side rely on. Also with the results streamed to memory
    (the AMX kernel's non-temporal stores), into an output whose rows start off a 64-byte line.
    Without B zero points, the AMX tiles store whole blocks of int32 results themselves."""
    backend = _int8_engine._BACKENDS[path]
    rng = np.random.default_rng(19)
    m, k, n = 70, 300, 1000
    a, b = random_int8(rng, np.uint8, (m, k)), random_int8(rng, np.int8, (k, n))
    zb = random_int8(rng, np.int8, (n,)) if b_zero_points == "random" else np.zeros(n, np.int8)
    product = _int8_engine._Product(_int8_engine.PackedB(backend, b).pack_all(), a.dtype, 3, zb.astype(np.int32),
                                    _int8_engine.Epilogue(bias=np.zeros(n, np.int32)), stream)
    a_rows = backend.rows_of_a(_int8_engine.MatrixRows(a), 0, m, "test A", parallel=False)
    col_lo, col_hi = 2 * backend.cols, 11 * backend.cols
    assert col_hi <= n
    sentinel = np.int32(-123456789)
    out = np.full(m * n + 5, sentinel, np.int32)[5:].reshape(m, n)
    product.tile(a_rows, m, 0, -(-m // backend.rows) * backend.rows, col_lo, col_hi, out)
    np.testing.assert_array_equal(out[:, col_lo:col_hi], ref_matmul_integer(a, b, 3, zb)[:, col_lo:col_hi])
    out[:, col_lo:col_hi] = sentinel
    assert (out == sentinel).all()


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
def test_amx_threads_share_a_tiles_row_blocks_through_its_counter():
    """The AMX tile kernel computes exactly the row blocks it claims: a call on a counter at 3
    leaves the first three blocks alone; a call that reserves 2 blocks stops before the last two;
    a last call (reserving none) finishes the tile. Together they give the reference's block, as
    threads sharing a strip do."""
    backend = _int8_engine._BACKENDS["amx"]
    rng = np.random.default_rng(23)
    m, k, n = 230, 200, 100  # 8 row blocks, the last partial
    a, b = random_int8(rng, np.int8, (m, k)), random_int8(rng, np.uint8, (k, n))
    zb = random_int8(rng, np.uint8, (n,))
    product = _int8_engine._Product(_int8_engine.PackedB(backend, b).pack_all(), a.dtype, 4, zb.astype(np.int32),
                                    _int8_engine.Epilogue(bias=np.zeros(n, np.int32)))
    a_rows = backend.rows_of_a(_int8_engine.MatrixRows(a), 0, m, "test A", parallel=False)
    expected = ref_matmul_integer(a, b, 4, zb)
    sentinel = np.int32(-987654321)
    out = np.full((m, n), sentinel, np.int32)
    rows_end, cols_end = 8 * backend.rows, -(-n // backend.cols) * backend.cols
    claims = np.array([3], np.int64)
    product.tile(a_rows, m, 0, rows_end, 0, cols_end, out, claims, 2)
    assert claims[0] == 6 and (out[:96] == sentinel).all() and (out[192:] == sentinel).all()
    np.testing.assert_array_equal(out[96:192], expected[96:192])
    product.tile(a_rows, m, 0, rows_end, 0, cols_end, out, claims, 0)
    np.testing.assert_array_equal(out[96:], expected[96:])
    assert (out[:96] == sentinel).all()


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
def test_amx_caller_finishes_what_owners_left_in_any_order():
    """Strips of a fresh B shared by threads, in an order the thread timing can produce: a worker
    owns strip 0 and leaves the caller its reserve of row blocks; the caller owns strip 1 and
    takes all of it; once all of B is packed, the caller's join must still finish strip 0."""
    import threading

    backend = _int8_engine._BACKENDS["amx"]
    rng = np.random.default_rng(31)
    m, k, n = 1024, 64, 2 * backend.cols  # 32 row blocks: a worker leaves the caller 2 per strip
    a, b = random_int8(rng, np.uint8, (m, k)), random_int8(rng, np.int8, (k, n))
    product = _int8_engine._Product(_int8_engine.PackedB(backend, b), a.dtype, 128, np.zeros(n, np.int32),
                                    _int8_engine.Epilogue(bias=np.zeros(n, np.int32)))
    a_rows = backend.rows_of_a(_int8_engine.MatrixRows(a), 0, m, "test A", parallel=False)
    out = np.full((m, n), -1, np.int32)
    tiles = [(0, m, 0, backend.cols), (0, m, backend.cols, n)]
    strips = _int8_engine._Strips(product, a_rows, m, tiles, m // backend.rows, out, shared=True)
    assert strips.reserve == 2
    worker = threading.Thread(target=strips.run, args=(tiles[0],))
    worker.start()
    worker.join()
    assert strips.claims[0] == m // backend.rows - strips.reserve
    strips.run(tiles[1])
    strips.join()
    np.testing.assert_array_equal(out, ref_matmul_integer(a, b, 128, np.zeros(n, np.int8)))


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize(("b_state", "m"), [("fresh", 1024), ("fresh", 256), ("prepacked", 256)],
                         ids=["fresh-reserve2", "fresh-reserve0", "prepacked-reserve0"])
def test_amx_strips_are_complete_in_every_order_of_the_threads(b_state, m):
    """Three strips shared by the caller and one worker thread, in every order of whole steps the
    thread timing can produce: each strip's owner task run by either thread (in strip order per
    thread, the worker's first), then the caller's join, with the worker's join before any of the
    caller's steps, between them, after them, or never. Every order must give the whole product,
    with B packed before or by the strips' owners. (Packed B in strips of many row blocks goes
    through them together instead: the next test.)"""
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    backend = _int8_engine._BACKENDS["amx"]
    rng = np.random.default_rng(37)
    k, strips = 64, 3
    n = strips * backend.cols
    a, b = random_int8(rng, np.uint8, (m, k)), random_int8(rng, np.int8, (k, n))
    expected = ref_matmul_integer(a, b, 0, np.zeros(n, np.int8))
    tiles = [(0, m, s * backend.cols, (s + 1) * backend.cols) for s in range(strips)]
    failed = []
    with ThreadPoolExecutor(1) as worker:
        for owners in itertools.product("CW", repeat=strips):
            for worker_join in range(strips + 2):  # its place among the caller's steps; the last: never
                weights = _int8_engine.PackedB(backend, b)
                if b_state == "prepacked":
                    weights.pack_all()
                product = _int8_engine._Product(weights, a.dtype, 0, np.zeros(n, np.int32),
                                                _int8_engine.Epilogue(bias=np.zeros(n, np.int32)))
                a_rows = backend.rows_of_a(_int8_engine.MatrixRows(a), 0, m, "test A", parallel=False)
                out = np.full((m, n), -7, np.int32)
                shared = _int8_engine._Strips(product, a_rows, m, tiles, m // backend.rows, out, shared=True)
                owned = {tile: owner for tile, owner in zip(tiles, owners)}
                for tile in tiles:
                    if owned[tile] == "W":
                        worker.submit(shared.run, tile).result()
                steps = [("C", lambda tile=tile: shared.run(tile)) for tile in tiles if owned[tile] == "C"]
                steps.append(("C", shared.join))
                if worker_join < strips + 1:
                    steps.insert(min(worker_join, len(steps)), ("W", shared.join))
                for who, step in steps:
                    if who == "W":
                        worker.submit(step).result()
                    else:
                        step()
                if not (out == expected).all():
                    failed.append((owners, worker_join))
    assert failed == []


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize("prepacked", [True, False], ids=["prepacked", "fresh"])
def test_amx_products_of_many_row_blocks_with_b_packed_go_through_the_strips_together(monkeypatch, fresh_pool,
                                                                                      prepacked):
    """On two host threads, 1024 x 1024 x 256 (32 row blocks, two threads' worth of work) with B
    prepacked, or fresh and small enough for the tile kernels to pack it, takes the direct path."""
    from inferentia_kernels.ops import _tiles

    monkeypatch.setattr(_tiles, "THREADS", 2)
    monkeypatch.setattr(_int8_engine, "_active", _int8_engine._BACKENDS["amx"])
    taken, direct = [], _int8_engine._go_through_strips_together
    monkeypatch.setattr(_int8_engine, "_go_through_strips_together", lambda *args: (taken.append(1), direct(*args)))
    rng = np.random.default_rng(43)
    a, b = random_int8(rng, np.uint8, (1024, 1024)), random_int8(rng, np.int8, (1024, 256))
    out = ik.ops.matmul_integer(a, ik.ops.prepack(b) if prepacked else b, 5)
    np.testing.assert_array_equal(out, ref_matmul_integer(a, b, 5, np.zeros(256, np.int8)))
    assert taken == [1]


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize("b_state", ["prepacked", "packed_by_tiles"])
@pytest.mark.parametrize("order", ["caller alone", "worker first", "caller first", "together"])
def test_amx_threads_going_through_the_strips_together_complete_them_in_any_order(monkeypatch, fresh_pool,
                                                                                   b_state, order):
    """Three strips of 32 row blocks, B packed or packed by the tile kernels: the worker's call
    (which leaves the caller 2 blocks of each strip) before the caller's, after it, at the same
    time (two host threads) or never; every order gives the whole product."""
    from concurrent.futures import ThreadPoolExecutor

    from inferentia_kernels.ops import _tiles, _workers

    backend = _int8_engine._BACKENDS["amx"]
    rng = np.random.default_rng(41)
    m, k, n = 32 * backend.rows, 64, 3 * backend.cols
    a, b = random_int8(rng, np.uint8, (m, k)), random_int8(rng, np.int8, (k, n))
    weights = _int8_engine.PackedB(backend, b)
    if b_state == "prepacked":
        weights.pack_all()
    product = _int8_engine._Product(weights, a.dtype, 0, np.zeros(n, np.int32),
                                    _int8_engine.Epilogue(bias=np.zeros(n, np.int32)),
                                    packed_by_tiles=b_state == "packed_by_tiles")
    a_rows = backend.rows_of_a(_int8_engine.MatrixRows(a), 0, m, "test A", parallel=False)
    out = np.full((m, n), -7, np.int32)
    tiles = [(0, m, s * backend.cols, (s + 1) * backend.cols) for s in range(3)]
    callers = []

    def in_order(work):
        with ThreadPoolExecutor(1) as worker:
            if order == "worker first":
                worker.submit(work, False).result()
            work(True)
            if order == "caller first":
                worker.submit(work, False).result()

    def recorded(work, run_together=_tiles.run_together):
        run_together(lambda caller: (callers.append(caller), work(caller)))

    monkeypatch.setattr(_tiles, "THREADS", 2)
    monkeypatch.setattr(_tiles, "run_together", recorded if order == "together" else in_order)
    kernels_before = int(_workers.released[0])
    _int8_engine._go_through_strips_together(product, a_rows, m, tiles, out, 2)
    np.testing.assert_array_equal(out, ref_matmul_integer(a, b, 0, np.zeros(n, np.int8)))
    if order == "together":
        assert sorted(callers) == [False, True]
    elif order == "caller alone":  # its kernel counted its start (for workers waiting to take the interpreter)
        assert _workers.released[0] == kernels_before + 1


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize("b_dtype", [np.int8, np.uint8], ids=["s8", "u8"])
@pytest.mark.parametrize("positions", [1, 3])
def test_amx_threads_pack_b_together(b_dtype, positions):
    """``pack_b_together`` gives what ``PackedB.pack_all`` gives, packed by three threads at once
    with a shared progress; a call that finds chunks already claimed and done packs only the
    others, and one that finds all done writes nothing."""
    import threading

    from inferentia_kernels.kernels import amx

    backend = _int8_engine._BACKENDS["amx"]
    rng = np.random.default_rng(41)
    k, n, chunk = 3 * 100, 1000, 2 * amx.NR  # 16 chunks, the last one partly padding
    b = random_int8(rng, b_dtype, (k, n))
    expected = _int8_engine.PackedB(backend, b, positions=positions).pack_all()
    weights = _int8_engine.PackedB(backend, b, positions=positions)
    depth = -(-k // amx.K_BLOCK) * amx.K_BLOCK

    def pack(progress):
        amx.pack_b_together(b, positions, weights.flip, depth, chunk, weights.packed, weights.col_sums, progress)

    weights.packed[:], weights.col_sums[:] = 99, 99
    progress = np.zeros(2, np.int64)
    threads = [threading.Thread(target=pack, args=(progress,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chunks = -(-weights.padded_cols // chunk)
    assert progress[1] == chunks and progress[0] >= chunks
    np.testing.assert_array_equal(weights.packed, expected.packed)
    np.testing.assert_array_equal(weights.col_sums, expected.col_sums)

    weights.packed[:], weights.col_sums[:] = 99, 99
    pack(np.array([2, 2], np.int64))  # chunks 0 and 1 were packed by another thread
    per_chunk = expected.packed.size // weights.padded_cols * chunk
    assert (weights.packed[:2 * per_chunk] == 99).all() and (weights.col_sums[:2 * chunk] == 99).all()
    np.testing.assert_array_equal(weights.packed[2 * per_chunk:], expected.packed[2 * per_chunk:])
    np.testing.assert_array_equal(weights.col_sums[2 * chunk:], expected.col_sums[2 * chunk:])
    pack(np.array([chunks, chunks], np.int64))
    assert (weights.packed[:2 * per_chunk] == 99).all()

    # A thread that finds every chunk claimed waits until the last one is done.
    progress = np.array([chunks, chunks - 1], np.int64)
    waiting = threading.Thread(target=pack, args=(progress,))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()
    progress[1] = chunks
    waiting.join(10)
    assert not waiting.is_alive()


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize("n, transposed, by_kernels", [(300, False, True), (300, True, False), (1200, False, False)],
                         ids=["one_strip", "columns_contiguous", "several_strips"])
def test_amx_kernels_pack_a_fresh_b_when_threads_share_its_one_strip(monkeypatch, n, transposed, by_kernels):
    """On two threads, a product whose strips all threads share (32 row blocks) and whose packed B
    fits one strip has its fresh B packed by the tile kernels, not by ``PackedB.pack``. A B whose
    columns are contiguous (first copied row-major), or wider than a strip, is packed by the
    strips' owners. Each gives the reference."""
    monkeypatch.setattr(_int8_engine, "_active", _int8_engine._BACKENDS["amx"])
    monkeypatch.setattr(_tiles, "THREADS", 2)
    packed_columns = []
    pack = _int8_engine.PackedB.pack
    monkeypatch.setattr(_int8_engine.PackedB, "pack",
                        lambda self, lo, hi: packed_columns.append((lo, hi)) or pack(self, lo, hi))
    rng = np.random.default_rng(43)
    m, k = 1024, 1000  # a packed column of B is 1 KiB: 1024 of them fill a strip (STRIP_BYTES)
    a = random_int8(rng, np.uint8, (m, k))
    b = random_int8(rng, np.int8, (n, k)).T if transposed else random_int8(rng, np.int8, (k, n))
    zb = random_int8(rng, np.int8, (n,))
    np.testing.assert_array_equal(ik.ops.matmul_integer(a, b, 7, zb), ref_matmul_integer(a, b, 7, zb))
    assert bool(packed_columns) != by_kernels


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int8])
@pytest.mark.parametrize("offset", [0, 1, 3, 16, 63], ids=lambda o: f"offset{o}")
def test_streamed_rows_are_exact_and_stay_inside_their_block(dtype, offset):
    """``stream_block`` copies a staged block into any place of an output: rows starting at any
    byte of a 64-byte line (offset in elements of a 64-byte aligned buffer), blocks narrower than
    a line, of whole lines, and with a head and a tail around the streamed lines. Everything
    outside the block keeps its sentinel."""
    from inferentia_kernels.kernels.gemm_int8 import stream_block
    from inferentia_kernels.ops._scratch import aligned_empty

    rows, cols = 5, 300
    sentinel = np.array(-7).astype(dtype)
    buffer = aligned_empty(offset + rows * cols, dtype)
    buffer[:] = sentinel
    out = buffer[offset:].reshape(rows, cols)
    rng = np.random.default_rng(offset)
    for row_lo, row_hi, col_lo, width in [(0, 5, 0, 300), (1, 4, 3, 5), (0, 2, 16, 64), (2, 5, 33, 200), (4, 5, 0, 0)]:
        staged = random_int8(rng, np.int8, (rows, width)).astype(dtype)
        out[:] = sentinel
        stream_block(staged, row_lo, row_hi, col_lo, width, out)
        expected = np.full((rows, cols), sentinel, dtype)
        expected[row_lo:row_hi, col_lo:col_lo + width] = staged[:row_hi - row_lo]
        np.testing.assert_array_equal(out, expected)


@pytest.mark.skipif("amx" not in PATHS, reason="the host has no usable AMX-INT8")
@pytest.mark.parametrize("shape", [(100, 2048, 1100), (67, 130, 1001), (300, 64, 33)], ids=str)
def test_amx_streamed_outputs_are_the_reference(monkeypatch, shape):
    """With every output streamed (the byte threshold at 0), on two threads: int32 sums and
    requantized int8 results are the reference's, for rows of any length (so of any alignment),
    column strips and row tiles."""
    monkeypatch.setattr(_int8_engine, "_active", _int8_engine._BACKENDS["amx"])
    monkeypatch.setattr(_int8_engine, "STREAM_BYTES", 0)
    monkeypatch.setattr(_tiles, "THREADS", 2)
    m, k, n = shape
    rng = np.random.default_rng(m + n)
    a, b = random_int8(rng, np.uint8, (m, k)), random_int8(rng, np.int8, (k, n))
    np.testing.assert_array_equal(ik.ops.matmul_integer(a, b, 5), ref_matmul_integer(a, b, 5, 0))
    np.testing.assert_array_equal(ik.ops.matmul_integer(a, ik.ops.prepack(b), 5), ref_matmul_integer(a, b, 5, 0))
    a_qp, b_qp, y_qp = ik.QParams(0.05, 5, np.uint8), ik.QParams(0.02, 0, np.int8), ik.QParams(0.002 * k, -3, np.int8)
    np.testing.assert_array_equal(
        ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp),
        ref_rq.qlinear_matmul(a, a_qp.scale, 5, b, b_qp.scale, 0, y_qp.scale, -3, np.int8))


def _packed_b_reference(b, positions, flip, col_lo, col_hi, columns, group, padded_depth, pad_values):
    """Packed B [column block][group][columns][group values], each block followed by ``pad_values``
    zeros, for columns [col_lo, col_hi) and the column sums, built with numpy from the layout's
    definition (``pack_b_groups``)."""
    depth, cols = b.shape
    inner = depth // positions
    order = [(k % inner) * positions + k // inner for k in range(depth)]  # packed k -> row of b
    values = np.zeros((padded_depth, col_hi), np.int32)
    width = min(col_hi, cols)
    values[:depth, :width] = ((b[order, :width].view(np.uint8) ^ flip).view(np.int8)).astype(np.int32)
    blocks = values[:, col_lo:col_hi].reshape(padded_depth // group, group, -1, columns).transpose(2, 0, 3, 1)
    blocks = blocks.reshape(blocks.shape[0], -1)
    padded = np.concatenate([blocks, np.zeros((blocks.shape[0], pad_values), np.int32)], axis=1)
    return padded.reshape(-1), values.sum(axis=0, dtype=np.int32)[col_lo:col_hi]


@pytest.mark.parametrize("columns, group, block_pad", [(16, 4, 64), (16, 4, 0), (64, 4, 0), (64, 2, 0), (64, 2, 8)],
                         ids=["amx", "amx_unpadded", "vnni", "pairs", "pairs_padded"])
@pytest.mark.parametrize("b_dtype", [np.int8, np.uint8], ids=["s8", "u8"])
@pytest.mark.parametrize("shape, positions", [((64, 64), 1), ((130, 100), 1), ((9 * 7, 200), 9), ((3, 17), 1)],
                         ids=str)
def test_packed_b_is_the_layout_of_its_definition(columns, group, block_pad, b_dtype, shape, positions):
    """``pack_b_groups`` against numpy: whole blocks (the vector path, 16 columns at a time for
    groups of 4 bytes), a partial last block and padding columns, K not a multiple of the group,
    K transposed by kernel positions, a column range starting after the first block, and zero
    bytes after each block."""
    from inferentia_kernels.kernels.int8_microkernel import pack_b_groups

    rng = np.random.default_rng(shape[0] * shape[1] + columns)
    b = random_int8(rng, b_dtype, shape)
    flip = np.uint8(0x80 if b_dtype == np.uint8 else 0)
    depth, cols = shape
    padded_depth = -(-depth // group) * group
    padded_cols = -(-cols // columns) * columns
    dtype = np.int8 if group == 4 else np.int16
    pad_values = block_pad // np.dtype(dtype).itemsize
    for col_lo in sorted({0, columns if padded_cols > columns else 0}):
        packed = np.full(padded_cols * padded_depth + padded_cols // columns * pad_values, 0x5A, dtype)
        col_sums = np.full(padded_cols, 7, np.int32)
        pack_b_groups(b, positions, flip, col_lo, padded_cols, columns, padded_depth, block_pad, packed, col_sums)
        expected, expected_sums = _packed_b_reference(b, positions, flip, col_lo, padded_cols, columns, group,
                                                      padded_depth, pad_values)
        start = col_lo // columns * (columns * padded_depth + pad_values)
        np.testing.assert_array_equal(packed[start:], expected.astype(dtype))
        np.testing.assert_array_equal(col_sums[col_lo:], expected_sums)


@pytest.mark.parametrize("shape", [(7, 9, 65), (13, 257, 200)], ids=str)
def test_packing_writes_every_value_so_reused_buffers_cannot_leak(path, shape):
    """Packed operands live in reused per-thread scratch: packing into a buffer full of garbage
    gives the same bytes and sums as packing into zeros, padding included."""
    from inferentia_kernels.kernels.int8_microkernel import pack_a_groups, pack_b_groups

    backend = _int8_engine._BACKENDS[path]
    rng = np.random.default_rng(7)
    m, k, n = shape
    a, b = random_int8(rng, np.int8, (m, k)), random_int8(rng, np.uint8, (k, n))
    rows, cols = -(-m // backend.rows) * backend.rows, -(-n // backend.cols) * backend.cols
    results = []
    a_dtype = backend.packed_a_dtype(a.dtype)
    for fill in (0x00, 0xA5):  # byte patterns
        a_packed = np.full(backend.a_size(rows, k) * a_dtype.itemsize, fill, np.uint8).view(a_dtype)
        b_packed = np.full(backend.b_size(cols, k) * backend.b_dtype.itemsize, fill, np.uint8).view(backend.b_dtype)
        row_sums, col_sums = np.full(rows, fill, np.int32), np.full(cols, fill, np.int32)
        pack_a_groups(a, backend.a_flip(a.dtype), 0, rows, backend.group, backend.a_block, a_packed, row_sums)
        pack_b_groups(b, 1, np.uint8(0x80), 0, cols, backend.b_block, -(-k // backend.k_multiple) * backend.k_multiple,
                      backend.b_block_pad, b_packed, col_sums)
        results.append((a_packed, b_packed, row_sums, col_sums))
    for zeroed, garbage in zip(*results):
        np.testing.assert_array_equal(garbage, zeroed)
    assert not results[0][2][m:].any() and not results[0][3][n:].any()


def test_auto_picks_the_fastest_available_path():
    assert isa.select_path("auto") == PATHS[0]
    assert isa.select_path("portable") == "portable"


def test_selection_respects_the_jit_target(monkeypatch):
    monkeypatch.setattr(isa, "jit_cpu_features", lambda: frozenset({"avx2", "avx512f", "avx512bw"}))
    assert isa.available_paths() == ("portable",)
    assert isa.select_path("auto") == "portable"
    with pytest.raises(RuntimeError, match="INFERENTIA_KERNELS_ISA=vnni: the JIT target .* lacks avx512vnni"):
        isa.select_path("vnni")


def test_amx_needs_the_linux_permission_as_well_as_the_features(monkeypatch):
    monkeypatch.setattr(isa, "jit_cpu_features", lambda: frozenset({"avx512f", "avx512bw", "avx512vnni", "amx-tile",
                                                                   "amx-int8"}))
    monkeypatch.setattr(isa, "request_permission", lambda: False)
    assert isa.available_paths() == ("vnni", "portable")
    with pytest.raises(RuntimeError, match="INFERENTIA_KERNELS_ISA=amx: .* lacks the Linux permission for AMX"):
        isa.select_path("amx")
    monkeypatch.setattr(isa, "request_permission", lambda: True)
    assert isa.available_paths() == ("amx", "vnni", "portable")


def test_unknown_path_is_a_clear_error():
    with pytest.raises(ValueError, match="INFERENTIA_KERNELS_ISA must be one of auto, amx, vnni, portable, got 'sse'"):
        isa.select_path("sse")


def _host_features_without(*hidden: str) -> str:
    from numba.core import codegen

    items = codegen.get_host_cpu_features().split(",")
    return ",".join("-" + item[1:] if item[1:] in hidden else item for item in items)


def _host_features_without_vnni() -> str:
    """The host's features with VNNI and AMX hidden (AMX-INT8 implies VNNI on real CPUs)."""
    return _host_features_without("avx512vnni", "avxvnni", "amx-tile", "amx-int8", "amx-bf16")


def _run(code: str, tmp_path, **environment) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), **environment}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.skipif("avx512f" not in jit_cpu_features(), reason="needs an AVX-512 host to hide VNNI from")
def test_a_target_without_vnni_imports_dispatches_and_computes(tmp_path):
    result = _run(
        """
        import numpy as np, inferentia_kernels as ik
        from inferentia_kernels.ops._int8_engine import active_path
        from inferentia_kernels.kernels.target import jit_cpu_features
        from inferentia_kernels.reference.matmul_integer import matmul_integer
        a = np.arange(-60, 60, dtype=np.int8).reshape(8, 15)
        b = np.arange(150, dtype=np.uint8).reshape(15, 10)
        assert np.array_equal(ik.ops.matmul_integer(a, b, 3, 7), matmul_integer(a, b, 3, 7))
        print(active_path(), "avx512vnni" in jit_cpu_features())
        """,
        tmp_path,
        NUMBA_CPU_FEATURES=_host_features_without_vnni(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["portable", "False"]


def _host_features_without_avx512() -> str:
    """The host's features with every AVX-512 and AMX feature hidden: an AVX2 (+ AVX-VNNI) target."""
    from numba.core import codegen

    items = codegen.get_host_cpu_features().split(",")
    return ",".join("-" + item[1:] if item[1:].startswith(("avx512", "amx")) else item for item in items)


@pytest.mark.skipif("avxvnni" not in jit_cpu_features(), reason="needs a host with AVX-VNNI")
def test_a_target_with_avx_vnni_but_no_avx512_runs_the_256_bit_vnni_kernel(tmp_path):
    result = _run(
        """
        import numpy as np, inferentia_kernels as ik
        from inferentia_kernels.kernels.asm import HOT_LOOPS, hot_loop
        from inferentia_kernels.kernels.int8_microkernel import VNNI_BITS, VNNI_COLUMNS
        from inferentia_kernels.ops._int8_engine import active_path
        from inferentia_kernels.reference.matmul_integer import matmul_integer
        rng = np.random.default_rng(5)
        # tails in M (6), N (16) and K (4); one product big enough for the host threads; int8 and uint8 A
        for m, k, n, a_dtype in [(7, 9, 17, np.int8), (13, 257, 200, np.uint8), (6, 4, 16, np.int8),
                                 (300, 1001, 130, np.uint8)]:
            info = np.iinfo(a_dtype)
            a = rng.integers(info.min, info.max + 1, (m, k)).astype(a_dtype)
            b = rng.integers(-128, 128, (k, n)).astype(np.int8)
            zb = (np.arange(n) % 7).astype(np.int8)
            assert np.array_equal(ik.ops.matmul_integer(a, b, 3, zb), matmul_integer(a, b, 3, zb)), (m, k, n)
        kernel, arguments, containing = HOT_LOOPS["INT8 VNNI microkernel (bytes)"]
        print(active_path(), VNNI_BITS, VNNI_COLUMNS, "vpdpbusd" in hot_loop(kernel, *arguments(), containing=containing))
        """,
        tmp_path,
        NUMBA_CPU_FEATURES=_host_features_without_avx512(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["vnni", "256", "16", "True"]


@pytest.mark.skipif("avx512f" not in jit_cpu_features(), reason="needs an AVX-512 host to hide VNNI from")
def test_forcing_a_missing_path_is_an_error_not_a_crash(tmp_path):
    result = _run(
        """
        import numpy as np, inferentia_kernels as ik
        ik.ops.matmul_integer(np.ones((8, 8), np.int8), np.ones((8, 8), np.int8))
        """,
        tmp_path,
        NUMBA_CPU_FEATURES=_host_features_without_vnni(),
        INFERENTIA_KERNELS_ISA="vnni",
    )
    assert result.returncode == 1, (result.returncode, result.stderr)  # a Python exception, not SIGABRT
    assert "RuntimeError: INFERENTIA_KERNELS_ISA=vnni: the JIT target" in result.stderr


@pytest.mark.skipif("amx" not in PATHS, reason="needs an AMX host to hide AMX from")
def test_a_target_without_amx_falls_back_to_vnni_and_forcing_amx_is_an_error(tmp_path):
    code = """
        import numpy as np, inferentia_kernels as ik
        from inferentia_kernels.ops._int8_engine import active_path
        from inferentia_kernels.reference.matmul_integer import matmul_integer
        a = np.arange(-60, 60, dtype=np.int8).reshape(8, 15)
        b = np.arange(150, dtype=np.uint8).reshape(15, 10)
        assert np.array_equal(ik.ops.matmul_integer(a, b, 3, 7), matmul_integer(a, b, 3, 7))
        print(active_path())
        """
    without_amx = _host_features_without("amx-tile", "amx-int8", "amx-bf16")
    result = _run(code, tmp_path, NUMBA_CPU_FEATURES=without_amx)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["vnni"]
    result = _run(code, tmp_path, NUMBA_CPU_FEATURES=without_amx, INFERENTIA_KERNELS_ISA="amx")
    assert result.returncode == 1, (result.returncode, result.stderr)  # a Python exception, not SIGABRT/SIGILL
    assert "RuntimeError: INFERENTIA_KERNELS_ISA=amx: the JIT target" in result.stderr


@pytest.mark.skipif("amx" not in PATHS, reason="needs an AMX host to hide AMX from")
def test_the_amx_kernel_refuses_to_compile_for_a_target_without_amx(tmp_path):
    result = _run(
        """
        import numpy as np
        from numba.core.errors import TypingError
        from inferentia_kernels.kernels import amx
        zeros = np.zeros(32, np.int32)
        try:
            amx.gemm_amx_tile(np.zeros((32, 64), np.uint8), True, False, np.zeros(2048, np.uint8),
                              np.zeros(2048, np.int8), np.zeros((0, 0), np.int8), 1, np.uint8(0), 0,
                              np.zeros(2, np.int64), 64, amx.tile_config(), zeros, zeros,
                              np.int32(0), zeros, zeros, 0, np.zeros(32, np.float32), zeros, zeros, np.int32(0),
                              np.int32(0), np.int32(0), 32, 32, 0, 32, 0, 32, 32, np.zeros(1, np.int64), 0, False,
                              np.zeros((32, 32), np.int32),
                              np.zeros((32, 32), np.int32), np.zeros(0, np.int64))
        except TypingError as error:
            print("refused:", "lacks ['amx-int8', 'amx-tile']" in str(error))
        """,
        tmp_path,
        NUMBA_CPU_FEATURES=_host_features_without("amx-tile", "amx-int8", "amx-bf16"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused: True"


@pytest.mark.skipif("avx512f" not in jit_cpu_features(), reason="needs an AVX-512 host to hide VNNI from")
def test_the_vnni_kernel_refuses_to_compile_for_a_target_without_vnni(tmp_path):
    result = _run(
        """
        import numpy as np
        from numba.core.errors import TypingError
        from inferentia_kernels.kernels import int8_microkernel
        try:
            int8_microkernel.gemm_packed_tile(
                np.zeros(96, np.uint8), np.zeros(1024, np.int8), 4, 256, np.zeros(6, np.int32), np.zeros(64, np.int32),
                np.int32(0), np.zeros(64, np.int32), np.zeros(64, np.int32), 0, np.zeros(64, np.float32),
                np.zeros(64, np.int32), np.zeros(64, np.int32), np.int32(0), np.int32(0), np.int32(0), 6, 64, 0, 6,
                0, 64, np.zeros((6, 64), np.int32), np.zeros((6, 64), np.int32))
        except TypingError as error:
            print("refused:", "lacks ['avx512vnni']" in str(error))
        """,
        tmp_path,
        NUMBA_CPU_FEATURES=_host_features_without_vnni(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused: True"
