"""Profile: what the performance model predicts for a workload, in total and per op and core."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["BOUNDS", "CoreRecord", "OpRecord", "Profile"]

#: The resources an op can be bound by.
BOUNDS = ("compute", "dram", "link", "vector")


@dataclass(frozen=True)
class CoreRecord:
    """One core's share of one op over the whole batch.

    ``seconds = max(compute_s, dram_s, vector_s) + link_s`` (the link transfer of a
    tensor-parallel gather cannot overlap: the op needs its whole input). For a pipeline the
    record adds up all micro-batches (``passes`` of them).
    """

    core: int
    chip: int
    samples: int
    macs: int
    folds: int
    cycles: int
    compute_s: float
    vector_ops: int
    vector_s: float
    dram_bytes: int
    dram_s: float
    link_bytes: int
    link_s: float
    seconds: float
    bound: str
    weights_resident: bool
    activations_on_chip: bool
    passes: int = 1


@dataclass(frozen=True)
class OpRecord:
    """One op (a layer, or a transfer between pipeline stages) over the whole batch.

    ``seconds`` is the op's time on its slowest core; ``tops`` and ``utilization`` use it and the
    peak of the cores the op ran on.
    """

    name: str
    kind: str
    macs: int
    seconds: float
    tops: float
    utilization: float
    bound: str
    cores: tuple[CoreRecord, ...]

    @property
    def cycles(self) -> int:
        """Tensor-engine cycles on the slowest core."""
        return max((c.cycles for c in self.cores), default=0)

    @property
    def dram_bytes(self) -> int:
        return sum(c.dram_bytes for c in self.cores)

    @property
    def link_bytes(self) -> int:
        return sum(c.link_bytes for c in self.cores)


@dataclass(frozen=True)
class Profile:
    """The model's estimate for ``batch`` samples of a workload on a device.

    ``seconds`` is the simulated time from the first input to the last output; ``throughput``
    is ``batch / seconds`` (samples per second), ``tops`` the achieved tera-operations per
    second (2 x MACs / seconds) and ``utilization`` their share of the device's peak.
    ``plan`` holds what the strategy decided (samples per core, pipeline stages, ...).
    """

    workload: str
    sample: str
    strategy: str
    precision: str
    batch: int
    cores: int
    cores_per_chip: int
    seconds: float
    macs: int
    peak_tops: float
    ops: tuple[OpRecord, ...]
    bound: str
    plan: dict = field(default_factory=dict, compare=False)

    @property
    def chips(self) -> int:
        return -(-self.cores // self.cores_per_chip)

    @property
    def cycles(self) -> int:
        """Tensor-engine cycles, added up over the ops (each op's slowest core)."""
        return sum(op.cycles for op in self.ops)

    @property
    def tops(self) -> float:
        return 2 * self.macs / self.seconds / 1e12 if self.seconds > 0 else 0.0

    @property
    def utilization(self) -> float:
        return self.tops / self.peak_tops

    @property
    def throughput(self) -> float:
        return self.batch / self.seconds if self.seconds > 0 else float("inf")

    def op(self, name: str) -> OpRecord:
        """The record of the op called ``name``."""
        for record in self.ops:
            if record.name == name:
                return record
        raise KeyError(name)

    def seconds_by_bound(self) -> dict[str, float]:
        """Op seconds added up by the resource that bound each op."""
        totals = dict.fromkeys(BOUNDS, 0.0)
        for record in self.ops:
            totals[record.bound] += record.seconds
        return totals

    def summary(self, top: int | None = 12) -> str:
        """A readable report: totals, then the ``top`` slowest ops (all when None)."""
        by_bound = self.seconds_by_bound()
        total = sum(by_bound.values()) or 1.0
        lines = [
            f"{self.workload} x {self.batch} ({self.precision}, {self.strategy}) on {self.cores} core"
            f"{'s' if self.cores != 1 else ''} ({self.chips} chip{'s' if self.chips != 1 else ''} of "
            f"{self.cores_per_chip})",
            f"  time        {self.seconds * 1e3:10.3f} ms      throughput {self.throughput:10.1f} {self.sample}s/s",
            f"  MACs        {self.macs / 1e9:10.3f} G       achieved   {self.tops:10.2f} TOPS "
            f"of {self.peak_tops:.1f} peak ({100 * self.utilization:.1f} %)",
            "  op time by bound: " + ", ".join(
                f"{name} {100 * seconds / total:.0f} %" for name, seconds in by_bound.items() if seconds > 0),
            f"  binding resource: {self.bound}",
        ]
        for key, value in self.plan.items():
            if isinstance(value, (int, float, str)):
                lines.append(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
        ranked = sorted(self.ops, key=lambda r: r.seconds, reverse=True)
        shown = ranked if top is None else ranked[:top]
        width = max([len(r.name) for r in shown] + [2])
        lines.append("")
        lines.append(f"  {'op':<{width}}  {'MMACs':>9}  {'us':>9}  {'TOPS':>7}  {'util':>6}  bound")
        for r in shown:
            lines.append(f"  {r.name:<{width}}  {r.macs / 1e6:9.1f}  {r.seconds * 1e6:9.1f}  {r.tops:7.2f}  "
                         f"{100 * r.utilization:5.1f}%  {r.bound}")
        if len(shown) < len(ranked):
            lines.append(f"  ... {len(ranked) - len(shown)} more ops (summary(top=None) lists all)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict:
        """Plain data (JSON-serializable): the totals, the plan and every op with its cores."""
        return {
            "workload": self.workload,
            "sample": self.sample,
            "strategy": self.strategy,
            "precision": self.precision,
            "batch": self.batch,
            "cores": self.cores,
            "cores_per_chip": self.cores_per_chip,
            "chips": self.chips,
            "seconds": self.seconds,
            "macs": self.macs,
            "cycles": self.cycles,
            "tops": self.tops,
            "peak_tops": self.peak_tops,
            "utilization": self.utilization,
            "throughput": self.throughput,
            "bound": self.bound,
            "plan": dict(self.plan),
            "ops": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "macs": r.macs,
                    "cycles": r.cycles,
                    "seconds": r.seconds,
                    "tops": r.tops,
                    "utilization": r.utilization,
                    "bound": r.bound,
                    "cores": [asdict(c) for c in r.cores],
                }
                for r in self.ops
            ],
        }
