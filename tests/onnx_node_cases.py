"""The ONNX backend node cases (built in memory by the ``onnx`` package), loaded once per run."""

from __future__ import annotations

import functools
import glob
import os
import warnings
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


@functools.cache
def _all_cases() -> tuple:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():  # building the whole node suite may warn in unrelated generators
        warnings.simplefilter("ignore")
        return tuple(load_model_tests(kind="node"))


def node_cases(select: Callable[[str], bool]) -> dict:
    """The node cases whose names ``select`` accepts, by name."""
    return {case.name: case for case in _all_cases() if select(case.name)}


def _read_tensor(path: str) -> np.ndarray:
    tensor = TensorProto()
    with open(path, "rb") as handle:
        tensor.ParseFromString(handle.read())
    return numpy_helper.to_array(tensor)


def case_model(case):
    """The case's model: in memory, or model.onnx in its directory."""
    if getattr(case, "model", None) is not None:
        return case.model
    return onnx.load(os.path.join(case.model_dir, "model.onnx"))


def case_data_sets(case) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """The case's data sets: in memory (onnx >= 1.17) or data_set_*/input_*.pb / output_*.pb files."""
    if getattr(case, "data_sets", None) is not None:
        return [([np.asarray(v) for v in inputs], [np.asarray(v) for v in outputs])
                for inputs, outputs in case.data_sets]

    def numbered(directory: str, kind: str) -> list[np.ndarray]:
        files = glob.glob(os.path.join(directory, f"{kind}_*.pb"))
        files.sort(key=lambda p: int(os.path.basename(p)[len(kind) + 1:-3]))
        return [_read_tensor(p) for p in files]

    return [(numbered(d, "input"), numbered(d, "output"))
            for d in sorted(glob.glob(os.path.join(case.model_dir, "data_set_*")))]
