"""Turn a pytest-benchmark JSON of bench/ into docs/performance.md.

Usage (from the repository root)::

    python -m pytest bench --benchmark-json=bench/results.json
    python bench/report.py bench/results.json -o docs/performance.md   # or: > docs/performance.md

Everything comes from the JSON: the machine (``machine_info``, including the block bench/conftest.py
stores under ``machine_info["inferentia_kernels"]``), the commit, and per benchmark the measured
statistics and ``extra_info`` (impl, kind, shape, threads, gops / gelem_per_s). Ratios compare
implementations timed in that same run; they are throughput ratios (reference mean time / row
mean time), so > 1 means the row is faster.
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
#: Relative standard deviation above which a measurement is flagged as noisy.
NOISY = 0.10
#: The shapes the GEMM targets are stated for.
TARGET_GEMM_GROUPS = ("GEMM 1024x1024x1024", "GEMM 2048x2048x2048")


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
    threads = ik.get("threads")
    if threads:
        lines.append(
            f"- Threads: inferentia_kernels GEMM {threads.get('ik_gemm')} (one per host CPU; requantize, "
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
            slowdown: bool = False):
        a, b = run.get(group, impl), run.get(group, ref)
        if a is None or b is None:
            required = "–" if info else (f"≤ +{need:.0%}" if slowdown else f"≥ {need}×")
            rows.append([target, group.replace("GEMM ", ""), "not in this run", "–", required, "missing", ""])
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
        notes = [_noise_note(a, b)]
        if not slowdown and (by_median >= need) != ok:
            notes.append("median disagrees")
        if slowdown and (by_median <= need) != ok:
            notes.append("median disagrees")
        status = "info" if info else _status(value, ok)
        rows.append([target, group.replace("GEMM ", ""), shown, shown_median, "–" if info else required, status,
                     "; ".join(n for n in notes if n)])

    for group in TARGET_GEMM_GROUPS:
        for dt in ("u8s8", "s8s8"):
            add(f"matmul_integer {dt} vs numpy float32 matmul", group, f"ik.matmul_integer {dt}", NUMPY_F32, 0.5)
    for group in TARGET_GEMM_GROUPS:
        add("matmul_integer s8s8 vs ORT MatMulInteger s8s8", group, "ik.matmul_integer s8s8", ORT_MMI_S8S8, 3)
        add("matmul_integer u8s8 vs ORT MatMulInteger s8s8", group, "ik.matmul_integer u8s8", ORT_MMI_S8S8, 3)
    for group in TARGET_GEMM_GROUPS:
        add("matmul_integer u8s8 vs ORT MatMulInteger u8s8 (no target)", group, "ik.matmul_integer u8s8",
            ORT_MMI_U8S8, 0, info=True)
    for group in run.groups:
        if group.startswith("GEMM "):
            for dt in ("u8s8", "s8s8"):
                add(f"qlinear_matmul {dt} time vs matmul_integer {dt}", group, f"ik.qlinear_matmul {dt}",
                    f"ik.matmul_integer {dt}", 0.15, slowdown=True)
    for group in run.groups:
        if group.startswith("requantize "):
            add("requantize vs vectorized numpy", group, "ik.requantize", "numpy vectorized", 3)
    header = ["Target", "Case", "Measured (means)", "From medians", "Required", "Status", "Notes"]
    met = sum(1 for r in rows if r[5] == "met")
    missed = sum(1 for r in rows if r[5] == "**not met**")
    missing = sum(1 for r in rows if r[5] == "missing")
    intro = [
        "## Targets",
        "",
        "All ratios come from this one run. Throughput ratios are reference mean time / our mean "
        "time (> 1: ours is faster); the qlinear_matmul rows give its extra time over matmul_integer "
        "on the same operands. Status is decided on the means; the medians are shown as a check "
        f"against noise, and cases whose relative standard deviation exceeds {NOISY:.0%} are flagged.",
        "",
        f"Summary: {met} met, {missed} not met" + (f", {missing} missing from this run" if missing else "") + ".",
        "",
    ]
    return "\n".join(intro) + "\n" + table(header, rows, ["l", "l", "r", "r", "r", "l", "l"])


def overview_section(run: Run) -> str:
    """One row per group, one column per implementation: throughput."""
    parts = ["## Overview", ""]
    for family, title in (("GEMM ", "INT8 GEMM throughput (GOPS = 2·M·K·N / mean time)"), ("", "Element-wise throughput (Gelem/s)")):
        groups = [g for g in run.groups if g.startswith(family)] if family else [
            g for g in run.groups if not g.startswith("GEMM ")]
        if not groups:
            continue
        impls: list[str] = []
        for group in groups:
            for bench in run.groups[group]:
                if bench["extra_info"]["impl"] not in impls:
                    impls.append(bench["extra_info"]["impl"])
        if family:
            header = ["M×K×N"] + [short_ref(i) for i in impls]
            rows = []
            for group in groups:
                row = [group.replace("GEMM ", "")]
                for impl in impls:
                    bench = run.get(group, impl)
                    row.append(fmt_num(throughput(bench)[0]) if bench else "–")
                rows.append(row)
            parts += [f"### {title}", "", table(header, rows), ""]
        else:
            rows = []
            for group in groups:
                ours = [b for b in run.groups[group] if b["extra_info"].get("kind") == "ik"]
                refs = [b for b in run.groups[group] if b["extra_info"].get("kind") != "ik"]
                for bench in ours:
                    value = throughput(bench)[0]
                    ratios = ", ".join(f"{fmt_ratio(mean(r) / mean(bench))} {short_ref(r['extra_info']['impl'])}"
                                       for r in refs)
                    ref_values = ", ".join(f"{short_ref(r['extra_info']['impl'])} {fmt_num(throughput(r)[0])}"
                                           for r in refs)
                    rows.append([group, impl_label(bench), fmt_num(value), ref_values or "–", ratios or "–"])
            parts += [f"### {title}", "",
                      table(["Case", "Ours", "Gelem/s", "References (Gelem/s)", "Ours vs reference"], rows,
                            ["l", "l", "r", "l", "l"]), ""]
    return "\n".join(parts)


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
        rows = []
        for bench in benches:
            stats = bench["stats"]
            row = [impl_label(bench), str(bench["extra_info"].get("threads", "?")), str(stats["rounds"]),
                   fmt_time(stats["mean"]), f"{rel_sd(bench):.0%}", fmt_time(stats["median"]),
                   fmt_num(throughput(bench)[0])]
            for ref in refs:
                other = run.get(group, ref)
                row.append(fmt_ratio(mean(other) / mean(bench)) if other else "–")
            rows.append(row)
        title = group
        shape = benches[0]["extra_info"].get("shape")
        if group.startswith("GEMM ") and shape:
            title += f" (M={shape[0]}, K={shape[1]}, N={shape[2]})"
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
    header = [
        "# Performance",
        "",
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
