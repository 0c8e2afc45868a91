"""Device: a group of simulated NeuronCores on one or more chips."""

from __future__ import annotations

import contextlib
import os
import threading

from ..errors import describe, invalid, wrong_dtype
from ..workloads.layers import LAYER_TYPES, Gemm
from ..workloads.networks import Workload
from .planner import STRATEGIES, plan
from .profile import Profile
from .recording import ProfileRecorder
from .spec import PRECISIONS, NeuronCoreSpec

__all__ = ["Device"]

_INF1 = NeuronCoreSpec.inf1()


def _positive_int(function: str, argument: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_dtype(function, argument, "an int", describe(value))
    if value < 1:
        raise invalid(function, argument, ">= 1", value)
    return value


def check_precision(function: str, precision) -> str:
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise invalid(function, "precision", "one of " + ", ".join(repr(p) for p in PRECISIONS), repr(precision))
    return precision


def check_strategy(function: str, strategy) -> str:
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise invalid(function, "strategy", "one of " + ", ".join(repr(s) for s in STRATEGIES), repr(strategy))
    return strategy


def as_workload(function: str, workload) -> Workload:
    """A :class:`Workload` from a workload, a sequence of layer specs or a single layer spec."""
    if isinstance(workload, Workload):
        return workload
    if isinstance(workload, LAYER_TYPES):
        return Workload(workload.name, (workload,))
    if isinstance(workload, (list, tuple)):
        try:
            return Workload(getattr(workload, "name", "workload"), workload)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{function}: workload must be a sequence of layer specs: {error}") from None
    raise wrong_dtype(function, "workload", "a Workload, a layer spec or a list of layer specs", describe(workload))


class Device:
    """``cores`` simulated NeuronCores, ``cores_per_chip`` to a chip (chips in a chain).

    ``Device(cores=1, *, cores_per_chip=4, core=NeuronCoreSpec.inf1(), executor=None)``.
    Any core count is accepted: when it is not a multiple of ``cores_per_chip`` the last chip
    is partly used (its active cores then share its DRAM bandwidth among fewer cores).
    ``executor`` (a ``concurrent.futures.Executor``: a thread pool, a ``dask.distributed``
    ``Client.get_executor()`` with thread or process workers, ...) runs the cores' tiles of ops
    called with ``device=``; None uses the host thread pool. Tasks that run in another process
    receive copies of their tiles' inputs and send their part of the output back. The performance model
    (:meth:`estimate`) never executes anything.
    """

    def __init__(self, cores: int = 1, *, cores_per_chip: int = 4, core: NeuronCoreSpec = _INF1, executor=None):
        self._cores = _positive_int("Device", "cores", cores)
        self._cores_per_chip = _positive_int("Device", "cores_per_chip", cores_per_chip)
        if core is None:
            core = NeuronCoreSpec.inf1()
        if not isinstance(core, NeuronCoreSpec):
            raise wrong_dtype("Device", "core", "a NeuronCoreSpec (e.g. NeuronCoreSpec.inf1())", describe(core))
        self._core = core
        if executor is not None and not callable(getattr(executor, "submit", None)):
            raise wrong_dtype("Device", "executor", "None or a concurrent.futures.Executor (with submit)",
                              describe(executor))
        self._executor = executor
        # Tiles run in this process write into the output in place; tasks in another process
        # (e.g. dask workers started with processes=True) send their parts of it back instead.
        self._in_process = executor is None or executor.submit(os.getpid).result() == os.getpid()
        self._recorders: list[ProfileRecorder] = []
        self._recorders_lock = threading.Lock()

    @property
    def cores(self) -> int:
        return self._cores

    @property
    def cores_per_chip(self) -> int:
        return self._cores_per_chip

    @property
    def chips(self) -> int:
        """Chips the cores occupy: ``ceil(cores / cores_per_chip)``."""
        return -(-self._cores // self._cores_per_chip)

    @property
    def core(self) -> NeuronCoreSpec:
        return self._core

    @property
    def executor(self):
        return self._executor

    @property
    def executor_in_process(self) -> bool:
        """Whether the executor's tasks run in this process (threads) rather than in others."""
        return self._in_process

    def __repr__(self) -> str:
        return (f"Device(cores={self._cores}, cores_per_chip={self._cores_per_chip}, core={self._core.name}, "
                f"chips={self.chips})")

    def peak_tops(self, precision: str = "int8") -> float:
        """Peak tera-operations per second of all cores (a MAC is two operations):
        32 per inf1 core for INT8, 16 for BF16/FP16."""
        check_precision("Device.peak_tops", precision)
        return self._cores * self._core.peak_tops(precision)

    def estimate(self, workload, *, batch: int = 1, precision: str = "int8",
                 strategy: str = "data_parallel") -> Profile:
        """Predict ``batch`` samples of ``workload`` with the performance model (nothing runs).

        ``workload``: a :class:`~inferentia_kernels.workloads.Workload` (e.g.
        ``ik.workloads.resnet50()``), a list of layer specs or one layer spec. ``precision``:
        ``"int8"``, ``"bf16"`` or ``"fp16"``. ``strategy``: ``"data_parallel"``, ``"pipeline"``
        or ``"tensor_parallel"`` (see docs/perf-model.md).
        """
        function = "Device.estimate"
        workload = as_workload(function, workload)
        _positive_int(function, "batch", batch)
        check_precision(function, precision)
        check_strategy(function, strategy)
        weight_bytes = workload.weight_elements * PRECISIONS[precision]
        if weight_bytes > self._core.dram_bytes:
            raise invalid(function, "workload", f"weights that fit in one chip's {self._core.dram_gib:g} GiB DRAM",
                          f"{weight_bytes / 2**30:.2f} GiB of {precision} weights")
        return plan(workload, name=workload.name, sample=workload.sample, batch=batch, precision=precision,
                    strategy=strategy, spec=self._core, cores=self._cores, cores_per_chip=self._cores_per_chip)

    @contextlib.contextmanager
    def profile(self):
        """``with dev.profile() as prof:`` records the performance model's estimate of every op
        run on this device inside the block; ``prof`` then answers like a :class:`Profile`
        (``seconds``, ``macs``, ``tops``, ``utilization``, ``ops``, ``summary()``, ``to_dict()``).
        Blocks may nest; each records the ops run inside it."""
        recorder = ProfileRecorder(self)
        with self._recorders_lock:
            self._recorders.append(recorder)
        try:
            yield recorder
        finally:
            with self._recorders_lock:
                self._recorders.remove(recorder)

    def record_gemm(self, op: str, *, m: int, k: int, n: int, count: int, batch: int, shared_weights: bool,
                    precision: str) -> None:
        """Record, in every open :meth:`profile`, an op that ran ``batch`` samples of ``count``
        GEMMs [m, k] x [k, n]. The model splits samples across the cores (data parallel) when
        there are at least as many as cores, else the columns (tensor parallel), as the tiles did.
        ``precision`` "fp32" is modelled at the BF16 rate (the chip runs FP32 models in BF16)."""
        with self._recorders_lock:
            recorders = list(self._recorders)
        if not recorders or min(m, k, n, count, batch) < 1:
            return
        layer = Gemm(op, m=m, k=k, n=n, count=count, shared_weights=shared_weights)
        strategy = "data_parallel" if batch >= self._cores else "tensor_parallel"
        estimate = plan([layer], name=op, sample="sample", batch=batch,
                        precision="bf16" if precision == "fp32" else precision, strategy=strategy, spec=self._core,
                        cores=self._cores, cores_per_chip=self._cores_per_chip)
        for recorder in recorders:
            recorder.record(op, estimate)
