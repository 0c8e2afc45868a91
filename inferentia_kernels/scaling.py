"""Scaling tables: one workload estimated on 1, 2, 4, ... cores (the model only, nothing runs).

::

    import inferentia_kernels as ik
    report = ik.scaling(ik.workloads.resnet50(), cores=(1, 2, 4, 8, 16), precision="int8")
    print(report)            # peak / achieved TOPS, throughput, efficiency against linear, bound
    report.to_dict()         # the same as plain data

``batch=None`` scales the batch with the cores (``batch_per_core`` samples per core: weak
scaling, the setting of a throughput server); an int keeps the batch fixed (strong scaling),
which shows where scaling breaks when cores outnumber the samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .device.device import Device, as_workload, check_precision, check_strategy
from .device.profile import Profile
from .device.spec import NeuronCoreSpec
from .errors import describe, invalid, wrong_dtype
from .workloads import bert_base, resnet50

__all__ = ["ScalingReport", "ScalingRow", "scaling"]

#: Workloads known by name (``scaling("resnet50")``, ``inferentia-kernels scale --workload``).
WORKLOADS = {"resnet50": resnet50, "bert_base": bert_base}


@dataclass(frozen=True)
class ScalingRow:
    """One core count: what the model predicts and how it compares with linear scaling."""

    cores: int
    chips: int
    batch: int
    peak_tops: float
    achieved_tops: float
    throughput: float
    speedup: float
    efficiency: float
    chip_efficiency: float | None
    utilization: float
    bound: str
    seconds: float


@dataclass(frozen=True)
class ScalingReport:
    """Rows of :class:`ScalingRow`, one per core count, and the profiles behind them.

    ``efficiency`` is ``throughput / (cores x throughput of one core)`` with one core running
    ``batch_per_core`` samples (weak scaling) or the same batch (strong scaling);
    ``chip_efficiency`` compares with one full chip instead (``cores_per_chip`` cores), for core
    counts that are whole chips: the scale-out across chips, apart from the sharing of a
    chip's DRAM bandwidth inside it.
    """

    workload: str
    sample: str
    precision: str
    strategy: str
    batch: int | None
    batch_per_core: int
    cores_per_chip: int
    rows: tuple[ScalingRow, ...]
    profiles: tuple[Profile, ...]

    def row(self, cores: int) -> ScalingRow:
        for row in self.rows:
            if row.cores == cores:
                return row
        raise KeyError(cores)

    def __str__(self) -> str:
        batch = f"batch {self.batch}" if self.batch is not None else f"{self.batch_per_core} {self.sample}s per core"
        lines = [f"{self.workload}, {self.precision}, {self.strategy}, {batch} (performance model)"]
        header = (f"{'cores':>5} {'chips':>5} {'batch':>6} {'peak TOPS':>10} {'achieved':>9} "
                  f"{self.sample + 's/s':>12} {'speedup':>8} {'vs linear':>9} {'vs chips':>8} {'util':>6}  bound")
        lines += [header, "-" * len(header)]
        for r in self.rows:
            chip = f"{100 * r.chip_efficiency:7.1f}%" if r.chip_efficiency is not None else f"{'-':>8}"
            lines.append(f"{r.cores:>5} {r.chips:>5} {r.batch:>6} {r.peak_tops:>10.1f} {r.achieved_tops:>9.2f} "
                         f"{r.throughput:>12.1f} {r.speedup:>7.2f}x {100 * r.efficiency:>8.1f}% {chip} "
                         f"{100 * r.utilization:>5.1f}%  {r.bound}")
        lines.append("vs linear: throughput / (cores x one core's); vs chips: throughput / (chips x one "
                     f"full chip's, {self.cores_per_chip} cores); bound: the resource most op time waits on")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "workload": self.workload,
            "sample": self.sample,
            "precision": self.precision,
            "strategy": self.strategy,
            "batch": self.batch,
            "batch_per_core": self.batch_per_core,
            "cores_per_chip": self.cores_per_chip,
            "rows": [asdict(row) for row in self.rows],
        }


def _cores(value) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not value:
        raise wrong_dtype("scaling", "cores", "a non-empty sequence of ints", describe(value))
    for n in value:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise invalid("scaling", "cores", "core counts that are ints >= 1", repr(value))
    return tuple(sorted(set(value)))


def scaling(workload, *, cores=(1, 2, 4, 8, 16), precision: str = "int8", batch: int | None = None,
            strategy: str = "data_parallel", batch_per_core: int = 8, cores_per_chip: int = 4,
            core: NeuronCoreSpec | None = None) -> ScalingReport:
    """Estimate ``workload`` on each core count in ``cores`` and compare with linear scaling.

    ``workload``: a workload, a list of layer specs, or a name (``"resnet50"``, ``"bert_base"``).
    ``batch``: None for ``batch_per_core`` samples per core (weak scaling), or a fixed batch.
    """
    if isinstance(workload, str):
        if workload not in WORKLOADS:
            raise invalid("scaling", "workload", "a workload or one of " + ", ".join(map(repr, WORKLOADS)),
                          repr(workload))
        workload = WORKLOADS[workload]()
    workload = as_workload("scaling", workload)
    counts = _cores(cores)
    check_precision("scaling", precision)
    check_strategy("scaling", strategy)
    for name, value in (("batch_per_core", batch_per_core), ("cores_per_chip", cores_per_chip)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid("scaling", name, "an int >= 1", repr(value))
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise invalid("scaling", "batch", "None or an int >= 1", repr(batch))

    def estimate(n: int) -> Profile:
        device = Device(n, cores_per_chip=cores_per_chip, core=core)
        return device.estimate(workload, batch=batch if batch is not None else batch_per_core * n,
                               precision=precision, strategy=strategy)

    profiles = {n: estimate(n) for n in counts}
    for reference in (1, cores_per_chip):
        if reference not in profiles:
            profiles[reference] = estimate(reference)
    one, chip = profiles[1].throughput, profiles[cores_per_chip].throughput
    rows = []
    for n in counts:
        p = profiles[n]
        whole_chips = n % cores_per_chip == 0
        rows.append(ScalingRow(
            cores=n, chips=p.chips, batch=p.batch, peak_tops=p.peak_tops, achieved_tops=p.tops,
            throughput=p.throughput, speedup=p.throughput / one, efficiency=p.throughput / (n * one),
            chip_efficiency=p.throughput / (n // cores_per_chip * chip) if whole_chips else None,
            utilization=p.utilization, bound=p.bound, seconds=p.seconds))
    return ScalingReport(workload=workload.name, sample=workload.sample, precision=precision, strategy=strategy,
                         batch=batch, batch_per_core=batch_per_core, cores_per_chip=cores_per_chip,
                         rows=tuple(rows), profiles=tuple(profiles[n] for n in counts))
