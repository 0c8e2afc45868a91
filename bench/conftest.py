"""pytest-benchmark configuration for bench/ (not part of the normal test run).

Run from the repository root::

    python -m pytest bench --benchmark-json=bench/results.json
    python bench/report.py bench/results.json -o docs/performance.md

``python -m pytest`` alone never collects bench/ (pyproject sets ``testpaths = ["tests"]``); every
item collected here also carries the ``bench`` marker, so ``-m "not bench"`` drops them from any
run that names bench/ explicitly.

Each benchmark goes through the :func:`measure` fixture:

1. a short pause, so that thread pools of the previous benchmark (OpenBLAS, ONNX Runtime spin
   after their work) are idle again;
2. two untimed calls: the first warms up (numba compilation or cache load, ORT's first run), the
   second is timed with ``perf_counter`` to choose the number of rounds;
3. ``benchmark.pedantic`` with ``rounds = clamp(budget / probe, MIN_ROUNDS, MAX_ROUNDS)`` and one
   more warm-up round unless a call takes longer than ``WARMUP_LIMIT`` seconds;
4. ``extra_info`` filled from the measured mean: ``gops`` (2*M*K*N / mean / 1e9) or
   ``gelem_per_s``, with ``impl``, ``kind`` ("ik" or "reference"), ``shape`` and ``threads``.

Environment knobs: ``IK_BENCH_BUDGET`` (seconds of timed calls per benchmark, default 1.0),
``IK_BENCH_MIN_ROUNDS`` (default 3), ``IK_BENCH_SETTLE`` (pause in seconds, default 0.25).

The run's host description (CPU, core counts, library versions, numpy's BLAS, the CPU features
numba's JIT targets, load average) is stored in the JSON's ``machine_info["inferentia_kernels"]``
so that bench/report.py works from the JSON alone.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(__file__).resolve().parent

BUDGET = float(os.environ.get("IK_BENCH_BUDGET", "1.0"))
MIN_ROUNDS = int(os.environ.get("IK_BENCH_MIN_ROUNDS", "3"))
MAX_ROUNDS = 200
SETTLE = float(os.environ.get("IK_BENCH_SETTLE", "0.25"))
#: Calls slower than this get no extra warm-up round (the two probe calls already warmed up).
WARMUP_LIMIT = 0.5

_STARTED = time.time()
_LOADAVG_START = list(os.getloadavg()) if hasattr(os, "getloadavg") else None


# ---------------------------------------------------------------------------------------------
# Collection


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: a pytest-benchmark timing from bench/ (not part of the test run)")
    # pyproject turns warnings into errors; pytest-benchmark's own notices (e.g. "no benchmarks
    # have been run" after -k selects nothing) must not crash the session at its end.
    config.addinivalue_line("filterwarnings", "default::pytest_benchmark.logger.PytestBenchmarkWarning")
    try:  # ... including those issued at session finish, outside the per-phase warning filters
        from pytest_benchmark.logger import PytestBenchmarkWarning

        warnings.filterwarnings("default", category=PytestBenchmarkWarning)
    except ImportError:
        pass


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BENCH_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.bench)


# ---------------------------------------------------------------------------------------------
# Threads


def logical_cpus() -> int:
    return os.cpu_count() or 1


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return logical_cpus()


def physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or logical_cpus()
    except ImportError:
        return logical_cpus()


def blas_threads() -> int:
    """Threads OpenBLAS uses for numpy's float32 matmul (threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return int(pool["num_threads"])
    except ImportError:
        pass
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return affinity_cpus()


def ik_gemm_threads() -> int:
    """Threads the GEMM tiles run on (the ops' ``THREADS``; one per host CPU)."""
    import importlib

    for module in ("inferentia_kernels.ops._tiles", "inferentia_kernels.ops._int8_engine"):
        try:
            threads = getattr(importlib.import_module(module), "THREADS", None)
        except ImportError:
            continue
        if threads:
            return int(threads)
    return logical_cpus()


def ort_threads() -> int:
    """ONNX Runtime's default intra-op pool (intra_op_num_threads=0): one thread per physical core."""
    return physical_cores()


@pytest.fixture(scope="session")
def threads() -> dict[str, int]:
    """Thread counts recorded in extra_info, by implementation family."""
    return {
        "ik_gemm": ik_gemm_threads(),
        "ik_serial": 1,
        "numpy_blas": blas_threads(),
        "numpy": 1,
        "ort": ort_threads(),
    }


# ---------------------------------------------------------------------------------------------
# ONNX Runtime


@pytest.fixture(scope="session")
def ort_session():
    """``make(model) -> InferenceSession`` on the CPU provider with ONNX Runtime's default
    threading (all physical cores), as our kernels use every host core."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")

    def make(model):
        onnx.checker.check_model(model)
        options = ort.SessionOptions()  # intra_op_num_threads = 0: ORT's default pool
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    return make


# ---------------------------------------------------------------------------------------------
# Measuring


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.fixture
def measure(benchmark):
    """``measure(fn, *, group, impl, kind, threads, shape=None, ops=None, elements=None, **extra)``.

    ``ops`` (multiply-adds counted as 2) gives ``extra_info["gops"]``; ``elements`` gives
    ``extra_info["gelem_per_s"]``. Returns fn's result from the last timed call.
    """

    def run(fn, *, group: str, impl: str, kind: str, threads: int, shape=None, ops=None, elements=None, **extra):
        benchmark.group = group
        info = benchmark.extra_info
        info.update(impl=impl, kind=kind, threads=int(threads))
        if shape is not None:
            info["shape"] = [int(s) for s in shape]
        if ops is not None:
            info["ops"] = int(ops)
        if elements is not None:
            info["elements"] = int(elements)
        info.update(extra)

        if SETTLE > 0:
            time.sleep(SETTLE)
        info["first_call_s"] = _timed(fn)  # warm-up: includes numba compilation / cache load
        probe = _timed(fn)
        info["probe_s"] = probe
        rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, math.ceil(BUDGET / max(probe, 1e-9)))))
        warmup = 1 if probe < WARMUP_LIMIT else 0
        result = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=warmup, iterations=1)

        if benchmark.stats is not None and benchmark.stats.stats:  # None under --benchmark-disable
            mean = benchmark.stats.stats.mean
            if ops is not None:
                info["gops"] = ops / mean / 1e9
            if elements is not None:
                info["gelem_per_s"] = elements / mean / 1e9
        return result

    return run


# ---------------------------------------------------------------------------------------------
# Machine description (stored in the JSON)


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _numpy_blas() -> str | None:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return " ".join(str(part) for part in (blas.get("name"), blas.get("version")) if part)
    except Exception:  # noqa: BLE001 - informational only
        return None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _jit_target() -> dict:
    try:
        from inferentia_kernels.kernels.isa import available_paths
        from inferentia_kernels.kernels.target import KERNEL_FEATURES, jit_cpu_features, jit_cpu_name
        from inferentia_kernels.ops._int8_engine import active_path

        features = jit_cpu_features()
        return {
            "jit_cpu_name": jit_cpu_name(),
            "jit_kernel_features": [f for f in KERNEL_FEATURES if f in features],
            "int8_path": active_path(),
            "int8_paths_available": list(available_paths()),
        }
    except Exception as error:  # noqa: BLE001 - informational only
        return {"jit_error": repr(error)}


def host_description(config) -> dict:
    args = shlex.join(str(arg) for arg in config.invocation_params.args)
    description = {
        "command": f"python -m pytest {args}".rstrip(),
        "cwd": str(config.invocation_params.dir),
        "started": datetime.fromtimestamp(_STARTED, timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cpus": logical_cpus(),
        "affinity_cpus": affinity_cpus(),
        "physical_cores": physical_cores(),
        "threads": {
            "ik_gemm": ik_gemm_threads(),
            "numpy_blas": blas_threads(),
            "ort_intra_op": ort_threads(),
        },
        "loadavg_start": _LOADAVG_START,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy_blas": _numpy_blas(),
        "versions": {
            name: _version(name)
            for name in (
                "inferentia-kernels",
                "numpy",
                "numba",
                "llvmlite",
                "ml_dtypes",
                "onnx",
                "onnxruntime",
                "pytest-benchmark",
            )
        },
        "environment": {
            key: value
            for key, value in os.environ.items()
            if key.startswith(("NUMBA_", "IK_BENCH_", "OMP_", "OPENBLAS_", "MKL_"))
        },
        "settings": {"budget_s": BUDGET, "min_rounds": MIN_ROUNDS, "max_rounds": MAX_ROUNDS, "settle_s": SETTLE},
    }
    description.update(_jit_target())
    return description


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["inferentia_kernels"] = host_description(config)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    run = output_json.setdefault("machine_info", {}).setdefault("inferentia_kernels", {})
    run["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    run["wall_time_s"] = round(time.time() - _STARTED, 1)
