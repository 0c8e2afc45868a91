"""Strategies: how a batch and a workload are spread over the cores, priced by ``model.py``.

* ``data_parallel``: the batch is split as evenly as possible (the first ``batch % cores``
  cores take one sample more); every core runs every layer on its samples with its own copy of
  the weights, in groups of ``u`` samples (the divisor of its share that is fastest: small
  groups keep activations on chip, large ones read streamed weights fewer times). Cores never
  talk to each other; the time is that of the slowest core.
* ``pipeline``: the layers are cut into contiguous stages, one per core (stage j on core j, so
  consecutive stages share a chip until it is full), balanced by the model's own layer times;
  the batch flows through in micro-batches of ``u`` samples. Activations cross a stage
  boundary over the on-chip path, or over the link when the next stage is on the next chip.
  The DMA transfers overlap with compute, so a transfer is a pipeline stage of its own, and
  ``time = sum(stages) + sum(transfers) + (batches - 1) * max(stages, transfers)``. The planner
  tries the divisors ``u`` of the batch and keeps the fastest; ``plan`` also gives the latency
  of one micro-batch and the steady-state throughput ``u / period`` of an endless stream.
* ``tensor_parallel``: every GEMM with weights has its N columns split over all cores (each
  core keeps 1/cores of the weights); every core first needs the layer's whole input, so the
  column shards of the previous layer are gathered: each core receives the (cores-1)/cores of
  the input it lacks over its on-chip path, and the (chips-1)/chips of it that lives on other
  chips crosses the busiest link of the chain. The gather cannot overlap with the layer.
  Attention products (no weights) are split by head, vector ops by elements, without
  communication (the QKV column split follows the heads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .model import EPILOGUE_OPS, Cost, Work, layer_cost
from .profile import BOUNDS, CoreRecord, OpRecord, Profile
from .spec import PRECISIONS, NeuronCoreSpec

__all__ = ["STRATEGIES", "Facts", "facts", "plan", "split"]

STRATEGIES = ("data_parallel", "pipeline", "tensor_parallel")
#: At most this many micro-batch sizes (divisors of the samples) are tried, log-spaced.
MAX_MICRO_BATCH_CANDIDATES = 12


@dataclass(frozen=True)
class Facts:
    """Per-sample numbers of one layer, read once from its spec."""

    name: str
    kind: str
    engine: str
    in_place: bool
    is_gemm: bool
    shared: bool
    m: int
    k: int
    n: int
    count: int
    macs: int
    weight_elements: int
    in_elements: int
    out_elements: int
    vector_ops: int


def facts(layer) -> Facts:
    gemm = layer.gemm
    if gemm is None:
        return Facts(layer.name, layer.kind, layer.engine, bool(layer.in_place), False, False, 0, 0, 0, 0, 0, 0,
                     layer.in_elements, layer.out_elements, layer.vector_ops)
    return Facts(layer.name, layer.kind, "tensor", False, True, gemm.shared_weights, gemm.m, gemm.k, gemm.n, gemm.count,
                 layer.macs, layer.weight_elements, layer.in_elements, layer.out_elements, 0)


def split(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` integers as even as possible, the larger ones first."""
    q, r = divmod(total, parts)
    return [q + 1] * r + [q] * (parts - r)


@dataclass(frozen=True)
class _Context:
    spec: NeuronCoreSpec
    precision: str
    cores: int
    cores_per_chip: int

    @property
    def bytes(self) -> int:
        return PRECISIONS[self.precision]

    def chip(self, core: int) -> int:
        return core // self.cores_per_chip

    def dram_share(self, active_on_chip: int) -> float:
        return self.spec.dram_bytes_per_s / active_on_chip


def _live(f: Facts, in_bytes: int, out_bytes: int) -> int:
    return max(in_bytes, out_bytes) if f.in_place else in_bytes + out_bytes


def _work(f: Facts, samples: int, ctx: _Context) -> Work:
    """A layer on ``samples`` whole samples (data parallel, pipeline)."""
    b = ctx.bytes
    in_bytes, out_bytes = samples * f.in_elements * b, samples * f.out_elements * b
    if f.is_gemm:
        products, rows = (f.count, samples * f.m) if f.shared else (samples * f.count, f.m)
        return Work(samples, products, rows, f.k, f.n, samples * f.macs, f.weight_elements * b, in_bytes, out_bytes,
                    samples * f.out_elements * EPILOGUE_OPS[ctx.precision], 0, "tensor", _live(f, in_bytes, out_bytes))
    return Work(samples, 0, 0, 0, 0, 0, 0, in_bytes, out_bytes, 0, samples * f.vector_ops, f.engine,
                _live(f, in_bytes, out_bytes))


def _price(works: list, bandwidths, ctx: _Context, last: int, offset: int = 0):
    """Price one core's layers (``None`` where it has no share): with resident weights when
    they fit in SRAM, and streamed; the faster wins. Returns (costs, resident, seconds)."""
    weights = sum(w.weight_bytes for w in works if w is not None)
    options = [weights, None] if weights <= ctx.spec.sram_bytes else [None]
    if isinstance(bandwidths, (int, float)):
        bandwidths = [bandwidths] * len(works)
    best = None
    for resident in options:
        costs = [None if w is None else
                 layer_cost(w, ctx.precision, ctx.spec, dram_bytes_per_s=bw, resident_bytes=resident,
                            read_input=offset + i == 0, write_output=offset + i == last)
                 for i, (w, bw) in enumerate(zip(works, bandwidths))]
        seconds = sum(c.seconds for c in costs if c is not None)
        if best is None or seconds < best[2]:
            best = (costs, resident is not None, seconds)
    return best


def _record(core: int, ctx: _Context, work: Work, cost: Cost, resident: bool, passes: int = 1,
            link_bytes: int = 0, link_s: float = 0.0) -> CoreRecord:
    return CoreRecord(
        core=core, chip=ctx.chip(core), samples=work.samples * passes, macs=work.macs * passes,
        folds=cost.folds * passes, cycles=cost.cycles * passes, compute_s=cost.compute_s * passes,
        vector_ops=cost.vector_ops * passes, vector_s=cost.vector_s * passes,
        dram_bytes=cost.dram_bytes * passes, dram_s=cost.dram_s * passes, link_bytes=link_bytes, link_s=link_s,
        seconds=cost.seconds * passes + link_s, bound=cost.bound(link_s / passes), weights_resident=resident,
        activations_on_chip=cost.activations_on_chip, passes=passes)


def _op(f: Facts, cores: tuple[CoreRecord, ...], ctx: _Context) -> OpRecord:
    slowest = max(cores, key=lambda c: c.seconds)
    macs = sum(c.macs for c in cores)
    seconds = slowest.seconds
    tops = 2 * macs / seconds / 1e12 if seconds > 0 else 0.0
    peak = len(cores) * ctx.spec.peak_tops(ctx.precision)
    return OpRecord(f.name, f.kind, macs, seconds, tops, tops / peak, slowest.bound, cores)


def _dominant(ops) -> str:
    totals = dict.fromkeys(BOUNDS, 0.0)
    for op in ops:
        totals[op.bound] += op.seconds
    return max(BOUNDS, key=lambda b: totals[b])


# ---------------------------------------------------------------------------------------------
# data parallel


def _data_parallel(layers: list[Facts], batch: int, ctx: _Context):
    shares = split(batch, ctx.cores)
    active = {}
    for core, samples in enumerate(shares):
        if samples:
            active[ctx.chip(core)] = active.get(ctx.chip(core), 0) + 1
    last = len(layers) - 1
    cache: dict = {}
    runs = []
    for core, samples in enumerate(shares):
        if not samples:
            continue
        bandwidth = ctx.dram_share(active[ctx.chip(core)])
        key = (samples, bandwidth)
        if key not in cache:  # the core's samples go through in groups of u: the fastest u wins
            for u in reversed(_micro_batches(samples)):  # ties keep the larger groups
                works = [_work(f, u, ctx) for f in layers]
                costs, resident, seconds = _price(works, bandwidth, ctx, last)
                passes = samples // u
                if key not in cache or passes * seconds < cache[key][3]:
                    cache[key] = (works, costs, resident, passes * seconds, passes)
        runs.append((core, cache[key]))
    ops = []
    for i, f in enumerate(layers):
        records = tuple(_record(core, ctx, works[i], costs[i], resident, passes)
                        for core, (works, costs, resident, _, passes) in runs)
        ops.append(_op(f, records, ctx))
    slowest = max(runs, key=lambda run: run[1][3])[1]
    plan = {
        "samples_per_core": shares,
        "active_cores": len(runs),
        "micro_batch": slowest[0][0].samples,
        "weights_resident": all(run[2] for _, run in runs),
        "dram_gib_s_per_core": min(ctx.spec.dram_gib_s / a for a in active.values()),
    }
    return slowest[3], ops, _dominant(ops), plan


# ---------------------------------------------------------------------------------------------
# pipeline


def _micro_batches(batch: int) -> list[int]:
    divisors = sorted({d for i in range(1, math.isqrt(batch) + 1) if batch % i == 0 for d in (i, batch // i)})
    if len(divisors) <= MAX_MICRO_BATCH_CANDIDATES:
        return divisors
    step = (len(divisors) - 1) / (MAX_MICRO_BATCH_CANDIDATES - 1)
    return sorted({divisors[round(i * step)] for i in range(MAX_MICRO_BATCH_CANDIDATES)})


def _stage_bandwidths(stages: int, ctx: _Context) -> list[float]:
    """The DRAM share of each stage's core: stages fill the chips in order."""
    per_chip: dict[int, int] = {}
    for j in range(stages):
        per_chip[ctx.chip(j)] = per_chip.get(ctx.chip(j), 0) + 1
    return [ctx.dram_share(per_chip[ctx.chip(j)]) for j in range(stages)]


def _transfer_s(out_bytes: int, stage: int, ctx: _Context) -> float:
    """Seconds to forward ``out_bytes`` from stage ``stage`` to the next one."""
    same_chip = ctx.chip(stage) == ctx.chip(stage + 1)
    rate = ctx.spec.on_chip_bytes_per_s if same_chip else ctx.spec.link_bytes_per_s
    return out_bytes / rate


def _partition(works: list[Work], max_stages: int, ctx: _Context) -> list[tuple[int, int]]:
    """Contiguous stages ``[a, b)`` minimizing the slowest stage or transfer (bisection on the
    bound, greedy longest stages). A stage whose weights fit in SRAM is priced with the faster
    of resident and streamed weights (resident with the whole SRAM left for activations: an
    optimistic estimate, corrected when the chosen plan is priced exactly)."""
    n_layers = len(works)
    last = n_layers - 1
    sram = ctx.spec.sram_bytes
    stage_bandwidth = _stage_bandwidths(max_stages, ctx)
    prefix = {}
    for bandwidth in set(stage_bandwidth):
        for resident in (True, False):
            sums = [0.0]
            for i, w in enumerate(works):
                cost = layer_cost(w, ctx.precision, ctx.spec, dram_bytes_per_s=bandwidth,
                                  resident_bytes=0 if resident else None, read_input=i == 0, write_output=i == last)
                sums.append(sums[-1] + cost.seconds)
            prefix[bandwidth, resident] = sums
    weights = [0]
    for w in works:
        weights.append(weights[-1] + w.weight_bytes)

    def stage_s(a: int, b: int, j: int) -> float:
        streamed = prefix[stage_bandwidth[j], False]
        seconds = streamed[b] - streamed[a]
        if weights[b] - weights[a] <= sram:
            resident = prefix[stage_bandwidth[j], True]
            seconds = min(seconds, resident[b] - resident[a])
        return seconds

    def greedy(limit: float) -> list[tuple[int, int]] | None:
        stages, a = [], 0
        while a < n_layers:
            j = len(stages)
            if j == max_stages:
                return None
            b = a
            while b < n_layers and stage_s(a, b + 1, j) <= limit:
                b += 1
            if b < n_layers:
                while b > a and _transfer_s(works[b - 1].out_bytes, j, ctx) > limit:
                    b -= 1
            if b == a:
                return None
            stages.append((a, b))
            a = b
        return stages

    high = max(prefix[bandwidth, False][-1] for bandwidth in set(stage_bandwidth)) * 1.0001 + 1e-12
    low = 0.0
    best = greedy(high)
    for _ in range(60):
        middle = 0.5 * (low + high)
        attempt = greedy(middle)
        if attempt is None:
            low = middle
        else:
            high, best = middle, attempt
        if high - low <= 1e-6 * high:
            break
    return best


def _pipeline(layers: list[Facts], batch: int, ctx: _Context):
    max_stages = min(ctx.cores, len(layers))
    last = len(layers) - 1
    best = None
    for u in reversed(_micro_batches(batch)):  # ties keep the larger micro-batches
        works = [_work(f, u, ctx) for f in layers]
        stages = _partition(works, max_stages, ctx)
        bandwidths = _stage_bandwidths(len(stages), ctx)
        stage_costs, stage_s, transfers = [], [], []
        for j, (a, b) in enumerate(stages):
            costs, resident, seconds = _price(works[a:b], bandwidths[j], ctx, last, offset=a)
            stage_costs.append((costs, resident))
            stage_s.append(seconds)
            if b < len(layers):
                transfers.append(_transfer_s(works[b - 1].out_bytes, j, ctx))
        passes = batch // u
        period = max(stage_s + transfers)
        fill = sum(stage_s) + sum(transfers)
        total = fill + (passes - 1) * period
        if best is None or total < best[0]:
            best = (total, u, works, stages, stage_costs, stage_s, transfers, fill, period)
    total, u, works, stages, stage_costs, stage_s, transfers, fill, period = best
    passes = batch // u
    ops = []
    bottleneck = None
    for j, (a, b) in enumerate(stages):
        costs, resident = stage_costs[j]
        stage_ops = []
        for i, cost in zip(range(a, b), costs):
            stage_ops.append(_op(layers[i], (_record(j, ctx, works[i], cost, resident, passes),), ctx))
        ops += stage_ops
        if stage_s[j] == period and bottleneck is None:
            bottleneck = _dominant(stage_ops)
        if b < len(layers):
            x = transfers[j]
            same_chip = ctx.chip(j) == ctx.chip(j + 1)
            record = CoreRecord(core=j, chip=ctx.chip(j), samples=batch, macs=0, folds=0, cycles=0, compute_s=0.0,
                                vector_ops=0, vector_s=0.0, dram_bytes=0, dram_s=0.0,
                                link_bytes=works[b - 1].out_bytes * passes, link_s=x * passes, seconds=x * passes,
                                bound="link", weights_resident=resident, activations_on_chip=True, passes=passes)
            name = f"{layers[b - 1].name} -> core {j + 1} ({'on chip' if same_chip else 'link'})"
            ops.append(OpRecord(name, "transfer", 0, x * passes, 0.0, 0.0, "link", (record,)))
            if x == period and bottleneck is None:
                bottleneck = "link"
    mean = sum(stage_s) / len(stage_s)
    plan = {
        "micro_batch": u,
        "micro_batches": passes,
        "stages": len(stages),
        "idle_cores": ctx.cores - len(stages),
        "stage_first_layers": [layers[a].name for a, _ in stages],
        "stage_ms": [1e3 * s for s in stage_s],
        "transfer_ms": [1e3 * x for x in transfers],
        "weights_resident": [resident for _, resident in stage_costs],
        "imbalance": max(stage_s) / mean if mean > 0 else 1.0,
        "period_ms": 1e3 * period,
        "latency_ms": 1e3 * fill,
        "steady_state_per_s": u / period,
    }
    return total, ops, bottleneck or _dominant(ops), plan


# ---------------------------------------------------------------------------------------------
# tensor parallel


def _tensor_work(f: Facts, batch: int, core: int, ctx: _Context) -> Work | None:
    """Core ``core``'s share of a layer split over all cores (None: no share)."""
    b = ctx.bytes
    n = ctx.cores
    epilogue = EPILOGUE_OPS[ctx.precision]
    if f.is_gemm and f.shared:  # N split: every core reads the whole input, writes its columns
        columns = split(f.n, n)[core]
        if not columns:
            return None
        in_bytes, out_bytes = batch * f.in_elements * b, batch * f.count * f.m * columns * b
        return Work(batch, f.count, batch * f.m, f.k, columns, batch * f.count * f.m * f.k * columns,
                    f.count * f.k * columns * b, in_bytes, out_bytes, out_bytes // b * epilogue, 0, "tensor",
                    _live(f, in_bytes, out_bytes))
    if f.is_gemm:  # attention: split by head (and sample)
        products = split(batch * f.count, n)[core]
        if not products:
            return None
        in_bytes, out_bytes = products * (f.m * f.k + f.k * f.n) * b, products * f.m * f.n * b
        return Work(batch, products, f.m, f.k, f.n, products * f.m * f.k * f.n, 0, in_bytes, out_bytes,
                    out_bytes // b * epilogue, 0, "tensor", _live(f, in_bytes, out_bytes))
    total = batch * f.out_elements  # vector ops: split by elements
    elements = split(total, n)[core]
    if not elements:
        return None
    in_bytes, out_bytes = math.ceil(batch * f.in_elements * b * elements / total), elements * b
    return Work(batch, 0, 0, 0, 0, 0, 0, in_bytes, out_bytes, 0, math.ceil(batch * f.vector_ops * elements / total),
                f.engine, _live(f, in_bytes, out_bytes))


def _gather_s(gather_bytes: int, ctx: _Context) -> float:
    """All-gather of a tensor of ``gather_bytes`` sharded over every core: each core receives the
    part it lacks over its on-chip path; the part held by other chips crosses the busiest link."""
    n = ctx.cores
    chips = -(-n // ctx.cores_per_chip)
    return (gather_bytes * (n - 1) / n / ctx.spec.on_chip_bytes_per_s
            + gather_bytes * (chips - 1) / chips / ctx.spec.link_bytes_per_s)


def _tensor_parallel(layers: list[Facts], batch: int, ctx: _Context):
    n = ctx.cores
    chips = -(-n // ctx.cores_per_chip)
    per_chip = [min(ctx.cores_per_chip, n - c * ctx.cores_per_chip) for c in range(chips)]
    last = len(layers) - 1
    cache: dict = {}
    priced = []
    for core in range(n):
        works = tuple(_tensor_work(f, batch, core, ctx) for f in layers)
        bandwidth = ctx.dram_share(per_chip[ctx.chip(core)])
        key = (works, bandwidth)
        if key not in cache:
            cache[key] = _price(list(works), bandwidth, ctx, last)
        priced.append((works, cache[key]))
    ops = []
    seconds = 0.0
    gathered = 0
    for i, f in enumerate(layers):
        gather_bytes = batch * f.in_elements * ctx.bytes if (f.is_gemm and f.shared and i > 0 and n > 1) else 0
        gather_s = _gather_s(gather_bytes, ctx) if gather_bytes else 0.0
        gathered += gather_bytes
        records = []
        for core, (works, (costs, resident, _)) in enumerate(priced):
            if works[i] is not None:
                records.append(_record(core, ctx, works[i], costs[i], resident,
                                       link_bytes=gather_bytes - gather_bytes // n, link_s=gather_s))
        op = _op(f, tuple(records), ctx)
        ops.append(op)
        seconds += op.seconds
    plan = {
        "weights_resident": all(resident for _, (_, resident, _) in priced),
        "gathered_mib": gathered / 2**20,
    }
    return seconds, ops, _dominant(ops), plan


_STRATEGY = {"data_parallel": _data_parallel, "pipeline": _pipeline, "tensor_parallel": _tensor_parallel}


def plan(layers, *, name: str, sample: str, batch: int, precision: str, strategy: str, spec: NeuronCoreSpec,
         cores: int, cores_per_chip: int) -> Profile:
    """Run ``strategy`` and wrap the result in a :class:`Profile` (arguments already validated)."""
    ctx = _Context(spec, precision, cores, cores_per_chip)
    layer_facts = [facts(layer) for layer in layers]
    seconds, ops, bound, details = _STRATEGY[strategy](layer_facts, batch, ctx)
    macs = batch * sum(f.macs for f in layer_facts)
    return Profile(workload=name, sample=sample, strategy=strategy, precision=precision, batch=batch, cores=cores,
                   cores_per_chip=cores_per_chip, seconds=seconds, macs=macs,
                   peak_tops=cores * spec.peak_tops(precision), ops=tuple(ops), bound=bound, plan=details)
