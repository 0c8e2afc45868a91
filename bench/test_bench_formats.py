"""Format conversions and quantization of 16M float32 values against their references.

* ``ik.to_bfloat16`` vs ``x.astype(ml_dtypes.bfloat16)``; ``ik.from_bfloat16`` vs ``astype(float32)``;
* ``ik.to_float16`` vs numpy ``x.astype(np.float16)``; ``ik.from_float16`` vs ``astype(float32)``;
* ``ik.quantize`` (per tensor, int8 and uint8) vs a vectorized numpy QuantizeLinear and ONNX
  Runtime's QuantizeLinear (default threading; scale and zero point as initializers).

Every reference is checked bit-identical to ours once before timing. Throughput is reported as
elements per second (``extra_info["gelem_per_s"]``).
"""

from __future__ import annotations

import functools

import ml_dtypes
import numpy as np
import pytest

import inferentia_kernels as ik

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 1 << 24  # 16M elements
LABEL = "16M"
OPSET = 21
ONNX_TYPE = {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8}
QUANT = {"int8": (0.02, 0), "uint8": (0.02, 128)}  # scale, zero point


@functools.lru_cache(maxsize=1)
def values() -> np.ndarray:
    """16M finite float32 values: mostly normal(0, 1), some wide-range ones."""
    rng = np.random.default_rng(16)
    x = rng.standard_normal(SIZE, dtype=np.float32)
    wide = rng.random(SIZE) < 0.05
    x[wide] *= np.float32(1e4)
    return x


def _slug(text: str) -> str:
    return text.replace("ik.", "ik_").replace(" ", "_").replace(".", "_")


def _check(reference, ours) -> None:
    expected = ours()
    got = reference()
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


# ---------------------------------------------------------------------------------------------
# 16-bit formats

CONVERSIONS = {
    # name: (ours, (reference impl, reference fn), input maker)
    "to_bfloat16": (ik.to_bfloat16, ("ml_dtypes astype", lambda x: x.astype(ml_dtypes.bfloat16)), lambda x: x),
    "from_bfloat16": (ik.from_bfloat16, ("ml_dtypes astype", lambda x: x.astype(np.float32)),
                      lambda x: x.astype(ml_dtypes.bfloat16)),
    "to_float16": (ik.to_float16, ("numpy astype", lambda x: x.astype(np.float16)), lambda x: x),
    "from_float16": (ik.from_float16, ("numpy astype", lambda x: x.astype(np.float32)),
                     lambda x: x.astype(np.float16)),
}


def _conversion_cases():
    for name, (_, (ref_name, _), _) in CONVERSIONS.items():
        for impl in (f"ik.{name}", ref_name):
            yield pytest.param(name, impl, id=f"{name}-{LABEL}-{_slug(impl)}")


@functools.lru_cache(maxsize=1)
def conversion_input(name: str) -> np.ndarray:
    return CONVERSIONS[name][2](values())


@pytest.mark.parametrize(("name", "impl"), list(_conversion_cases()))
def test_conversion(measure, threads, name, impl):
    ours_fn, (ref_name, ref_fn), _ = CONVERSIONS[name]
    x = conversion_input(name)

    def ours():
        return ours_fn(x)

    if impl == ref_name:
        def fn():
            return ref_fn(x)

        _check(fn, ours)
        kind, family = "reference", "numpy"
    else:
        fn, kind, family = ours, "ik", "ik_serial"
    measure(fn, group=f"{name} {LABEL} float32", impl=impl, kind=kind, threads=threads[family],
            shape=[SIZE], elements=SIZE)


# ---------------------------------------------------------------------------------------------
# quantize


def numpy_quantize_linear(x: np.ndarray, scale: np.float32, zero_point: int, dtype) -> np.ndarray:
    """ONNX QuantizeLinear, vectorized: clamp(rne(f32(x / scale)) + zero_point) (finite inputs)."""
    info = np.iinfo(dtype)
    q = np.rint(x / scale)
    q = np.clip(q, np.float32(info.min - zero_point), np.float32(info.max - zero_point))
    return (q.astype(np.int32) + zero_point).astype(dtype)


def quantize_linear_model(dtype, scale: float, zero_point: int):
    dtype = np.dtype(dtype)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])]
    output = helper.make_tensor_value_info("y", ONNX_TYPE[dtype], ["n"])
    initializers = [
        numpy_helper.from_array(np.array(scale, np.float32), "y_scale"),
        numpy_helper.from_array(np.array(zero_point, dtype), "y_zero_point"),
    ]
    node = helper.make_node("QuantizeLinear", ["x", "y_scale", "y_zero_point"], ["y"])
    graph = helper.make_graph([node], "quantize", inputs, [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    return model


def _quantize_cases():
    for dtype in QUANT:
        for impl in ("ik.quantize", "numpy vectorized", "onnxruntime QuantizeLinear"):
            yield pytest.param(dtype, impl, id=f"quantize-{dtype}-{LABEL}-{_slug(impl)}")


@pytest.mark.parametrize(("dtype", "impl"), list(_quantize_cases()))
def test_quantize(measure, threads, ort_session, dtype, impl):
    scale, zero_point = QUANT[dtype]
    qp = ik.QParams(scale, zero_point, dtype)
    x = values()

    def ours():
        return ik.quantize(x, qp)

    if impl == "ik.quantize":
        fn, kind, family = ours, "ik", "ik_serial"
    elif impl == "numpy vectorized":
        s = np.float32(scale)

        def fn():
            return numpy_quantize_linear(x, s, zero_point, np.dtype(dtype))

        _check(fn, ours)
        kind, family = "reference", "numpy"
    else:
        session = ort_session(quantize_linear_model(dtype, scale, zero_point))
        feeds = {"x": x}

        def fn():
            return session.run(None, feeds)[0]

        _check(fn, ours)
        kind, family = "reference", "ort"
    measure(fn, group=f"quantize {dtype} {LABEL} float32", impl=impl, kind=kind, threads=threads[family],
            shape=[SIZE], elements=SIZE)
