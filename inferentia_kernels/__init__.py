"""Bit-exact CPU emulation of the AWS Inferentia tensor engine.

Public names (see docs/ for the numerics each one follows)::

    import inferentia_kernels as ik
    ik.to_bfloat16, ik.from_bfloat16, ik.to_float16, ik.from_float16, ik.bfloat16
    ik.QParams, ik.calibrate, ik.quantize, ik.dequantize
    ik.compare, ik.Comparison
    ik.ops.matmul_integer, ik.ops.requantize, ik.ops.qlinear_matmul
    ik.Device, ik.NeuronCoreSpec, ik.Profile, ik.workloads, ik.scaling, ik.ScalingReport
"""

from importlib.metadata import PackageNotFoundError, version

from . import ops
from . import workloads
from .compare import Comparison, compare
from .device import Device, NeuronCoreSpec, Profile
from .numerics import (
    QParams,
    bfloat16,
    calibrate,
    dequantize,
    from_bfloat16,
    from_float16,
    quantize,
    to_bfloat16,
    to_float16,
)
from .scaling import ScalingReport, scaling

try:
    __version__ = version("inferentia-kernels")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Comparison",
    "Device",
    "NeuronCoreSpec",
    "Profile",
    "QParams",
    "ScalingReport",
    "__version__",
    "bfloat16",
    "calibrate",
    "compare",
    "dequantize",
    "from_bfloat16",
    "from_float16",
    "ops",
    "quantize",
    "scaling",
    "to_bfloat16",
    "to_float16",
    "workloads",
]
