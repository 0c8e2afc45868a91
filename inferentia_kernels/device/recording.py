"""``with dev.profile() as prof``: the performance model's view of the ops a device ran."""

from __future__ import annotations

from dataclasses import replace

from .profile import Profile

__all__ = ["ProfileRecorder"]


class ProfileRecorder:
    """Collects one model estimate per op run on a device inside ``with dev.profile()``.

    After (or during) the block it answers like a :class:`Profile` of the whole sequence: ``seconds``
    and ``macs`` add up, ``tops``/``utilization`` follow from them, ``ops`` lists every op's
    records named ``"<n>:<op>/<layer op>"``, and ``summary()`` / ``to_dict()`` report it.
    ``throughput`` is runs of the recorded sequence per second.
    """

    def __init__(self, device):
        self._device = device
        self._runs: list[tuple[str, Profile]] = []

    def record(self, op: str, estimate: Profile) -> None:
        self._runs.append((op, estimate))

    @property
    def runs(self) -> list[tuple[str, Profile]]:
        """(op name, its estimate) in the order the ops ran."""
        return list(self._runs)

    @property
    def profile(self) -> Profile:
        """The recorded ops as one :class:`Profile`."""
        device = self._device
        ops = tuple(replace(record, name=f"{index}:{op}/{record.name}")
                    for index, (op, estimate) in enumerate(self._runs, 1) for record in estimate.ops)
        precisions = sorted({estimate.precision for _, estimate in self._runs})
        seconds = sum(estimate.seconds for _, estimate in self._runs)
        macs = sum(estimate.macs for _, estimate in self._runs)
        by_bound: dict[str, float] = {}
        for record in ops:
            by_bound[record.bound] = by_bound.get(record.bound, 0.0) + record.seconds
        # Peak of the precision that ran longest, so that utilization compares like with like.
        main = max(precisions, key=lambda p: sum(e.seconds for _, e in self._runs if e.precision == p),
                   default="int8")
        return Profile(
            workload="recorded ops", sample="run", strategy="as executed", precision="+".join(precisions) or main,
            batch=1, cores=device.cores, cores_per_chip=device.cores_per_chip, seconds=seconds, macs=macs,
            peak_tops=device.peak_tops(main), ops=ops, bound=max(by_bound, key=by_bound.get, default="compute"),
            plan={"ops run": len(self._runs)},
        )

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.profile, name)

    def summary(self, top: int | None = 12) -> str:
        return self.profile.summary(top)

    def to_dict(self) -> dict:
        return self.profile.to_dict()

    def __str__(self) -> str:
        return self.summary()
