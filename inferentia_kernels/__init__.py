"""Bit-exact CPU emulation of the AWS Inferentia tensor engine.

Public names (see docs/ for the numerics each one follows)::

    import inferentia_kernels as ik
    ik.to_bfloat16, ik.from_bfloat16, ik.to_float16, ik.from_float16, ik.bfloat16
    ik.QParams, ik.calibrate, ik.quantize, ik.dequantize
    ik.compare, ik.Comparison
    ik.ops.matmul_integer, ik.ops.requantize, ik.ops.qlinear_matmul
"""

from importlib.metadata import PackageNotFoundError, version

from . import ops
from .compare import Comparison, compare
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

try:
    __version__ = version("inferentia-kernels")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Comparison",
    "QParams",
    "__version__",
    "bfloat16",
    "calibrate",
    "compare",
    "dequantize",
    "from_bfloat16",
    "from_float16",
    "ops",
    "quantize",
    "to_bfloat16",
    "to_float16",
]
