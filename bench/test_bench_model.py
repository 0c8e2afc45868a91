"""How long the performance model takes: ``Device.estimate`` of all of ResNet-50 on 16 cores.

The target is under 50 ms per estimate (the model is plain Python: a few thousand layer
prices). The time is recorded, not asserted (timing asserts are flaky on shared machines);
``extra_info["target_ms"]`` and ``extra_info["within_target"]`` carry the comparison, and
``extra_info["predicted_per_s"]`` the model's own throughput prediction.
"""

from __future__ import annotations

import pytest

import inferentia_kernels as ik

TARGET_MS = 50.0


@pytest.mark.parametrize("strategy", ["data_parallel", "pipeline", "tensor_parallel"])
@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_estimate_resnet50_16_cores(measure, benchmark, strategy, precision):
    device = ik.Device(16)
    workload = ik.workloads.resnet50()
    batch = 128 if strategy != "tensor_parallel" else 1
    profile = measure(lambda: device.estimate(workload, batch=batch, precision=precision, strategy=strategy),
                      group="performance model: resnet50 estimate on 16 cores", impl=f"{strategy} {precision}",
                      kind="ik", threads=1, shape=(16, batch), target_ms=TARGET_MS)
    assert profile.seconds > 0
    benchmark.extra_info["predicted_per_s"] = profile.throughput
    if benchmark.stats is not None and benchmark.stats.stats:
        benchmark.extra_info["within_target"] = benchmark.stats.stats.mean * 1e3 < TARGET_MS


DEVICE_OVERHEAD_TARGET = 0.10  # executing through a device may cost at most 10 % more wall time


@pytest.mark.parametrize("cores", [None, 1, 4, 16], ids=lambda c: "host" if c is None else f"{c} cores")
def test_int8_matmul_through_a_device(measure, cores):
    """1024^3 INT8 matmul with device=None and on devices of 1, 4 and 16 simulated cores: the
    report compares their wall times (target: a device costs < 10 % more than device=None)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1024, 1024), dtype=np.uint8)
    b = rng.integers(-128, 128, (1024, 1024), dtype=np.int8)
    device = None if cores is None else ik.Device(cores)
    measure(lambda: ik.ops.matmul_integer(a, b, 128, device=device), group="device overhead: matmul_integer 1024^3",
            impl="device=None" if cores is None else f"Device({cores})", kind="ik" if cores else "reference",
            threads=1, shape=(1024, 1024, 1024), ops=2 * 1024**3, target_overhead=DEVICE_OVERHEAD_TARGET)
