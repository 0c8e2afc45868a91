"""Ops run on a Device: tiles owned by simulated cores, results identical to device=None."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inferentia_kernels as ik
from inferentia_kernels.ops import _tiles


def _int8(rng, shape, dtype=np.int8):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape, dtype=dtype)


def _cases(rng):
    """name -> function(device) running one op on fixed random inputs."""
    a, b = _int8(rng, (2, 37, 70), np.uint8), _int8(rng, (70, 300))
    af, bf = rng.standard_normal((37, 300)).astype(np.float32), rng.standard_normal((300, 45)).astype(np.float32)
    x, w = _int8(rng, (2, 6, 9, 8), np.uint8), _int8(rng, (10, 3, 3, 3))
    xf, wf = rng.standard_normal((2, 6, 9, 8)).astype(np.float32), rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    acc = rng.integers(-(2**31), 2**31, (33, 50), dtype=np.int64).astype(np.int32)
    a_qp, b_qp, y_qp = ik.QParams(0.02, 128, np.uint8), ik.QParams(0.01, 3, np.int8), ik.QParams(0.5, -2, np.int8)
    w_qp = ik.QParams(np.full(10, 0.01, np.float32), 0, np.int8, axis=0)
    return {
        "matmul_integer": lambda d: ik.ops.matmul_integer(a, b, 128, 3, device=d),
        "matmul_integer GEMV": lambda d: ik.ops.matmul_integer(a[0, :2], b, 7, device=d),
        "qlinear_matmul": lambda d: ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, mode="fixed_point", device=d),
        "matmul bf16": lambda d: ik.ops.matmul(af, bf, precision="bf16", device=d),
        "matmul fp32": lambda d: ik.ops.matmul(af, bf, precision="fp32", device=d),
        "conv_integer groups": lambda d: ik.ops.conv_integer(x, w, 5, padding=1, groups=2, device=d),
        "qlinear_conv": lambda d: ik.ops.qlinear_conv(x, a_qp, w, w_qp, y_qp, stride=2, groups=2, device=d),
        "conv2d depthwise fp16": lambda d: ik.ops.conv2d(xf, wf, padding="same", groups=6, precision="fp16",
                                                         device=d),
        "requantize": lambda d: ik.ops.requantize(acc, 1e-6, y_qp, device=d),
    }


CASES = _cases(np.random.default_rng(0))
EXPECTED = {name: run(None) for name, run in CASES.items()}


@settings(max_examples=40)
@given(cores=st.integers(1, 64), cores_per_chip=st.sampled_from([1, 2, 4]), name=st.sampled_from(sorted(CASES)))
def test_results_are_bit_identical_for_every_core_count(cores, cores_per_chip, name):
    got = CASES[name](ik.Device(cores, cores_per_chip=cores_per_chip))
    expected = EXPECTED[name]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got.view(np.uint8), expected.view(np.uint8)), name


class RecordingExecutor(ThreadPoolExecutor):
    """A thread pool that remembers what it was asked to run."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.tasks: list[list] = []
        self._lock = threading.Lock()

    def submit(self, function, *args, **kwargs):
        tiles = [arg for arg in args if isinstance(arg, list)]  # a task's run of tiles
        if tiles:
            with self._lock:
                self.tasks.append(list(tiles[0]))
        return super().submit(function, *args, **kwargs)


@pytest.mark.parametrize("cores", [1, 3, 16, 64])
def test_every_tile_is_owned_by_exactly_one_core(cores):
    executor = RecordingExecutor()
    device = ik.Device(cores, executor=executor)
    executor.tasks.clear()
    tiles = [(i, i + 1, 0, 1) for i in range(10)]
    seen: list = []
    with _tiles.on_device("test", device):
        _tiles.run_tiles(lambda tile: seen.append(tile), tiles)
    assert sorted(seen) == tiles  # each tile ran once
    assert [tile for task in executor.tasks for tile in task] == tiles  # contiguous runs, in order
    owners = min(cores, len(tiles))
    owner = {tile: c for c in range(owners) for tile in tiles[c * len(tiles) // owners:(c + 1) * len(tiles) // owners]}
    assert all(len({owner[tile] for tile in task}) == 1 for task in executor.tasks)  # one core per task
    assert len({owner[task[0]] for task in executor.tasks}) == min(cores, len(tiles))  # every core works
    assert len(executor.tasks) >= min(_tiles.THREADS, len(tiles))  # the whole host is used
    executor.shutdown()


def test_a_narrow_output_is_split_into_rows_for_every_core():
    with _tiles.on_device("test", ik.Device(16)):
        tiles, strips = _tiles.plan_tiles(1024, 128)  # one column tile: rows split over the cores
        wide, wide_strips = _tiles.plan_tiles(1024, 1024)  # eight column tiles keep the host busy
    assert not strips and len(tiles) == 16
    assert wide_strips and len(wide) == 8


def test_ops_run_on_the_devices_executor():
    executor = RecordingExecutor()
    device = ik.Device(4, executor=executor)
    executor.tasks.clear()
    a = np.ones((64, 64), np.int8)
    np.testing.assert_array_equal(ik.ops.matmul_integer(a, a, device=device), np.full((64, 64), 64))
    assert executor.tasks
    executor.shutdown()


def test_profile_records_every_op_run_on_the_device():
    device = ik.Device(8)
    a, b = np.ones((256, 512), np.int8), np.ones((512, 384), np.int8)
    with device.profile() as outer:
        ik.ops.matmul_integer(a, b, device=device)
        with device.profile() as inner:
            ik.ops.conv2d(np.ones((2, 3, 16, 16), np.float32), np.ones((8, 3, 3, 3), np.float32), padding=1,
                          device=device)
        ik.ops.matmul_integer(a, b)  # not on the device: not recorded
    assert [op for op, _ in outer.runs] == ["matmul_integer", "conv2d"]
    assert [op for op, _ in inner.runs] == ["conv2d"]
    assert outer.macs == 256 * 512 * 384 + 2 * 16 * 16 * 27 * 8
    assert outer.seconds == pytest.approx(sum(estimate.seconds for _, estimate in outer.runs))
    assert 0 < outer.utilization <= 1 and outer.tops > 0
    assert all(record.bound in ("compute", "dram", "link", "vector") for record in outer.ops)
    assert "1:matmul_integer/matmul_integer" in outer.summary()
    json.dumps(outer.to_dict())


def test_estimate_of_a_recorded_op_matches_the_model():
    device = ik.Device(4)
    a, b = np.ones((512, 256), np.int8), np.ones((256, 1024), np.int8)
    with device.profile() as prof:
        ik.ops.matmul_integer(a, b, device=device)
    layer = ik.workloads.Gemm("matmul_integer", m=512, k=256, n=1024)
    expected = device.estimate([layer], batch=1, precision="int8", strategy="tensor_parallel")
    assert prof.seconds == expected.seconds and prof.macs == expected.macs


def test_bad_device_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="matmul: device must be None or an inferentia_kernels.Device"):
        ik.ops.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), device=4)


def test_dask_threads_executor():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        device = ik.Device(8, executor=client.get_executor())
        for name, run in CASES.items():
            got = run(device)
            assert np.array_equal(got.view(np.uint8), EXPECTED[name].view(np.uint8)), name


def test_dask_processes_executor():
    """Worker processes get copies of their tiles' inputs and send their parts of the output back."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        device = ik.Device(4, executor=client.get_executor())
        assert not device.executor_in_process
        assert os.getpid() not in set(client.run(os.getpid).values())
        for name, run in CASES.items():
            with distributed.get_task_stream(client) as stream:
                got = run(device)
            assert np.array_equal(got.view(np.uint8), EXPECTED[name].view(np.uint8)), name
            assert len(stream.data) >= 2, (name, stream.data)  # the tiles ran as tasks on the workers
