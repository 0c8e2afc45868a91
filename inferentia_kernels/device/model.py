"""The per-layer analytical model: one layer's work on one core, in cycles, bytes and seconds.

Plain Python, readable on its own (docs/perf-model.md derives each step). The strategies in
``planner.py`` decide *what* each core does (a :class:`Work`); this module prices it.

Tensor engine (SCALE-Sim's weight-stationary dataflow). A GEMM ``[T, K] x [K, N]`` on an R x C
array is cut into folds: each fold loads one ``R' x C`` tile of the weights into the PEs and
streams the ``T`` rows of the moving operand through it::

    folds        = ceil(K / R') * ceil(N / C)        R' = R for BF16/FP16, 2R for INT8
    fold cycles  = 2R + C + T - 2                    (R to load the weights, R + C - 2 to fill
                                                      and drain the wavefront, T rows)
    cycles       = products * folds * fold cycles
    compute_s    = cycles / clock

Vector side: a GEMM's epilogue (bias, activation, requantization: ``EPILOGUE_OPS`` per output
element) runs on the ScalarEngine while the tensor engine works on the next fold, so it overlaps;
pooling, residual adds, softmax and layer norm run on the VectorEngine and GELU on the
ScalarEngine, each at its operations per cycle.

Memory: bytes moved between DRAM and this core's SRAM, over the core's share of the chip's
DRAM bandwidth (the chip's bandwidth divided equally among its active cores)::

    weights      0 when resident (the core's weights fit in its SRAM and were loaded once,
                 before the run), else streamed: each fold's weight tile is read once per pass
                 into a double buffer of 2 tiles; re-read once per row block when the layer's
                 activations are not on chip and its weights do not fit in half the SRAM
    activations  stay in SRAM when the layer's live activations (input + output; the input
                 only for elementwise ops, which work in place) fit in the SRAM the weights
                 leave free; otherwise the part that does not fit is spilled: the share
                 (live - free) / live of the input is read from DRAM and of the output written
                 there. The network's input is always read from DRAM and its output written.

Layer time on a core: ``max(compute_s, dram_s, vector_s) + link_s``; the engines and the DMA
overlap, a gather the layer waits for does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import invalid
from .spec import PRECISIONS, NeuronCoreSpec

__all__ = [
    "EPILOGUE_OPS",
    "Cost",
    "Work",
    "fold_cycles",
    "folds",
    "gemm_cycles",
    "layer_cost",
    "vector_cycles",
    "weight_buffer_bytes",
]

#: Epilogue operations per GEMM output element: bias add and activation, plus for INT8 the
#: requantization multiply (rounding, zero point and clamp count as one). An assumption.
EPILOGUE_OPS = {"int8": 3, "bf16": 2, "fp16": 2}


def folds(k: int, n: int, precision: str, spec: NeuronCoreSpec) -> int:
    """Weight tiles of a ``[K, N]`` operand: ``ceil(K / R') * ceil(N / C)``."""
    return math.ceil(k / spec.fold_k(precision)) * math.ceil(n / spec.pe_cols)


def fold_cycles(rows: int, spec: NeuronCoreSpec) -> int:
    """Cycles of one fold streaming ``rows`` rows: ``2R + C + T - 2``."""
    return 2 * spec.pe_rows + spec.pe_cols + rows - 2


def gemm_cycles(rows: int, k: int, n: int, precision: str, spec: NeuronCoreSpec, products: int = 1) -> int:
    """Tensor-engine cycles of ``products`` independent ``[rows, k] x [k, n]`` GEMMs."""
    return products * folds(k, n, precision, spec) * fold_cycles(rows, spec)


def weight_buffer_bytes(precision: str, spec: NeuronCoreSpec) -> int:
    """SRAM for streamed weights: a double buffer of two ``R' x C`` fold tiles."""
    return 2 * spec.fold_k(precision) * spec.pe_cols * PRECISIONS[precision]


def vector_cycles(ops: int, engine: str, spec: NeuronCoreSpec) -> int:
    """Cycles of ``ops`` elementary operations on the ``"vector"`` or ``"scalar"`` engine."""
    per_cycle = spec.vector_ops_per_cycle if engine == "vector" else spec.scalar_ops_per_cycle
    return math.ceil(ops / per_cycle)


@dataclass(frozen=True)
class Work:
    """What one core does for one layer in one pass (its samples, or one micro-batch).

    ``products`` independent GEMMs ``[rows, k] x [k, n]`` (0 for a vector op); ``weight_bytes``
    the weights this core needs for the layer; ``in_bytes`` / ``out_bytes`` the activations it
    reads and writes; ``epilogue_ops`` (ScalarEngine, overlapped with the GEMM) or
    ``vector_ops`` on ``engine``; ``live_bytes`` the activations that must sit in SRAM at once
    for them to stay on chip.
    """

    samples: int
    products: int
    rows: int
    k: int
    n: int
    macs: int
    weight_bytes: int
    in_bytes: int
    out_bytes: int
    epilogue_ops: int
    vector_ops: int
    engine: str
    live_bytes: int


@dataclass(frozen=True)
class Cost:
    """The price of a :class:`Work` on one core."""

    folds: int
    cycles: int
    compute_s: float
    vector_ops: int
    vector_s: float
    dram_bytes: int
    dram_s: float
    weight_reads: int
    activations_on_chip: bool

    @property
    def seconds(self) -> float:
        """``max(compute, dram, vector)``: the engines and the DMA overlap."""
        return max(self.compute_s, self.dram_s, self.vector_s)

    def bound(self, link_s: float = 0.0) -> str:
        """The resource with the largest time (ties: compute, dram, vector, link)."""
        best = max(self.compute_s, self.dram_s, self.vector_s)
        if link_s > best:
            return "link"
        if self.compute_s == best:
            return "compute"
        return "dram" if self.dram_s == best else "vector"


def layer_cost(work: Work, precision: str, spec: NeuronCoreSpec, *, dram_bytes_per_s: float,
               resident_bytes: int | None, read_input: bool = False, write_output: bool = False) -> Cost:
    """Price ``work`` on one core.

    ``resident_bytes``: the weights resident in this core's SRAM (all its layers' weights), or
    None when they do not fit and stream from DRAM. ``read_input`` / ``write_output``: the
    input comes from / the output goes to DRAM whatever the SRAM holds (the network's ends).
    """
    if precision not in PRECISIONS:
        raise invalid("layer_cost", "precision", f"one of {', '.join(PRECISIONS)}", repr(precision))
    n_folds = folds(work.k, work.n, precision, spec) * work.products if work.products else 0
    cycles = n_folds * fold_cycles(work.rows, spec) if n_folds else 0
    compute_s = cycles / spec.clock_hz

    if work.epilogue_ops:
        vector_ops, engine = work.epilogue_ops, "scalar"
    else:
        vector_ops, engine = work.vector_ops, work.engine
    vector_s = vector_cycles(vector_ops, engine, spec) / (spec.vector_clock_ghz * 1e9) if vector_ops else 0.0

    sram = spec.sram_bytes
    if resident_bytes is not None:
        free = sram - resident_bytes
        on_chip = work.live_bytes <= free
        weight_reads = 0
    else:
        free = sram - weight_buffer_bytes(precision, spec)
        on_chip = work.live_bytes <= free
        half = sram // 2
        weight_reads = 1 if (on_chip or work.weight_bytes <= half) else math.ceil(work.live_bytes / half)
    # what does not fit is spilled: that share of the input is read from DRAM and of the output
    # written there (a compiler keeps what fits on chip and tiles the rest through DRAM)
    spill = 0.0 if on_chip else (work.live_bytes - max(free, 0)) / work.live_bytes
    dram_bytes = work.weight_bytes * weight_reads
    dram_bytes += work.in_bytes if read_input else math.ceil(work.in_bytes * spill)
    dram_bytes += work.out_bytes if write_output else math.ceil(work.out_bytes * spill)
    dram_s = dram_bytes / dram_bytes_per_s
    return Cost(n_folds, cycles, compute_s, vector_ops, vector_s, dram_bytes, dram_s,
                weight_reads if work.weight_bytes else 0, on_chip)
