"""Number formats and quantization: bfloat16, float16, QParams, quantize and dequantize."""

from .formats import bfloat16, from_bfloat16, from_float16, to_bfloat16, to_float16
from .qparams import QParams, calibrate
from .quantize import dequantize, quantize

__all__ = [
    "QParams",
    "bfloat16",
    "calibrate",
    "dequantize",
    "from_bfloat16",
    "from_float16",
    "quantize",
    "to_bfloat16",
    "to_float16",
]
