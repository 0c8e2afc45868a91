"""ONNX's own backend node cases for QuantizeLinear / DequantizeLinear, run through ik.quantize /
ik.dequantize and compared bit for bit with the expected outputs ONNX ships.

``onnx.backend.test.loader.load_model_tests(kind="node")`` builds the node cases in memory (the
model, and data sets as arrays or TensorProtos). When a case comes with a model directory, its
``data_set_*/input_*.pb`` / ``output_*.pb`` files are read instead. Only cases whose tensors
are float32 and int8/uint8, without ``block_size`` or ``saturate`` attributes, are in scope; the
others are listed as skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import pytest

import inferentia_kernels as ik

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, numpy_helper  # noqa: E402
from onnx.backend.test.loader import load_model_tests  # noqa: E402

PREFIXES = ("test_quantizelinear", "test_dequantizelinear")
SUPPORTED_INT = {TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8}


def _load_cases():
    with warnings.catch_warnings():
        # building the node cases runs numpy code (casts, logs) that warns; not ours
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return [case for case in cases if case.name.startswith(PREFIXES)]


def _elem_type(value_info) -> int:
    return value_info.type.tensor_type.elem_type


def _unsupported(case) -> str | None:
    """Why ``case`` is outside what QParams / quantize / dequantize model, or None."""
    graph = case.model.graph
    if len(graph.node) != 1 or graph.node[0].op_type not in ("QuantizeLinear", "DequantizeLinear"):
        return "not a single QuantizeLinear/DequantizeLinear node"
    node = graph.node[0]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if attributes.get("block_size", 0):
        return f"blocked quantization (block_size={attributes['block_size']})"
    if "saturate" in attributes:
        return "saturate attribute (float8 only)"
    if "precision" in attributes:
        return "precision attribute"
    if "output_dtype" in attributes and attributes["output_dtype"] not in SUPPORTED_INT:
        return f"output_dtype {TensorProto.DataType.Name(attributes['output_dtype'])}"
    unknown = set(attributes) - {"axis", "block_size", "output_dtype"}
    if unknown:
        return f"attributes {sorted(unknown)}"
    types = {vi.name: _elem_type(vi) for vi in list(graph.input) + list(graph.output)}
    types.update({init.name: init.data_type for init in graph.initializer})
    float_names = [node.input[1]] + (list(node.output) if node.op_type == "DequantizeLinear" else [node.input[0]])
    int_names = [n for n in node.input if n and n not in float_names]
    int_names += list(node.output) if node.op_type == "QuantizeLinear" else []
    for name in float_names:
        if types.get(name) != TensorProto.FLOAT:
            return f"{name} is {TensorProto.DataType.Name(types.get(name, 0))}, not FLOAT"
    for name in int_names:
        if types.get(name) not in SUPPORTED_INT:
            return f"{name} is {TensorProto.DataType.Name(types.get(name, 0))}, not INT8/UINT8"
    return None


def _to_array(value) -> np.ndarray:
    if isinstance(value, TensorProto):
        return numpy_helper.to_array(value)
    return np.asarray(value)


def _read_pb(path: str) -> np.ndarray:
    tensor = TensorProto()
    with open(path, "rb") as handle:
        tensor.ParseFromString(handle.read())
    return numpy_helper.to_array(tensor)


def _data_sets(case):
    """[(inputs, outputs)] as numpy arrays, from the .pb files when the case has them."""
    if case.model_dir is not None:
        sets = []
        for directory in sorted(glob.glob(os.path.join(case.model_dir, "data_set_*"))):
            inputs = [_read_pb(p) for p in sorted(glob.glob(os.path.join(directory, "input_*.pb")))]
            outputs = [_read_pb(p) for p in sorted(glob.glob(os.path.join(directory, "output_*.pb")))]
            sets.append((inputs, outputs))
        return sets
    return [([_to_array(v) for v in inputs], [_to_array(v) for v in outputs]) for inputs, outputs in case.data_sets]


CASES = _load_cases()
SELECTED = [case for case in CASES if _unsupported(case) is None]
EXCLUDED = [case for case in CASES if _unsupported(case) is not None]


def test_some_cases_are_selected():
    """An empty selection must fail loudly, not pass silently."""
    assert CASES, "load_model_tests(kind='node') returned no QuantizeLinear/DequantizeLinear cases"
    names = {case.name for case in SELECTED}
    assert {"test_quantizelinear", "test_quantizelinear_axis", "test_dequantizelinear",
            "test_dequantizelinear_axis"} <= names, names


@pytest.mark.parametrize("case", SELECTED, ids=[case.name for case in SELECTED])
def test_onnx_backend_case(case):
    graph = case.model.graph
    node = graph.node[0]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    input_names = [vi.name for vi in graph.input if vi.name not in initializers]
    data_sets = _data_sets(case)
    assert data_sets, f"{case.name}: no data sets"
    for inputs, outputs in data_sets:
        assert len(inputs) == len(input_names) and len(outputs) == 1
        values = dict(initializers)
        values.update(zip(input_names, inputs))
        x = values[node.input[0]]
        scale = values[node.input[1]]
        zero_point = values.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        expected = outputs[0]
        if node.op_type == "QuantizeLinear":
            output_type = attributes.get("output_dtype") or _elem_type(graph.output[0])
            dtype = SUPPORTED_INT[output_type]
        else:
            dtype = x.dtype.type
        if zero_point is None:
            zero_point = np.zeros(scale.shape, dtype)
        assert zero_point.dtype == dtype
        axis = None if scale.ndim == 0 else attributes.get("axis", 1)  # ONNX's default axis is 1
        qp = ik.QParams(scale, zero_point.astype(np.int32), dtype=dtype, axis=axis)
        if node.op_type == "QuantizeLinear":
            got = ik.quantize(x, qp)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
        else:
            got = ik.dequantize(x, qp)
            assert got.dtype == expected.dtype == np.float32 and got.shape == expected.shape
            np.testing.assert_array_equal(got.view(np.uint32), np.asarray(expected, order="C").view(np.uint32))


@pytest.mark.parametrize("case", EXCLUDED, ids=[case.name for case in EXCLUDED])
def test_onnx_backend_case_out_of_scope(case):
    pytest.skip(f"{case.name}: {_unsupported(case)}")
