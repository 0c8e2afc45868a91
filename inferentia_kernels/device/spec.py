"""NeuronCoreSpec: the parameters of one simulated NeuronCore and of the chip it sits on.

Every number has a public source or is labelled an assumption; ``spec.sources()`` returns the
label of each field and docs/perf-model.md prints the table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..errors import invalid, wrong_dtype

__all__ = ["PRECISIONS", "NeuronCoreSpec"]

#: Tensor-engine input precisions (activations and weights) and their size in bytes.
PRECISIONS = {"int8": 1, "bf16": 2, "fp16": 2}

GIB = 1024**3
MIB = 1024**2

# The clock is not published; it is derived so that the array delivers AWS's per-chip figures:
# 128 INT8 TOPS = 4 cores x 128 x 128 PEs x 2 MACs x 2 ops x f  ->  f = 0.48828125 GHz.
_INF1_CLOCK_GHZ = 128e12 / (4 * 128 * 128 * 2 * 2) / 1e9
# Inferentia2: 190 FP16 TFLOPS per chip of two cores, one MAC per PE per cycle.
_INF2_CLOCK_GHZ = 190e12 / (2 * 128 * 128 * 1 * 2) / 1e9

_INF1_SOURCES = {
    "name": "preset name",
    "pe_rows": "assumption: 128 x 128 weight-stationary array (documented for NeuronCore-v2; not published for v1)",
    "pe_cols": "assumption: as pe_rows",
    "clock_ghz": "derived: AWS's 64 FP16 TFLOPS and 128 INT8 TOPS per 4-core chip on a 128 x 128 array "
                 "(the real clock is not published)",
    "int8_macs_per_pe": "derived: INT8 peak = 2 x FP16 peak (AWS: 128 TOPS vs 64 TFLOPS per chip)",
    "float_macs_per_pe": "derived: one BF16/FP16 MAC per PE per cycle gives AWS's 64 TFLOPS per chip",
    "sram_mib": "estimate: AWS NeuronCore Pipeline sizing (weights cached on chip across cores)",
    "dram_gib": "AWS Inferentia architecture page: 8 GiB DRAM per chip",
    "dram_gib_s": "AWS Inferentia architecture page: 50 GiB/s per chip, shared by its 4 cores",
    "link_gib_s": "AWS Inf1 server diagram: 16 GiB/s per chip-to-chip link, chips in a chain "
                  "(assumption: full duplex)",
    "on_chip_gib_s": "assumption: no published figure for the core-to-core path inside a chip; "
                     "taken equal to the chip's DRAM bandwidth",
    "vector_ops_per_cycle": "AWS NeuronCore-v1 page: VectorEngine 256 operations per cycle",
    "scalar_ops_per_cycle": "AWS NeuronCore-v1 page: ScalarEngine 512 operations per cycle",
    "vector_clock_ghz": "assumption: the vector and scalar engines run at the tensor engine's clock",
}

_INF2_SOURCES = {
    "name": "preset name",
    "pe_rows": "assumption: 128 x 128 systolic array (NKI architecture guide for NeuronCore-v2)",
    "pe_cols": "assumption: as pe_rows",
    "clock_ghz": "derived: AWS's 190 FP16 TFLOPS per 2-core Inferentia2 chip on a 128 x 128 array",
    "int8_macs_per_pe": "derived: AWS's 380 INT8 TOPS = 2 x FP16 per chip",
    "float_macs_per_pe": "derived: one FP16 MAC per PE per cycle at the derived clock",
    "sram_mib": "assumption: 24 MiB state buffer per NeuronCore-v2 (NKI architecture guide)",
    "dram_gib": "AWS Inferentia2 architecture page: 32 GiB HBM per chip",
    "dram_gib_s": "AWS Inferentia2 architecture page: 820 GiB/s per chip (2 cores: use cores_per_chip=2)",
    "link_gib_s": "assumption: NeuronLink-v2 bandwidth per link is not published for Inf2; 96 GiB/s taken",
    "on_chip_gib_s": "AWS Inferentia2 architecture page: 1 TB/s of DMA bandwidth per chip (as GiB/s)",
    "vector_ops_per_cycle": "derived: AWS's 2.3 FP32 TFLOPS VectorEngine at the derived clock",
    "scalar_ops_per_cycle": "derived: AWS's 2.9 FP32 TFLOPS ScalarEngine at the derived clock",
    "vector_clock_ghz": "assumption: the tensor engine's derived clock",
}


@dataclass(frozen=True)
class NeuronCoreSpec:
    """One NeuronCore (tensor, vector and scalar engines, SRAM) and its chip's memory and links.

    Use the presets :meth:`inf1` (Inferentia, NeuronCore-v1; the default everywhere) and
    :meth:`inf2` (Inferentia2, NeuronCore-v2), or ``dataclasses.replace(spec, ...)`` for
    what-if studies. The chip-wide numbers (DRAM, links) are per chip; the
    :class:`~inferentia_kernels.device.Device` decides how many cores share one chip.

    Fields:
        name: preset name.
        pe_rows, pe_cols: R x C processing elements of the weight-stationary array. R is the
            contraction (k) dimension of one fold, C the output columns (n) of one fold.
        clock_ghz: tensor-engine clock (effective; derived from AWS's peak figures).
        int8_macs_per_pe: INT8 MACs per PE per cycle (2: two k values per PE, so an INT8 fold
            covers 2R values of k).
        float_macs_per_pe: BF16/FP16 MACs per PE per cycle.
        sram_mib: on-chip SRAM per core (weights, activations).
        dram_gib: DRAM capacity per chip.
        dram_gib_s: DRAM bandwidth per chip, shared equally by the chip's active cores.
        link_gib_s: chip-to-chip link bandwidth per direction; chips form a chain.
        on_chip_gib_s: bandwidth of the core-to-core path inside a chip (pipeline forwarding,
            tensor-parallel gathers).
        vector_ops_per_cycle: VectorEngine operations per cycle (pooling, adds, softmax, layer norm).
        scalar_ops_per_cycle: ScalarEngine operations per cycle (GEMM epilogues, GELU).
        vector_clock_ghz: clock of the vector and scalar engines.
    """

    name: str = "inf1"
    pe_rows: int = 128
    pe_cols: int = 128
    clock_ghz: float = _INF1_CLOCK_GHZ
    int8_macs_per_pe: int = 2
    float_macs_per_pe: int = 1
    sram_mib: float = 12.0
    dram_gib: float = 8.0
    dram_gib_s: float = 50.0
    link_gib_s: float = 16.0
    on_chip_gib_s: float = 50.0
    vector_ops_per_cycle: int = 256
    scalar_ops_per_cycle: int = 512
    vector_clock_ghz: float = _INF1_CLOCK_GHZ
    _sources: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise wrong_dtype("NeuronCoreSpec", "name", "a non-empty string", repr(self.name))
        for f in dataclasses.fields(self):
            if f.name in ("name", "_sources"):
                continue
            value = getattr(self, f.name)
            integral = f.type in ("int", int)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (integral and not isinstance(value, int)):
                expected = "an int" if integral else "a number"
                raise wrong_dtype("NeuronCoreSpec", f.name, expected, f"{value!r} ({type(value).__name__})")
            if not (math.isfinite(value) and value > 0):
                raise invalid("NeuronCoreSpec", f.name, "a finite number > 0", value)

    # -- presets ---------------------------------------------------------------------------------

    @classmethod
    def inf1(cls) -> NeuronCoreSpec:
        """NeuronCore-v1 of AWS Inferentia (Inf1): 32 INT8 TOPS, 16 FP16/BF16 TFLOPS per core."""
        return cls(_sources=tuple(_INF1_SOURCES.items()))

    @classmethod
    def inf2(cls) -> NeuronCoreSpec:
        """NeuronCore-v2 of AWS Inferentia2 (Inf2): 190 INT8 TOPS, 95 FP16/BF16 TFLOPS per core.

        An Inferentia2 chip has two cores: build the device with ``cores_per_chip=2``.
        """
        return cls(
            name="inf2",
            clock_ghz=_INF2_CLOCK_GHZ,
            sram_mib=24.0,
            dram_gib=32.0,
            dram_gib_s=820.0,
            link_gib_s=96.0,
            on_chip_gib_s=1e12 / GIB,
            vector_ops_per_cycle=round(2.3e12 / (_INF2_CLOCK_GHZ * 1e9)),
            scalar_ops_per_cycle=round(2.9e12 / (_INF2_CLOCK_GHZ * 1e9)),
            vector_clock_ghz=_INF2_CLOCK_GHZ,
            _sources=tuple(_INF2_SOURCES.items()),
        )

    # -- derived quantities --------------------------------------------------------------------

    def macs_per_pe(self, precision: str) -> int:
        """MACs one PE performs per cycle at ``precision`` (int8, bf16 or fp16)."""
        return self.int8_macs_per_pe if precision == "int8" else self.float_macs_per_pe

    def fold_k(self, precision: str) -> int:
        """Values of k one fold covers: R for BF16/FP16, 2R for INT8 (two k values per PE)."""
        return self.pe_rows * self.macs_per_pe(precision)

    def peak_tops(self, precision: str) -> float:
        """Peak tera-operations per second of one core (a MAC counts as two operations)."""
        return 2 * self.pe_rows * self.pe_cols * self.macs_per_pe(precision) * self.clock_ghz * 1e9 / 1e12

    @property
    def clock_hz(self) -> float:
        return self.clock_ghz * 1e9

    @property
    def sram_bytes(self) -> int:
        return int(self.sram_mib * MIB)

    @property
    def dram_bytes(self) -> int:
        return int(self.dram_gib * GIB)

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_gib_s * GIB

    @property
    def link_bytes_per_s(self) -> float:
        return self.link_gib_s * GIB

    @property
    def on_chip_bytes_per_s(self) -> float:
        return self.on_chip_gib_s * GIB

    def sources(self) -> dict[str, str]:
        """Each field's source; ``"user value"`` where it differs from the preset it came from."""
        labels = dict(self._sources)
        preset = {"inf1": NeuronCoreSpec.inf1, "inf2": NeuronCoreSpec.inf2}.get(self.name)
        reference = preset() if preset is not None else None
        result = {}
        for f in dataclasses.fields(self):
            if f.name == "_sources":
                continue
            unchanged = reference is not None and getattr(reference, f.name) == getattr(self, f.name)
            result[f.name] = labels.get(f.name, "user value") if unchanged else "user value"
        return result
