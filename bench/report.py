"""Turn a pytest-benchmark JSON of bench/ into docs/performance.md.

Usage (from the repository root)::

    python -m pytest bench --benchmark-json=bench/results.json
    python bench/report.py bench/results.json -o docs/performance.md   # or: > docs/performance.md

Everything comes from the JSON: the machine (``machine_info``, including the block bench/conftest.py
stores under ``machine_info["inferentia_kernels"]``), the commit, and per benchmark the measured
statistics and ``extra_info`` (impl, kind, shape, threads, gops / gelem_per_s). Ratios compare
implementations timed in that same run; they are throughput ratios (reference mean time / row
mean time), so > 1 means the row is faster.

Groups are told apart by their name: ``GEMM MxKxN`` (INT8, bench/test_bench_int8.py), ``float GEMM
MxKxN`` (bench/test_bench_float.py), ``conv <layer> N=<batch>`` (bench/test_bench_conv.py, with the
layer geometry in ``extra_info["conv"]`` and the ONNX Runtime bit-exactness check in the ORT
benchmark's ``extra_info``); every other group is element-wise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import OrderedDict
from pathlib import Path

NUMPY_F32 = "numpy float32"
ORT_MMI_U8S8 = "onnxruntime MatMulInteger u8s8"
ORT_MMI_S8S8 = "onnxruntime MatMulInteger s8s8"
ORT_MMI_U8S8_CONST = "onnxruntime MatMulInteger u8s8 B constant"
IK_PREPACKED = "ik.matmul_integer u8s8 prepacked"
#: Relative standard deviation above which a measurement is flagged as noisy.
NOISY = 0.10
#: The shapes the GEMM targets are stated for.
TARGET_GEMM_GROUPS = ("GEMM 1024x1024x1024", "GEMM 2048x2048x2048")

#: Group prefixes of the families (bench/test_bench_int8.py, test_bench_float.py, test_bench_conv.py);
#: every other group is element-wise (conversions, quantize, requantize).
INT8_GEMM = "GEMM "
FLOAT_GEMM = "float GEMM "
CONV = "conv "
#: The float GEMM shape the float targets are stated for, and the required fraction of numpy
#: float32's throughput (target, stretch).
TARGET_FLOAT_GROUP = "float GEMM 1024x1024x1024"
FLOAT_TARGET, FLOAT_STRETCH = 0.25, 0.5
FLOAT_IMPLS = ("ik.matmul bf16", "ik.matmul fp16", "ik.matmul fp32")
#: Implementations of a conv group (bench/test_bench_conv.py).
QCONV = "ik.qlinear_conv u8s8"
QGEMM = "ik.qlinear_matmul u8s8 GEMM"
ORT_QCONV = "onnxruntime QLinearConv u8s8"
FCONV = "ik.conv2d bf16"
FGEMM = "ik.matmul bf16 GEMM"
#: Each convolution's equivalent GEMM (same multiply-adds, no patch gathering).
CONV_GEMM = {QCONV: QGEMM, FCONV: FGEMM}
#: Required qlinear_conv throughput as a fraction of its equivalent qlinear_matmul, for 3x3 layers.
CONV_TARGET = 0.6


def _int8_path(run) -> str | None:
    """The INT8 path the run's ops used (bench/conftest.py records it)."""
    return run.data.get("machine_info", {}).get("inferentia_kernels", {}).get("int8_path")


def family(group: str) -> str:
    """"int8", "float", "conv" or "elementwise"."""
    if group.startswith(INT8_GEMM):
        return "int8"
    if group.startswith(FLOAT_GEMM):
        return "float"
    if group.startswith(CONV):
        return "conv"
    return "elementwise"


# ---------------------------------------------------------------------------------------------
# Loading


class Run:
    """The benchmarks of one JSON, indexed by group and implementation."""

    def __init__(self, data: dict):
        self.data = data
        self.groups: OrderedDict[str, list[dict]] = OrderedDict()
        for bench in data.get("benchmarks", []):
            info = bench.get("extra_info", {})
            if "impl" not in info:
                continue
            self.groups.setdefault(bench.get("group") or "(no group)", []).append(bench)

    def get(self, group: str, impl: str) -> dict | None:
        for bench in self.groups.get(group, []):
            if bench["extra_info"]["impl"] == impl:
                return bench
        return None


def mean(bench: dict) -> float:
    return bench["stats"]["mean"]


def median(bench: dict) -> float:
    return bench["stats"]["median"]


def rel_sd(bench: dict) -> float:
    return bench["stats"]["stddev"] / bench["stats"]["mean"] if bench["stats"]["mean"] else math.inf


def throughput(bench: dict) -> tuple[float | None, str]:
    info = bench["extra_info"]
    if "gops" in info:
        return info["gops"], "GOPS"
    if "gelem_per_s" in info:
        return info["gelem_per_s"], "Gelem/s"
    return None, ""


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def fmt_num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_bytes(value) -> str:
    """cpuinfo reports cache sizes as bytes (int) or as text; show ints in KiB/MiB."""
    if isinstance(value, int):
        for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= size:
                return f"{value / size:.4g} {unit}"
        return f"{value} B"
    return str(value)


def fmt_ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if 0 < value < 0.01:  # two significant digits, so that e.g. 0.0047× does not show as 0.00×
        return f"{value:.2g}×"
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def impl_label(bench: dict) -> str:
    impl = bench["extra_info"]["impl"]
    return f"**{impl}**" if bench["extra_info"].get("kind") == "ik" else impl


def short_ref(impl: str) -> str:
    return (impl.replace("onnxruntime ", "ORT ").replace("MatMulInteger", "MMI").replace("QLinearMatMul", "QLMM")
            .replace("QuantizeLinear", "QL"))


# ---------------------------------------------------------------------------------------------
# Sections


def machine_section(data: dict) -> str:
    machine = data.get("machine_info", {})
    ik = machine.get("inferentia_kernels")
    cpu = machine.get("cpu", {}) or {}
    lines = ["## Machine", ""]
    if ik is None:
        lines += ["*The JSON has no `machine_info[\"inferentia_kernels\"]` block (it was not produced with "
                  "bench/conftest.py); only pytest-benchmark's own description is available.*", ""]
        ik = {}
    model = cpu.get("brand_raw") or ik.get("cpu_model") or machine.get("processor") or "unknown"
    arch = cpu.get("arch_string_raw") or machine.get("machine") or ""
    lines.append(f"- CPU: {model} ({arch})")
    if ik:
        lines.append(
            f"- CPUs: {ik.get('logical_cpus')} logical, {ik.get('physical_cores')} physical cores, "
            f"{ik.get('affinity_cpus')} usable by this process"
        )
    elif cpu.get("count"):
        lines.append(f"- CPUs: {cpu.get('count')} logical")
    caches = [f"{name} {fmt_bytes(cpu[key])}" for name, key in (("L2", "l2_cache_size"), ("L3", "l3_cache_size"))
              if cpu.get(key)]
    if caches:
        lines.append(f"- Caches: {', '.join(str(c) for c in caches)}")
    if ik.get("jit_cpu_name"):
        features = ", ".join(ik.get("jit_kernel_features", [])) or "none of the kernel-relevant ones"
        lines.append(f"- numba JIT target: `{ik['jit_cpu_name']}`; kernel-relevant features: {features}")
    if ik.get("int8_path"):
        available = ", ".join(ik.get("int8_paths_available", []))
        lines.append(f"- INT8 path of this run: **{ik['int8_path']}** (available on this host: {available}; "
                     "`INFERENTIA_KERNELS_ISA` selects one)")
    threads = ik.get("threads")
    if threads:
        lines.append(
            f"- Threads: inferentia_kernels GEMM {threads.get('ik_gemm')} (one per host CPU, also for requantize; "
            f"quantize and the format conversions are single-threaded), numpy/OpenBLAS {threads.get('numpy_blas')}, "
            f"ONNX Runtime intra-op {threads.get('ort_intra_op')} (default session options)"
        )
    system = ik.get("platform") or f"{machine.get('system', '')} {machine.get('release', '')}".strip()
    python = ik.get("python") or machine.get("python_version")
    lines.append(f"- OS: {system}; Python {python} ({machine.get('python_implementation', '')})")
    versions = ik.get("versions") or {}
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    if ik.get("numpy_blas"):
        lines.append(f"- numpy BLAS: {ik['numpy_blas']}")
    if ik.get("environment"):
        lines.append("- Environment: " + ", ".join(f"`{k}={v}`" for k, v in sorted(ik["environment"].items())))
    load = [ik.get("loadavg_start"), ik.get("loadavg_end")]
    if all(load):
        lines.append(
            f"- Load average (1/5/15 min) at start {' / '.join(f'{x:.2f}' for x in load[0])}, "
            f"at end {' / '.join(f'{x:.2f}' for x in load[1])}"
        )
    settings = ik.get("settings")
    if settings:
        lines.append(
            f"- Timing: per benchmark two untimed calls (warm-up incl. JIT, then a probe), then "
            f"max({settings.get('min_rounds')}, {settings.get('budget_s')} s / probe) rounds "
            f"(at most {settings.get('max_rounds')}); wall time of the run "
            f"{ik.get('wall_time_s', '?')} s"
        )
    return "\n".join(lines)


def _status(value: float | None, ok: bool | None) -> str:
    if value is None or ok is None:
        return "missing"
    return "met" if ok else "**not met**"


def _noise_note(*benches: dict) -> str:
    worst = max(rel_sd(b) for b in benches)
    return f"noisy (σ/mean up to {worst:.0%})" if worst > NOISY else ""


def targets_section(run: Run) -> str:
    rows = []

    def add(target: str, group: str, impl: str, ref: str, need: float, *, at_least: bool = True, info: bool = False,
            slowdown: bool = False, stretch: bool = False, note: str = ""):
        a, b = run.get(group, impl), run.get(group, ref)
        if a is None or b is None:
            required = "–" if info else (f"≤ +{need:.0%}" if slowdown else f"≥ {need}×")
            rows.append([target, group.replace("GEMM ", ""), "not in this run", "–", required,
                         "stretch missing" if stretch else "missing", note])
            return
        if slowdown:  # time ratio - 1 (positive = slower)
            value = mean(a) / mean(b) - 1
            by_median = median(a) / median(b) - 1
            ok = value <= need
            shown, shown_median, required = f"{value:+.1%}", f"{by_median:+.1%}", f"≤ +{need:.0%}"
        else:
            value = mean(b) / mean(a)
            by_median = median(b) / median(a)
            ok = value >= need if at_least else value <= need
            shown, shown_median, required = fmt_ratio(value), fmt_ratio(by_median), f"≥ {need}×"
        notes = [note, _noise_note(a, b)]
        if not slowdown and (by_median >= need) != ok:
            notes.append("median disagrees")
        if slowdown and (by_median <= need) != ok:
            notes.append("median disagrees")
        status = "info" if info else _status(value, ok)
        if stretch and not info:
            status = "stretch met" if ok else "stretch not met"
        rows.append([target, group.replace("GEMM ", ""), shown, shown_median, "–" if info else required, status,
                     "; ".join(n for n in notes if n)])

    for group in TARGET_GEMM_GROUPS:
        for dt in ("u8s8", "s8s8"):
            add(f"matmul_integer {dt} vs numpy float32 matmul", group, f"ik.matmul_integer {dt}", NUMPY_F32, 0.5)
    if _int8_path(run) == "vnni":  # the VNNI path's own target (P6)
        for dt in ("u8s8", "s8s8"):
            add(f"matmul_integer {dt} vs numpy float32 matmul, VNNI path", "GEMM 1024x1024x1024",
                f"ik.matmul_integer {dt}", NUMPY_F32, 1.5)
    for group in TARGET_GEMM_GROUPS:
        add("matmul_integer s8s8 vs ORT MatMulInteger s8s8", group, "ik.matmul_integer s8s8", ORT_MMI_S8S8, 3)
        add("matmul_integer u8s8 vs ORT MatMulInteger s8s8", group, "ik.matmul_integer u8s8", ORT_MMI_S8S8, 3)
    amx = _int8_path(run) == "amx"  # the AMX targets (P6) hold for the AMX path only
    for group in TARGET_GEMM_GROUPS:
        add("matmul_integer u8s8 vs ORT MatMulInteger u8s8, B an input" + ("" if amx else " (no target)"), group,
            "ik.matmul_integer u8s8", ORT_MMI_U8S8, 1.0 if amx else 0, info=not amx)
        add("matmul_integer u8s8 prepacked vs ORT MatMulInteger u8s8, B constant" + ("" if amx else " (no target)"),
            group, IK_PREPACKED, ORT_MMI_U8S8_CONST, 1.0 if amx else 0, info=not amx)
    for group in run.groups:
        if group.startswith("GEMM "):
            for dt in ("u8s8", "s8s8"):
                add(f"qlinear_matmul {dt} time vs matmul_integer {dt}", group, f"ik.qlinear_matmul {dt}",
                    f"ik.matmul_integer {dt}", 0.15, slowdown=True)
    for group in run.groups:
        if group.startswith("requantize "):
            add("requantize vs vectorized numpy", group, "ik.requantize", "numpy vectorized", 3)
    # Float GEMM (bench/test_bench_float.py)
    add("matmul bf16 vs numpy float32 matmul", TARGET_FLOAT_GROUP, "ik.matmul bf16", NUMPY_F32, FLOAT_TARGET)
    add("matmul bf16 vs numpy float32 matmul (stretch)", TARGET_FLOAT_GROUP, "ik.matmul bf16", NUMPY_F32,
        FLOAT_STRETCH, stretch=True)
    add("matmul fp16 vs numpy float32 matmul", TARGET_FLOAT_GROUP, "ik.matmul fp16", NUMPY_F32, FLOAT_TARGET)
    add("matmul fp16 vs numpy float32 matmul (stretch)", TARGET_FLOAT_GROUP, "ik.matmul fp16", NUMPY_F32,
        FLOAT_STRETCH, stretch=True)
    # Convolutions (bench/test_bench_conv.py): every 3x3 layer, at each batch size run
    conv_groups = [g for g in run.groups if family(g) == "conv"]
    for group in conv_groups:
        if _conv_info(run, group).get("kernel") == 3:
            add("qlinear_conv vs its equivalent GEMM (qlinear_matmul)", group, QCONV, QGEMM, CONV_TARGET,
                note=_conv_kind_note(run, group))
    for group in conv_groups:
        if _conv_info(run, group).get("kernel") == 3:
            add("qlinear_conv vs ORT QLinearConv (no target)", group, QCONV, ORT_QCONV, 0, info=True)
    if conv_groups:
        rows.append(_bit_exact_row(run, conv_groups))
    header = ["Target", "Case", "Measured (means)", "From medians", "Required", "Status", "Notes"]
    met = sum(1 for r in rows if r[5] == "met")
    missed = sum(1 for r in rows if r[5] == "**not met**")
    missing = sum(1 for r in rows if r[5] == "missing")
    stretch_met = sum(1 for r in rows if r[5] == "stretch met")
    stretch_missed = sum(1 for r in rows if r[5] == "stretch not met")
    summary = f"Summary: {met} met, {missed} not met" + (f", {missing} missing from this run" if missing else "")
    if stretch_met or stretch_missed:
        summary += f"; stretch goals: {stretch_met} met, {stretch_missed} not met"
    intro = [
        "## Targets",
        "",
        "All ratios come from this one run. Throughput ratios are reference mean time / our mean "
        "time (> 1: ours is faster); the qlinear_matmul rows give its extra time over matmul_integer "
        "on the same operands. A convolution and its equivalent GEMM do the same multiply-adds, so "
        "their time ratio is their throughput ratio. Status is decided on the means; the medians are "
        f"shown as a check against noise, and cases whose relative standard deviation exceeds {NOISY:.0%} "
        "are flagged.",
        "",
        summary + ".",
        "",
    ]
    return "\n".join(intro) + "\n" + table(header, rows, ["l", "l", "r", "r", "r", "l", "l"])


def _conv_info(run: Run, group: str) -> dict:
    """The ``conv`` geometry (cin, cout, hw, out_hw, kernel, stride, pad, groups) of a conv group."""
    for bench in run.groups.get(group, []):
        if "conv" in bench["extra_info"]:
            return bench["extra_info"]["conv"]
    return {}


def _conv_kind_note(run: Run, group: str) -> str:
    info = _conv_info(run, group)
    notes = []
    groups = info.get("groups", 1)
    if groups > 1:
        depth = info["cin"] // groups * info["kernel"] ** 2
        kind = "depthwise" if groups == info["cin"] else "grouped"
        notes.append(f"{kind}: {groups} GEMMs with N = {info['cout'] // groups}, K = {depth} vs one dense GEMM")
    if info.get("stride", 1) > 1:
        notes.append(f"stride {info['stride']}")
    return ", ".join(notes)


def _bit_exact(run: Run, group: str) -> dict | None:
    """The ORT comparison stored with the ORT QLinearConv benchmark of a conv group, if any."""
    bench = run.get(group, ORT_QCONV)
    if bench is None or "bit_exact" not in bench["extra_info"]:
        return None
    return bench["extra_info"]


def _bit_exact_text(run: Run, group: str) -> str:
    info = _bit_exact(run, group)
    if info is None:
        return "–"
    if info["bit_exact"]:
        return "yes"
    return f"**NO** ({info.get('mismatches')} differ, max Δ {info.get('max_abs_diff')})"


def _bit_exact_row(run: Run, groups: list[str]) -> list[str]:
    checked = [g for g in groups if _bit_exact(run, g) is not None]
    differing = [g for g in checked if not _bit_exact(run, g)["bit_exact"]]
    unchecked = len(groups) - len(checked)
    if not checked:
        status, measured = "missing", "not in this run"
    else:
        status = "**not met**" if differing else "met"
        measured = f"{len(checked) - len(differing)} of {len(checked)} bit-exact"
    notes = []
    if differing:
        notes.append("differ: " + ", ".join(g.replace("conv ", "") for g in differing))
    if unchecked:
        notes.append(f"{unchecked} conv group(s) without an ORT check")
    return ["qlinear_conv output == ORT QLinearConv output", "every conv layer and batch", measured, "–",
            "all bit-exact", status, "; ".join(notes)]


def overview_section(run: Run) -> str:
    """One table per family: INT8 GEMM, float GEMM, convolutions, element-wise."""
    parts = ["## Overview", ""]
    int8 = [g for g in run.groups if family(g) == "int8"]
    if int8:
        impls: list[str] = []
        for group in int8:
            for bench in run.groups[group]:
                if bench["extra_info"]["impl"] not in impls:
                    impls.append(bench["extra_info"]["impl"])
        header = ["M×K×N"] + [short_ref(i) for i in impls]
        rows = []
        for group in int8:
            row = [group.replace(INT8_GEMM, "")]
            for impl in impls:
                bench = run.get(group, impl)
                row.append(fmt_num(throughput(bench)[0]) if bench else "–")
            rows.append(row)
        parts += ["### INT8 GEMM throughput (GOPS = 2·M·K·N / mean time)", "", table(header, rows), ""]
    float_section = _float_overview(run)
    if float_section:
        parts += [float_section, ""]
    conv_section = _conv_overview(run)
    if conv_section:
        parts += [conv_section, ""]
    elementwise = [g for g in run.groups if family(g) == "elementwise"]
    if elementwise:
        rows = []
        for group in elementwise:
            ours = [b for b in run.groups[group] if b["extra_info"].get("kind") == "ik"]
            refs = [b for b in run.groups[group] if b["extra_info"].get("kind") != "ik"]
            for bench in ours:
                value = throughput(bench)[0]
                ratios = ", ".join(f"{fmt_ratio(mean(r) / mean(bench))} {short_ref(r['extra_info']['impl'])}"
                                   for r in refs)
                ref_values = ", ".join(f"{short_ref(r['extra_info']['impl'])} {fmt_num(throughput(r)[0])}"
                                       for r in refs)
                rows.append([group, impl_label(bench), fmt_num(value), ref_values or "–", ratios or "–"])
        parts += ["### Element-wise throughput (Gelem/s)", "",
                  table(["Case", "Ours", "Gelem/s", "References (Gelem/s)", "Ours vs reference"], rows,
                        ["l", "l", "r", "l", "l"]), ""]
    return "\n".join(parts)


def _ratio(run: Run, group: str, impl: str, ref: str) -> str:
    """Throughput of ``impl`` relative to ``ref`` in one group (ref mean time / impl mean time)."""
    a, b = run.get(group, impl), run.get(group, ref)
    return fmt_ratio(mean(b) / mean(a)) if a and b else "–"


def _gops(run: Run, group: str, impl: str) -> str:
    bench = run.get(group, impl)
    return fmt_num(throughput(bench)[0]) if bench else "–"


def _float_overview(run: Run) -> str:
    groups = [g for g in run.groups if family(g) == "float"]
    if not groups:
        return ""
    impls = [i for i in FLOAT_IMPLS if any(run.get(g, i) for g in groups)]
    header = ["M×K×N"] + [i.replace("ik.", "") for i in impls] + [NUMPY_F32]
    header += [f"{i.replace('ik.matmul ', '')} ÷ numpy" for i in impls]
    rows = []
    for group in groups:
        row = [group.replace(FLOAT_GEMM, "")]
        row += [_gops(run, group, impl) for impl in impls + [NUMPY_F32]]
        row += [_ratio(run, group, impl, NUMPY_F32) for impl in impls]
        rows.append(row)
    return "\n".join([
        "### Float GEMM throughput (GFLOPS = 2·M·K·N / mean time)",
        "",
        "`ik.matmul` at each precision with float32 operands (the rounding is part of the call) against "
        "numpy float32 `a @ b`; the ratio columns are throughput relative to numpy (> 1: ours is faster).",
        "",
        table(header, rows),
    ])


def _conv_geometry(info: dict) -> str:
    if not info:
        return "?"
    text = (f"{info['cin']}→{info['cout']}, {info['kernel']}×{info['kernel']}/{info['stride']}, "
            f"{info['hw']}²→{info['out_hw']}²")
    if info.get("groups", 1) > 1:
        text += f", groups {info['groups']}"
    return text


def _conv_overview(run: Run) -> str:
    groups = [g for g in run.groups if family(g) == "conv"]
    if not groups:
        return ""
    header = ["Layer", "N", "Geometry", "GEMM M×K×N", "qlinear_conv", "qlinear_matmul GEMM", "conv ÷ GEMM",
              "ORT QLinearConv", "conv ÷ ORT", "== ORT", "conv2d bf16", "matmul bf16 GEMM", "conv2d ÷ GEMM"]
    rows = []
    for group in groups:
        benches = run.groups[group]
        info = _conv_info(run, group)
        extra = benches[0]["extra_info"]
        layer = extra.get("layer") or group.replace(CONV, "").rsplit(" N=", 1)[0]
        gemm = extra.get("gemm_shape")
        rows.append([
            layer, str(extra.get("batch", "?")), _conv_geometry(info), "×".join(map(str, gemm)) if gemm else "?",
            _gops(run, group, QCONV), _gops(run, group, QGEMM), _ratio(run, group, QCONV, QGEMM),
            _gops(run, group, ORT_QCONV), _ratio(run, group, QCONV, ORT_QCONV), _bit_exact_text(run, group),
            _gops(run, group, FCONV), _gops(run, group, FGEMM), _ratio(run, group, FCONV, FGEMM),
        ])
    return "\n".join([
        "### Convolution throughput (GOPS = 2·N·Ho·Wo·Cout·Cin/groups·kH·kW / mean time)",
        "",
        "Each layer's convolution against its equivalent GEMM [M, K] × [K, N] (M = N·Ho·Wo, "
        "K = Cin/groups·kH·kW, N = Cout: the same multiply-adds, without gathering patches), and the "
        "INT8 convolution against ONNX Runtime's QLinearConv. \"== ORT\" is the bit-exactness check of "
        "qlinear_conv against QLinearConv's output done before timing. Ratios > 1: the convolution is faster.",
        "",
        table(header, rows, ["l", "r", "l", "l", "r", "r", "r", "r", "r", "l", "r", "r", "r"]),
    ])


def group_section(run: Run) -> str:
    parts = ["## Results by group", "",
             "Bold rows are inferentia_kernels; ratio columns are throughput relative to the named "
             "reference in the same group (> 1: the row is faster).", ""]
    for group, benches in run.groups.items():
        refs = [b["extra_info"]["impl"] for b in benches if b["extra_info"].get("kind") != "ik"]
        if group.startswith("GEMM "):
            refs = [r for r in refs if r == NUMPY_F32 or r.startswith("onnxruntime")]
        unit = next((throughput(b)[1] for b in benches if throughput(b)[1]), "")
        header = ["Implementation", "Threads", "Rounds", "Mean", "σ/mean", "Median", unit or "Throughput"]
        header += [f"× {short_ref(r)}" for r in refs]
        conv = family(group) == "conv"
        if conv:
            header.append("× equivalent GEMM")
        rows = []
        for bench in benches:
            stats = bench["stats"]
            impl = bench["extra_info"]["impl"]
            row = [impl_label(bench), str(bench["extra_info"].get("threads", "?")), str(stats["rounds"]),
                   fmt_time(stats["mean"]), f"{rel_sd(bench):.0%}", fmt_time(stats["median"]),
                   fmt_num(throughput(bench)[0])]
            for ref in refs:
                other = run.get(group, ref)
                if conv and ref == ORT_QCONV and impl not in (QCONV, QGEMM, ORT_QCONV):
                    row.append("–")  # a float row against an INT8 reference
                    continue
                row.append(fmt_ratio(mean(other) / mean(bench)) if other else "–")
            if conv:
                row.append(_ratio(run, group, impl, CONV_GEMM[impl]) if impl in CONV_GEMM else "–")
            rows.append(row)
        title = group
        shape = benches[0]["extra_info"].get("shape")
        if family(group) in ("int8", "float") and shape:
            title += f" (M={shape[0]}, K={shape[1]}, N={shape[2]})"
        if conv:
            title += f" ({_conv_geometry(_conv_info(run, group))}; GEMM M×K×N = {'×'.join(map(str, shape or []))})"
        parts += [f"### {title}", "", table(header, rows), ""]
    return "\n".join(parts)


def notes_section() -> str:
    return "\n".join([
        "## What is measured",
        "",
        "- `ik.matmul_integer` / `ik.qlinear_matmul`: u8s8 has A uint8 with zero point 128, s8s8 has A int8 "
        "(the same products); B int8 with zero point 0. qlinear_matmul uses per-tensor parameters and the "
        "float requantization (output uint8 / int8). Our ops pack A and B on every call; timings include it.",
        "- numpy float32: `a @ b` on float32 copies of the same operands (OpenBLAS, conversion not timed). "
        "numpy int32: `a @ b` on int32 copies (numpy's non-BLAS loops), only up to 512³ multiply-adds.",
        "- ONNX Runtime: CPU provider, default session options (intra-op pool of one thread per physical "
        "core); MatMulInteger and QLinearMatMul with B as a graph input (not a prepacked initializer), zero "
        "points and scales as initializers; output allocation included.",
        "- requantize: int32 [R, C] with per-column multipliers to int8, against a vectorized numpy "
        "implementation of the same formula (checked bit-identical before timing).",
        "- Float GEMM: `ik.matmul(a, b, precision=...)` for bf16, fp16 and fp32 on float32 standard-normal "
        "operands (rounding to the precision is part of each call), against numpy float32 `a @ b` on the same "
        "operands (OpenBLAS). GFLOPS = 2·M·K·N / mean time.",
        "- Convolutions: ResNet-50 v1.5 layers (stem 7×7/2; per stage the 1×1 reduce, 3×3 and 1×1 expand of a "
        "non-first bottleneck block, and the stride-2 3×3 of stage 2's first block) and MobileNet-style depthwise "
        "3×3 layers, NCHW. `ik.qlinear_conv`: x uint8 (zero point 128), w int8 with per-output-channel scales "
        "(zero point 0), int32 bias, y uint8, float requantization. Its equivalent GEMM is "
        "`ik.qlinear_matmul` on random [M, K] uint8 × [K, N] int8 operands with the same parameters (per-column "
        "scales, bias). ONNX Runtime QLinearConv (opset 21) has x as the graph input and W, scales, zero points "
        "and bias as initializers (so it may prepack W), default threading; its output is compared with "
        "`ik.qlinear_conv`'s once per layer and batch before timing. `ik.conv2d` bf16 takes float32 x, w and "
        "bias; `ik.matmul` bf16 on the equivalent GEMM takes float32 [M, K] × [K, N] and the bias (rounding "
        "then covers M·K values instead of x's N·C·H·W). Batch 8 only for the layers of "
        "bench/test_bench_conv.py's BATCH8_LAYERS.",
        "- Conversions and quantize: 16M float32 values (normal, 5 % scaled by 1e4); references "
        "(`ml_dtypes`/numpy `astype`, numpy QuantizeLinear, ONNX Runtime QuantizeLinear) are checked "
        "bit-identical before timing.",
    ])


def render(data: dict, source: str) -> str:
    run = Run(data)
    ik = data.get("machine_info", {}).get("inferentia_kernels", {})
    commit = data.get("commit_info", {}) or {}
    commit_text = commit.get("id", "unknown")[:12] + (" (with uncommitted changes)" if commit.get("dirty") else "")
    command = ik.get("command", "python -m pytest bench --benchmark-json=...")
    families = {family(group) for group in run.groups}
    path = _int8_path(run)
    header = ["# Performance", ""]
    if "float" not in families and path:  # the integer suites alone, on one path
        header = [f"# Performance of the {path} INT8 path", "",
                  f"The integer suites alone, on the {path} path (`INFERENTIA_KERNELS_ISA={path}` selects it); "
                  "[performance.md](performance.md) has the default path and everything else.", ""]
    header += [
        f"Produced by `{command}` on {data.get('datetime', '?')} (pytest-benchmark {data.get('version', '?')}), "
        f"commit {commit_text}; this page by `python bench/report.py {source}`. Do not edit by hand: "
        "rerun both commands.",
        "",
    ]
    sections = [machine_section(data), targets_section(run), overview_section(run), group_section(run), notes_section()]
    return "\n".join(header) + "\n" + "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("-o", "--output", type=Path, help="write the markdown here instead of stdout")
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text())
    text = render(data, str(args.results))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
