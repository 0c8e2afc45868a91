"""The ``inferentia-kernels`` command (also ``python -m inferentia_kernels``)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    import llvmlite
    import ml_dtypes
    import numba
    from llvmlite import binding
    from numba.core.errors import TypingError

    import inferentia_kernels as ik
    from inferentia_kernels.kernels.target import KERNEL_FEATURES, jit_cpu_features, jit_cpu_name, numba_cache_location

    from inferentia_kernels.kernels.int8_microkernel import MR, VNNI_BITS, VNNI_COLUMNS
    from inferentia_kernels.kernels.isa import ENVIRONMENT_VARIABLE, available_paths
    from inferentia_kernels.ops._int8_engine import active_path

    features = jit_cpu_features()
    try:
        path = active_path()
    except (RuntimeError, ValueError) as error:
        path = f"none: {error}"
    rows = [
        ("inferentia-kernels", ik.__version__),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("llvmlite", llvmlite.__version__),
        ("LLVM", ".".join(map(str, binding.llvm_version_info))),
        ("ml_dtypes", ml_dtypes.__version__),
        ("JIT target CPU", jit_cpu_name()),
        ("CPU features", " ".join(f"{name}{'+' if name in features else '-'}" for name in KERNEL_FEATURES)),
        ("INT8 path", f"{path} (available: {', '.join(available_paths())}; "
                      f"{ENVIRONMENT_VARIABLE}={os.environ.get(ENVIRONMENT_VARIABLE, 'auto')})"),
        ("VNNI kernel", f"{VNNI_BITS}-bit vpdpbusd, {MR} x {VNNI_COLUMNS} blocks" if "vnni" in available_paths()
         else "not available"),
        ("threads", f"{os.cpu_count()} host CPUs, numba {numba.config.NUMBA_NUM_THREADS} threads"),
        ("numba cache", numba_cache_location()),
    ]
    if args.asm:
        from inferentia_kernels.kernels.asm import HOT_LOOPS, hot_loop

        for name, (kernel, example, containing) in HOT_LOOPS.items():
            try:
                listing = " ".join(hot_loop(kernel, *example(), containing=containing))
            except TypingError as error:  # an ISA-specific kernel the JIT target cannot compile
                reason = [line.strip() for line in str(error).splitlines() if "lacks" in line]
                listing = "not compiled: " + (reason[0] if reason else "the JIT target cannot compile it")
            rows.append((name, listing))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _section(title: str) -> None:
    print(f"\n== {title} ==")


def _demo(args: argparse.Namespace) -> int:
    import inferentia_kernels as ik

    rng = np.random.default_rng(args.seed)
    weights = rng.standard_normal((256, 256)).astype(np.float32) * 0.05
    activations = rng.standard_normal((64, 256)).astype(np.float32)

    _section("number formats: FP32 weights rounded to BF16 and FP16")
    started = time.perf_counter()
    as_bf16 = ik.from_bfloat16(ik.to_bfloat16(weights))
    as_fp16 = ik.from_float16(ik.to_float16(weights))
    print(f"(first call compiles the kernels or loads them from the cache: {time.perf_counter() - started:.2f} s)")
    print("BF16 (8-bit mantissa) vs FP32:")
    print(ik.compare(weights, as_bf16))
    print("FP16 (11-bit mantissa) vs FP32:")
    print(ik.compare(weights, as_fp16))

    _section("INT8 quantization of the weights: per tensor vs per output channel (symmetric)")
    per_tensor = ik.calibrate(weights, symmetric=True)
    per_channel = ik.calibrate(weights, symmetric=True, axis=1)
    print(per_tensor)
    print(ik.compare(weights, ik.dequantize(ik.quantize(weights, per_tensor), per_tensor)))
    print(f"per channel ({per_channel.scale.size} scales along axis 1):")
    print(ik.compare(weights, ik.dequantize(ik.quantize(weights, per_channel), per_channel)))

    _section("UINT8 quantization of activations (asymmetric, min/max)")
    act_qp = ik.calibrate(activations, dtype=np.uint8)
    print(act_qp)
    print(ik.compare(activations, ik.dequantize(ik.quantize(activations, act_qp), act_qp)))

    _section("INT8 matmul on the tensor engine: uint8 activations x int8 per-channel weights")
    reference = activations @ weights
    out_qp = ik.calibrate(reference, dtype=np.uint8)
    q_act, q_w = ik.quantize(activations, act_qp), ik.quantize(weights, per_channel)
    started = time.perf_counter()
    q_out = ik.ops.qlinear_matmul(q_act, act_qp, q_w, per_channel, out_qp)
    print(f"qlinear_matmul {q_act.shape} x {q_w.shape} -> {q_out.dtype} in {time.perf_counter() - started:.3f} s "
          "(first call includes compilation or cache load)")
    print("dequantized INT8 result vs FP32 numpy (top-1: arg-max of each output row):")
    print(ik.compare(reference, ik.dequantize(q_out, out_qp)))
    acc = ik.ops.matmul_integer(q_act, q_w, act_qp.zero_point, per_channel.zero_point)
    exact = (q_act.astype(np.int64) - int(act_qp.zero_point)) @ (q_w.astype(np.int64) - per_channel.zero_point)
    print(f"int32 accumulators equal to int64 numpy: {np.array_equal(acc, exact)}")

    _section("BF16 and FP16 matmul (FP32 accumulation in the tensor engine's order) vs FP32 numpy")
    for precision in ("bf16", "fp16"):
        print(f"{precision}:")
        print(ik.compare(reference, ik.ops.matmul(activations, weights, precision=precision)))

    _demo_convolution(ik, rng)
    _demo_device(ik, rng)
    return 0


def _demo_device(ik, rng) -> None:
    """The same INT8 matmul on 16 simulated NeuronCores, then the 1 -> 16 core scaling table."""
    _section("16 NeuronCores (4 Inferentia chips): INT8 matmul 512 x 1024 x 1024, bit-identical to one core")
    device = ik.Device(16)
    a = rng.integers(0, 256, (512, 1024), dtype=np.uint8)
    w = rng.integers(-127, 128, (1024, 1024), dtype=np.int8)
    with device.profile() as prof:
        on_device = ik.ops.matmul_integer(a, w, 128, device=device)
    print(f"identical to device=None: {np.array_equal(on_device, ik.ops.matmul_integer(a, w, 128))}; "
          f"peak {device.peak_tops('int8'):.0f} TOPS")
    print(prof.summary())
    _section("ResNet-50 INT8 scaling, 8 images per core (performance model; docs/perf-model.md)")
    print(ik.scaling(ik.workloads.resnet50(), cores=(1, 2, 4, 8, 16), precision="int8"))


def _demo_convolution(ik, rng) -> None:
    """A 3x3 convolution in INT8 and BF16 against FP32 numpy (im2col, then numpy's matmul)."""
    _section("3x3 convolution (8 x 32 x 28 x 28 -> 64 channels, pad 1): INT8 and BF16 vs FP32 numpy")
    x = rng.standard_normal((8, 32, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) * 0.06).astype(np.float32)
    patches = ik.ops.im2col(x, (3, 3), padding=1)  # [N, C*9, 28*28]: the same values the ops gather
    reference = np.matmul(w.reshape(64, -1), patches).reshape(8, 64, 28, 28)
    x_qp = ik.calibrate(x, dtype=np.uint8)
    w_qp = ik.calibrate(w, symmetric=True, axis=0)
    y_qp = ik.calibrate(reference, dtype=np.uint8)
    q_y = ik.ops.qlinear_conv(ik.quantize(x, x_qp), x_qp, ik.quantize(w, w_qp), w_qp, y_qp, padding=1)
    print("INT8 qlinear_conv (uint8 activations, per-channel int8 weights):")
    print(ik.compare(reference, ik.dequantize(q_y, y_qp)))
    print("BF16 conv2d:")
    print(ik.compare(reference, ik.ops.conv2d(x, w, padding=1, precision="bf16")))


def _core_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"core counts must be integers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"core counts must be integers >= 1, got {text!r}")
    return counts


def _plot_scaling(report, path: str) -> None:
    from matplotlib.figure import Figure

    cores = [row.cores for row in report.rows]
    achieved = [row.achieved_tops for row in report.rows]
    base = report.rows[0]
    linear = [base.achieved_tops * n / base.cores for n in cores]
    figure = Figure(figsize=(6.4, 4.4))
    axes = figure.subplots()
    axes.plot(cores, [row.peak_tops for row in report.rows], "k--", label="peak")
    axes.plot(cores, linear, ":", color="gray", label=f"linear from {base.cores} core{'s' if base.cores > 1 else ''}")
    axes.plot(cores, achieved, "o-", label="achieved (model)")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(cores, [str(n) for n in cores])
    axes.set_xlabel("NeuronCores")
    axes.set_ylabel("TOPS" if report.precision == "int8" else "TFLOPS")
    batch = f"batch {report.batch}" if report.batch is not None else f"{report.batch_per_core} per core"
    axes.set_title(f"{report.workload} {report.precision} {report.strategy}, {batch}", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def _scale(args: argparse.Namespace) -> int:
    import json

    import inferentia_kernels as ik

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("inferentia-kernels scale: --plot needs matplotlib; install it with "
                  "pip install 'inferentia-kernels[plot]'", file=sys.stderr)
            return 2
    workload = ik.workloads.resnet50() if args.workload == "resnet50" else ik.workloads.bert_base(args.seq_len)
    try:
        report = ik.scaling(workload, cores=tuple(args.cores), precision=args.precision, batch=args.batch,
                            strategy=args.strategy, batch_per_core=args.batch_per_core)
    except ValueError as error:
        print(f"inferentia-kernels scale: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report)
    if args.plot:
        _plot_scaling(report, args.plot)
        if not args.json:
            print(f"plot written to {args.plot}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferentia-kernels",
        description="Bit-exact CPU emulation of the AWS Inferentia tensor engine.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the emulated tensor engine and compare it with FP32 numpy")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the demo data (default 0)")
    demo.set_defaults(run=_demo)
    info = commands.add_parser("info", help="versions, JIT target CPU features, threads and numba cache")
    info.add_argument("--asm", action="store_true",
                      help="also list the instructions of each kernel's hot loop on the JIT target")
    info.set_defaults(run=_info)
    scale = commands.add_parser("scale", help="performance-model scaling table over NeuronCore counts (nothing runs)")
    scale.add_argument("--workload", choices=("resnet50", "bert_base"), default="resnet50",
                       help="workload (default resnet50)")
    scale.add_argument("--seq-len", type=int, default=128, help="sequence length of bert_base (default 128)")
    scale.add_argument("--precision", choices=("int8", "bf16", "fp16"), default="int8",
                       help="tensor-engine precision (default int8)")
    scale.add_argument("--batch", type=int, default=None,
                       help="fixed batch for every core count (default: --batch-per-core samples per core)")
    scale.add_argument("--batch-per-core", type=int, default=8,
                       help="samples per core when --batch is not given (default 8)")
    scale.add_argument("--strategy", choices=("data_parallel", "pipeline", "tensor_parallel"),
                       default="data_parallel", help="how the work is spread over the cores (default data_parallel)")
    scale.add_argument("--cores", type=_core_counts, default=[1, 2, 4, 8, 16],
                       help="core counts, comma separated (default 1,2,4,8,16)")
    scale.add_argument("--json", action="store_true", help="print the report as JSON")
    scale.add_argument("--plot", metavar="FILE.png", default=None,
                       help="also draw achieved TOPS against peak and linear (needs matplotlib)")
    scale.set_defaults(run=_scale)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
