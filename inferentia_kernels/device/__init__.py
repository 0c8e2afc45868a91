"""The simulated chip: NeuronCore specs, the partition planner and the performance model.

Pure Python (standard library only), readable without numba::

    import inferentia_kernels as ik
    dev = ik.Device(16)                         # four Inferentia chips of four NeuronCore-v1
    dev.peak_tops("int8")                       # 512.0
    prof = dev.estimate(ik.workloads.resnet50(), batch=128, precision="int8")
    print(prof.summary())

``spec.py`` holds the parameters and their sources, ``model.py`` prices one layer on one core,
``planner.py`` spreads a batch over the cores (data parallel, pipeline, tensor parallel) and
``profile.py`` reports the result. docs/perf-model.md states the model and its calibration.
"""

from .device import Device
from .model import fold_cycles, folds, gemm_cycles
from .profile import CoreRecord, OpRecord, Profile
from .spec import PRECISIONS, NeuronCoreSpec

__all__ = [
    "PRECISIONS",
    "CoreRecord",
    "Device",
    "NeuronCoreSpec",
    "OpRecord",
    "Profile",
    "fold_cycles",
    "folds",
    "gemm_cycles",
]
