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
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
