"""Convolution throughput on ResNet-50 v1.5 and MobileNet depthwise layers, each layer against its
equivalent GEMM and ONNX Runtime in the same run.

One group per layer and batch size (``conv <layer> N=<batch>``), each timing:

* ``ik.qlinear_conv u8s8``: ``ik.ops.qlinear_conv`` with x uint8 (zero point 128), w int8 per
  output channel (zero point 0), int32 bias, y uint8 (zero point 128), float requantization;
* ``ik.qlinear_matmul u8s8 GEMM``: ``ik.ops.qlinear_matmul`` on the *equivalent GEMM* [M, K] x
  [K, N] with M = batch*Ho*Wo, K = Cin/groups*kH*kW, N = Cout, the same dtypes, per-column
  scales and bias: the same number of multiply-adds as the convolution, without the patch
  gathering (for a grouped / depthwise layer it is one dense GEMM instead of ``groups`` small ones);
* ``onnxruntime QLinearConv u8s8``: built in memory (opset 21), x the graph input, W, scales,
  zero points and bias initializers; default threading (one thread per physical core). Before
  timing, its output is compared with ``ik.qlinear_conv``'s on the same operands; the result is
  stored in ``extra_info`` (``bit_exact``, ``mismatches``, ``max_abs_diff``) and a mismatch fails
  the test *after* the timing is recorded, so bench/report.py can show both;
* ``ik.conv2d bf16``: ``ik.ops.conv2d`` with float32 x, w and bias rounded to bfloat16 inside;
* ``ik.matmul bf16 GEMM``: ``ik.ops.matmul(precision="bf16")`` with bias on the equivalent GEMM
  (numpy has no convolution, so the float convolution is compared with our own float GEMM).

GOPS = 2 * batch * Ho * Wo * Cout * K / mean time, for the convolutions and their GEMMs alike.
The ResNet-50 stage layers are those of a non-first bottleneck block (1x1 reduce 4C -> C, 3x3
C -> C, 1x1 expand C -> 4C), plus the stride-2 3x3 that v1.5 puts in the first block of stage 2.
Batch 8 is timed for the stem and the 3x3 layers only (:data:`BATCH8_LAYERS`), to keep the run short.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

import inferentia_kernels as ik

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = 21
X_SCALE = 0.02
X_ZERO_POINT = 128
Y_ZERO_POINT = 128


@dataclass(frozen=True)
class Layer:
    label: str
    cin: int
    cout: int
    hw: int  # input height = width
    kernel: int
    stride: int = 1
    pad: int = 0
    groups: int = 1

    @property
    def out_hw(self) -> int:
        return (self.hw + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def depth(self) -> int:
        """K of the equivalent GEMM: Cin/groups * kH * kW."""
        return self.cin // self.groups * self.kernel * self.kernel

    def gemm_shape(self, batch: int) -> tuple[int, int, int]:
        return batch * self.out_hw * self.out_hw, self.depth, self.cout

    def ops(self, batch: int) -> int:
        m, k, n = self.gemm_shape(batch)
        return 2 * m * k * n

    def describe(self) -> dict:
        return {"cin": self.cin, "cout": self.cout, "hw": self.hw, "out_hw": self.out_hw, "kernel": self.kernel,
                "stride": self.stride, "pad": self.pad, "groups": self.groups}


LAYERS = [
    Layer("resnet50_stem_7x7s2", 3, 64, 224, 7, 2, 3),
    Layer("resnet50_stage1_1x1reduce", 256, 64, 56, 1),
    Layer("resnet50_stage1_3x3", 64, 64, 56, 3, 1, 1),
    Layer("resnet50_stage1_1x1expand", 64, 256, 56, 1),
    Layer("resnet50_stage2_1x1reduce", 512, 128, 28, 1),
    Layer("resnet50_stage2_3x3s2", 128, 128, 56, 3, 2, 1),
    Layer("resnet50_stage2_3x3", 128, 128, 28, 3, 1, 1),
    Layer("resnet50_stage2_1x1expand", 128, 512, 28, 1),
    Layer("resnet50_stage3_1x1reduce", 1024, 256, 14, 1),
    Layer("resnet50_stage3_3x3", 256, 256, 14, 3, 1, 1),
    Layer("resnet50_stage3_1x1expand", 256, 1024, 14, 1),
    Layer("resnet50_stage4_1x1reduce", 2048, 512, 7, 1),
    Layer("resnet50_stage4_3x3", 512, 512, 7, 3, 1, 1),
    Layer("resnet50_stage4_1x1expand", 512, 2048, 7, 1),
    Layer("mobilenet_dw3x3_112x112x32", 32, 32, 112, 3, 1, 1, 32),
    Layer("mobilenet_dw3x3_14x14x512", 512, 512, 14, 3, 1, 1, 512),
]
BATCHES = (1, 8)
#: Layers also timed at batch 8: the stem and every 3x3 (the layers with a target), not the 1x1s.
BATCH8_LAYERS = {
    "resnet50_stem_7x7s2",
    "resnet50_stage1_3x3",
    "resnet50_stage2_3x3s2",
    "resnet50_stage2_3x3",
    "resnet50_stage3_3x3",
    "resnet50_stage4_3x3",
    "mobilenet_dw3x3_112x112x32",
    "mobilenet_dw3x3_14x14x512",
}

QCONV = "ik.qlinear_conv u8s8"
QGEMM = "ik.qlinear_matmul u8s8 GEMM"
ORT_QCONV = "onnxruntime QLinearConv u8s8"
FCONV = "ik.conv2d bf16"
FGEMM = "ik.matmul bf16 GEMM"
IMPLS = [QCONV, QGEMM, ORT_QCONV, FCONV, FGEMM]


def _slug(text: str) -> str:
    return text.replace("ik.", "ik_").replace(" ", "_").replace(".", "_")


def group_name(layer: Layer, batch: int) -> str:
    return f"conv {layer.label} N={batch}"


def _cases():
    for layer in LAYERS:
        for batch in BATCHES:
            if batch != 1 and layer.label not in BATCH8_LAYERS:
                continue
            for impl in IMPLS:
                yield pytest.param(layer, batch, impl, id=f"{layer.label}-n{batch}-{_slug(impl)}")


# ---------------------------------------------------------------------------------------------
# Operands


def y_scale(layer: Layer, w_scale: np.ndarray) -> float:
    """An output scale mapping about +-3 standard deviations of the accumulator onto +-127."""
    sigma = np.sqrt(layer.depth) * (256 / np.sqrt(12)) * (254 / np.sqrt(12))
    return float(X_SCALE * float(np.mean(w_scale)) * 3 * sigma / 127)


@functools.lru_cache(maxsize=1)
def int8_operands(layer: Layer, batch: int) -> dict:
    """Quantized x, w, bias and parameters of one layer, and random operands of its GEMM."""
    rng = np.random.default_rng(zlib.crc32(f"{layer.label} {batch}".encode()))
    m, k, n = layer.gemm_shape(batch)
    w_scale = rng.uniform(0.002, 0.02, size=layer.cout).astype(np.float32)
    w_zero = np.zeros(layer.cout, np.int8)
    x = rng.integers(0, 256, size=(batch, layer.cin, layer.hw, layer.hw), dtype=np.uint8)
    w = rng.integers(-127, 128, size=(layer.cout, layer.cin // layer.groups, layer.kernel, layer.kernel),
                     dtype=np.int8)
    bias = rng.integers(-(2**12), 2**12, size=layer.cout, dtype=np.int32)
    scale_y = y_scale(layer, w_scale)
    return {
        "x": x,
        "w": w,
        "bias": bias,
        "w_scale": w_scale,
        "w_zero": w_zero,
        "y_scale": scale_y,
        "x_qp": ik.QParams(X_SCALE, X_ZERO_POINT, np.uint8),
        "w_qp": ik.QParams(w_scale, w_zero, np.int8, axis=0),
        "y_qp": ik.QParams(scale_y, Y_ZERO_POINT, np.uint8),
        "a": rng.integers(0, 256, size=(m, k), dtype=np.uint8),
        "b": rng.integers(-127, 128, size=(k, n), dtype=np.int8),
        "b_qp": ik.QParams(w_scale, w_zero, np.int8, axis=-1),
    }


@functools.lru_cache(maxsize=1)
def float_operands(layer: Layer, batch: int) -> dict:
    rng = np.random.default_rng(zlib.crc32(f"{layer.label} {batch} float".encode()))
    m, k, n = layer.gemm_shape(batch)
    scale = np.float32(1 / np.sqrt(layer.depth))
    return {
        "x": rng.standard_normal((batch, layer.cin, layer.hw, layer.hw), dtype=np.float32),
        "w": rng.standard_normal((layer.cout, layer.cin // layer.groups, layer.kernel, layer.kernel),
                                 dtype=np.float32) * scale,
        "bias": rng.standard_normal(layer.cout, dtype=np.float32),
        "a": rng.standard_normal((m, k), dtype=np.float32),
        "b": rng.standard_normal((k, n), dtype=np.float32) * scale,
    }


# ---------------------------------------------------------------------------------------------
# ONNX Runtime


def qlinear_conv_model(layer: Layer, batch: int, q: dict):
    x_info = helper.make_tensor_value_info("x", TensorProto.UINT8, list(q["x"].shape))
    y_shape = [batch, layer.cout, layer.out_hw, layer.out_hw]
    y_info = helper.make_tensor_value_info("y", TensorProto.UINT8, y_shape)
    initializers = [
        numpy_helper.from_array(np.array(X_SCALE, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(X_ZERO_POINT, np.uint8), "x_zero_point"),
        numpy_helper.from_array(q["w"], "w"),
        numpy_helper.from_array(q["w_scale"], "w_scale"),
        numpy_helper.from_array(q["w_zero"], "w_zero_point"),
        numpy_helper.from_array(np.array(q["y_scale"], np.float32), "y_scale"),
        numpy_helper.from_array(np.array(Y_ZERO_POINT, np.uint8), "y_zero_point"),
        numpy_helper.from_array(q["bias"], "bias"),
    ]
    node = helper.make_node(
        "QLinearConv",
        ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "bias"],
        ["y"],
        kernel_shape=[layer.kernel, layer.kernel],
        strides=[layer.stride, layer.stride],
        pads=[layer.pad] * 4,
        dilations=[1, 1],
        group=layer.groups,
    )
    graph = helper.make_graph([node], "QLinearConv", [x_info], [y_info], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    return model


def compare_outputs(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Bit-exactness of two quantized outputs, as extra_info entries."""
    if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
        return {"bit_exact": False, "mismatches": int(ours.size), "max_abs_diff": None,
                "mismatch_detail": f"ik {ours.dtype}{list(ours.shape)} vs ORT {theirs.dtype}{list(theirs.shape)}"}
    diff = np.abs(ours.astype(np.int32) - theirs.astype(np.int32))
    mismatches = int(np.count_nonzero(diff))
    return {"bit_exact": mismatches == 0, "mismatches": mismatches, "max_abs_diff": int(diff.max(initial=0)),
            "compared": int(ours.size)}


# ---------------------------------------------------------------------------------------------
# The benchmark


def _qconv(layer: Layer, q: dict):
    return ik.ops.qlinear_conv(q["x"], q["x_qp"], q["w"], q["w_qp"], q["y_qp"], bias=q["bias"], stride=layer.stride,
                               padding=layer.pad, groups=layer.groups, mode="float")


def conv_function(layer: Layer, batch: int, impl: str, ort_session):
    """(callable, kind, thread family, extra_info) of one implementation on one layer."""
    if impl in (QCONV, QGEMM, ORT_QCONV):
        q = int8_operands(layer, batch)
        if impl == QCONV:
            return (lambda: _qconv(layer, q)), "ik", "ik_gemm", {}
        if impl == QGEMM:
            a, a_qp, b, b_qp, y_qp, bias = q["a"], q["x_qp"], q["b"], q["b_qp"], q["y_qp"], q["bias"]
            return ((lambda: ik.ops.qlinear_matmul(a, a_qp, b, b_qp, y_qp, bias=bias, mode="float")), "ik", "ik_gemm",
                    {})
        session = ort_session(qlinear_conv_model(layer, batch, q))
        feeds = {"x": q["x"]}
        check = compare_outputs(_qconv(layer, q), session.run(None, feeds)[0])
        return (lambda: session.run(None, feeds)[0]), "reference", "ort", check
    f = float_operands(layer, batch)
    if impl == FCONV:
        x, w, bias = f["x"], f["w"], f["bias"]
        return ((lambda: ik.ops.conv2d(x, w, bias, stride=layer.stride, padding=layer.pad, groups=layer.groups,
                                       precision="bf16")), "ik", "ik_gemm", {})
    if impl == FGEMM:
        a, b, bias = f["a"], f["b"], f["bias"]
        return (lambda: ik.ops.matmul(a, b, precision="bf16", bias=bias)), "ik", "ik_gemm", {}
    raise ValueError(impl)


@pytest.mark.parametrize(("layer", "batch", "impl"), list(_cases()))
def test_conv(measure, threads, ort_session, layer, batch, impl):
    fn, kind, family, extra = conv_function(layer, batch, impl, ort_session)
    m, k, n = layer.gemm_shape(batch)
    measure(
        fn,
        group=group_name(layer, batch),
        impl=impl,
        kind=kind,
        threads=threads[family],
        shape=[m, k, n],
        ops=layer.ops(batch),
        layer=layer.label,
        batch=batch,
        conv=layer.describe(),
        gemm_shape=[m, k, n],
        **extra,
    )
    if "bit_exact" in extra:  # checked before timing; reported after, so the timing is kept
        assert extra["bit_exact"], (
            f"ik.qlinear_conv differs from ONNX Runtime QLinearConv on {layer.label} N={batch}: "
            f"{extra['mismatches']} of {extra.get('compared', '?')} outputs, max |diff| {extra['max_abs_diff']} "
            f"{extra.get('mismatch_detail', '')}"
        )
