"""INT8 GEMM and requantization throughput, each shape against its references in the same run.

GEMM groups (one per M x K x N shape), each timing:

* ``ik.matmul_integer`` u8s8 (a_zero_point 128) and s8s8, ``ik.qlinear_matmul`` u8s8 and s8s8
  (per-tensor parameters, float requantization, output uint8 / int8);
* numpy float32 matmul of the same shape (OpenBLAS; operands converted beforehand);
* numpy int32 matmul (numpy's own loops, no BLAS) for M*K*N <= 512**3 only: it is slow;
* ONNX Runtime MatMulInteger u8s8 / s8s8 and QLinearMatMul u8s8 / s8s8, with B as a graph
  *input* (our ops pack B on every call; an initializer would let ORT prepack it once) and the
  zero points / scales as initializers; default threading (one thread per physical core);
* ``ik.matmul_integer`` u8s8 with ``ik.ops.prepack``-ed weights (packed once, outside the timing)
  against ONNX Runtime MatMulInteger u8s8 with B a constant initializer (prepacked by ORT).

The u8 operand is ``s8 ^ 0x80`` with zero point 128, so u8s8 and s8s8 compute the same products.
GOPS = 2*M*K*N / mean time.

Requantize groups: int32 accumulators [R, C] with per-column multipliers, one group per mode,
``ik.ops.requantize`` against a vectorized numpy implementation of the same formula (checked
bit-identical before timing).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import inferentia_kernels as ik
from inferentia_kernels.numerics.fixed_point import quantize_multiplier

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

#: (label, M, K, N)
SHAPES = [
    ("256x256x256", 256, 256, 256),
    ("512x512x512", 512, 512, 512),
    ("1024x1024x1024", 1024, 1024, 1024),
    ("2048x2048x2048", 2048, 2048, 2048),
    ("bert_128x768x768", 128, 768, 768),
    ("bert_128x768x3072", 128, 768, 3072),
    ("bert_128x3072x768", 128, 3072, 768),
    ("gemv_1x4096x4096", 1, 4096, 4096),
]
#: numpy's int32 matmul (no BLAS) is timed only up to this many multiply-adds.
NUMPY_INT32_LIMIT = 512**3

IK_IMPLS = ["ik.matmul_integer u8s8", "ik.matmul_integer s8s8", "ik.qlinear_matmul u8s8", "ik.qlinear_matmul s8s8",
            "ik.matmul_integer u8s8 prepacked"]
REF_IMPLS = [
    "numpy float32",
    "numpy int32",
    "onnxruntime MatMulInteger u8s8",
    "onnxruntime MatMulInteger s8s8",
    "onnxruntime MatMulInteger u8s8 B constant",
    "onnxruntime QLinearMatMul u8s8",
    "onnxruntime QLinearMatMul s8s8",
]

OPSET = 21
A_SCALE = 0.02
B_SCALE = 0.01
U8_ZERO_POINT = 128
ONNX_TYPE = {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8}


def _slug(text: str) -> str:
    return text.replace("ik.", "ik_").replace(" ", "_").replace(".", "_")


def _gemm_cases():
    for label, m, k, n in SHAPES:
        for impl in IK_IMPLS + REF_IMPLS:
            if impl == "numpy int32" and m * k * n > NUMPY_INT32_LIMIT:
                continue
            yield pytest.param(label, m, k, n, impl, id=f"{label}-{_slug(impl)}")


@functools.lru_cache(maxsize=2)
def operands(m: int, k: int, n: int) -> dict[str, np.ndarray]:
    """Random operands of one shape (fixed seed); u8 A equals s8 A + 128."""
    rng = np.random.default_rng(20240 + m * 7 + k * 11 + n * 13)
    a_s8 = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b_s8 = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    return {
        "a_s8": a_s8,
        "a_u8": (a_s8.view(np.uint8) ^ np.uint8(0x80)),
        "b_s8": b_s8,
        "a_f32": a_s8.astype(np.float32),
        "b_f32": b_s8.astype(np.float32),
        "a_i32": a_s8.astype(np.int32),
        "b_i32": b_s8.astype(np.int32),
    }


def y_scale(k: int) -> float:
    """An output scale that maps +-3 standard deviations of the accumulator onto +-127."""
    sigma = np.sqrt(k) * (256 / np.sqrt(12)) ** 2
    return float(A_SCALE * B_SCALE * 3 * sigma / 127)


def _model(node, inputs, output, initializers):
    graph = helper.make_graph([node], node.op_type, inputs, [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    return model


def matmul_integer_model(a_dtype, constant_b: np.ndarray | None = None):
    """MatMulInteger with B a graph input, or the initializer ``constant_b`` (ORT prepacks it once)."""
    a_dtype = np.dtype(a_dtype)
    zero = U8_ZERO_POINT if a_dtype == np.uint8 else 0
    inputs = [helper.make_tensor_value_info("A", ONNX_TYPE[a_dtype], ["M", "K"])]
    if constant_b is None:
        inputs.append(helper.make_tensor_value_info("B", TensorProto.INT8, ["K", "N"]))
    output = helper.make_tensor_value_info("Y", TensorProto.INT32, ["M", "N"])
    initializers = [
        numpy_helper.from_array(np.array(zero, a_dtype), "a_zero_point"),
        numpy_helper.from_array(np.array(0, np.int8), "b_zero_point"),
    ]
    if constant_b is not None:
        initializers.append(numpy_helper.from_array(constant_b, "B"))
    node = helper.make_node("MatMulInteger", ["A", "B", "a_zero_point", "b_zero_point"], ["Y"])
    return _model(node, inputs, output, initializers)


def qlinear_matmul_model(a_dtype, k: int):
    a_dtype = np.dtype(a_dtype)
    zero = U8_ZERO_POINT if a_dtype == np.uint8 else 0
    inputs = [
        helper.make_tensor_value_info("A", ONNX_TYPE[a_dtype], ["M", "K"]),
        helper.make_tensor_value_info("B", TensorProto.INT8, ["K", "N"]),
    ]
    output = helper.make_tensor_value_info("Y", ONNX_TYPE[a_dtype], ["M", "N"])
    initializers = [
        numpy_helper.from_array(np.array(A_SCALE, np.float32), "a_scale"),
        numpy_helper.from_array(np.array(zero, a_dtype), "a_zero_point"),
        numpy_helper.from_array(np.array(B_SCALE, np.float32), "b_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "b_zero_point"),
        numpy_helper.from_array(np.array(y_scale(k), np.float32), "y_scale"),
        numpy_helper.from_array(np.array(zero, a_dtype), "y_zero_point"),
    ]
    node = helper.make_node(
        "QLinearMatMul",
        ["A", "a_scale", "a_zero_point", "B", "b_scale", "b_zero_point", "y_scale", "y_zero_point"],
        ["Y"],
    )
    return _model(node, inputs, output, initializers)


def gemm_function(impl: str, m: int, k: int, n: int, ort_session):
    """(callable, kind, thread family) for one implementation at one shape."""
    x = operands(m, k, n)
    a_dtype = "u8" if "u8s8" in impl else "s8"
    a = x["a_u8"] if a_dtype == "u8" else x["a_s8"]
    zero = U8_ZERO_POINT if a_dtype == "u8" else 0
    b = x["b_s8"]
    if impl.startswith("ik.matmul_integer") and impl.endswith("prepacked"):
        weights = ik.ops.prepack(b)
        return (lambda: ik.ops.matmul_integer(a, weights, zero, 0)), "ik", "ik_gemm"
    if impl.startswith("ik.matmul_integer"):
        return (lambda: ik.ops.matmul_integer(a, b, zero, 0)), "ik", "ik_gemm"
    if impl.startswith("ik.qlinear_matmul"):
        a_qp = ik.QParams(A_SCALE, zero, a.dtype)
        b_qp = ik.QParams(B_SCALE, 0, np.int8)
        y_qp = ik.QParams(y_scale(k), zero, a.dtype)
        return (lambda: ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, mode="float")), "ik", "ik_gemm"
    if impl == "numpy float32":
        a_f, b_f = x["a_f32"], x["b_f32"]
        return (lambda: a_f @ b_f), "reference", "numpy_blas"
    if impl == "numpy int32":
        a_i, b_i = x["a_i32"], x["b_i32"]
        return (lambda: a_i @ b_i), "reference", "numpy"
    if impl.endswith("B constant"):
        session = ort_session(matmul_integer_model(a.dtype, b))
        return (lambda: session.run(None, {"A": a})[0]), "reference", "ort"
    if impl.startswith("onnxruntime MatMulInteger"):
        session = ort_session(matmul_integer_model(a.dtype))
    elif impl.startswith("onnxruntime QLinearMatMul"):
        session = ort_session(qlinear_matmul_model(a.dtype, k))
    else:
        raise ValueError(impl)
    feeds = {"A": a, "B": b}
    return (lambda: session.run(None, feeds)[0]), "reference", "ort"


@pytest.mark.parametrize(("label", "m", "k", "n", "impl"), list(_gemm_cases()))
def test_gemm(measure, threads, ort_session, label, m, k, n, impl):
    fn, kind, family = gemm_function(impl, m, k, n, ort_session)
    measure(
        fn,
        group=f"GEMM {m}x{k}x{n}",
        impl=impl,
        kind=kind,
        threads=threads[family],
        shape=[m, k, n],
        ops=2 * m * k * n,
        label=label,
    )


# ---------------------------------------------------------------------------------------------
# Requantize

REQUANT_SHAPES = [(1024, 1024), (2048, 2048)]
REQUANT_MODES = ["float", "fixed_point", "fixed_point_single"]
OUT_ZERO_POINT = 3  # int8 output, so the clamp is [-128, 127]


@functools.lru_cache(maxsize=1)
def accumulators(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """int32 accumulators whose requantized values mostly fall inside int8, and per-column
    multipliers (float64)."""
    rng = np.random.default_rng(7 + rows + cols)
    acc = rng.integers(-(2**20), 2**20, size=(rows, cols), dtype=np.int32)
    multipliers = rng.uniform(0.5, 1.5, size=cols) * (100.0 / 2**20)
    return acc, multipliers


def numpy_requantize(acc, multipliers, mode, zero_point, low, high, quantized=None, shifts=None):
    """The formulas of docs/numerics.md, vectorized (per-column parameters broadcast on the last axis)."""
    if mode == "float":
        scaled = np.rint(acc.astype(np.float32) * multipliers.astype(np.float32))
        clamped = np.clip(scaled, np.float32(low - zero_point), np.float32(high - zero_point))
        return (clamped.astype(np.int32) + zero_point).astype(np.int8)
    q = quantized.astype(np.int64)
    if mode == "fixed_point":
        left = np.maximum(shifts, 0).astype(np.int64)
        right = np.maximum(-shifts, 0).astype(np.int64)
        shifted = (acc.astype(np.int64) << left).astype(np.int32).astype(np.int64)  # wraps like C++
        product = shifted * q
        total = product + np.where(product >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
        high_mul = np.where(total >= 0, total >> 31, -((-total) >> 31))  # truncating division
        saturate = (shifted == -(2**31)) & (q == -(2**31))
        x = np.where(saturate, 2**31 - 1, high_mul)
        mask = (np.int64(1) << right) - 1
        remainder = x & mask
        threshold = (mask >> 1) + (x < 0)
        value = (x >> right) + (remainder > threshold)
    else:
        total_shift = (31 - shifts).astype(np.int64)
        value = ((acc.astype(np.int64) * q + (np.int64(1) << (total_shift - 1))) >> total_shift)
        value = value.astype(np.int32).astype(np.int64)
    return np.clip(value + zero_point, low, high).astype(np.int8)


def _requant_cases():
    for rows, cols in REQUANT_SHAPES:
        for mode in REQUANT_MODES:
            for impl in ("ik.requantize", "numpy vectorized"):
                yield pytest.param(rows, cols, mode, impl, id=f"{rows}x{cols}-{mode}-{_slug(impl)}")


@pytest.mark.parametrize(("rows", "cols", "mode", "impl"), list(_requant_cases()))
def test_requantize(measure, threads, rows, cols, mode, impl):
    acc, multipliers = accumulators(rows, cols)
    y_qp = ik.QParams(1.0, OUT_ZERO_POINT, np.int8)

    def ours():
        return ik.ops.requantize(acc, multipliers, y_qp, mode=mode)

    if impl == "ik.requantize":
        fn, kind, family = ours, "ik", "ik_serial"
    else:
        quantized = shifts = None
        if mode != "float":
            quantized, shifts = quantize_multiplier(multipliers, single_rounding=mode == "fixed_point_single")

        def fn():
            return numpy_requantize(acc, multipliers, mode, OUT_ZERO_POINT, -128, 127, quantized, shifts)

        np.testing.assert_array_equal(fn(), ours())  # the same formula, bit for bit
        kind, family = "reference", "numpy"
    measure(
        fn,
        group=f"requantize {rows}x{cols} {mode}",
        impl=impl,
        kind=kind,
        threads=threads[family],
        shape=[rows, cols],
        elements=rows * cols,
        mode=mode,
    )
