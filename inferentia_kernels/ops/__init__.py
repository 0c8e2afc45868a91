"""Tensor engine operations: validate in Python, then run the numba kernels.

Each op names the ONNX operator whose semantics it follows; every op takes ``device=``.
"""

from .conv import conv2d, conv_integer, im2col, qlinear_conv
from .matmul import matmul
from .matmul_integer import matmul_integer
from .prepack import Prepacked, prepack
from .qlinear_matmul import qlinear_matmul
from .requantize import requantize

__all__ = [
    "Prepacked",
    "conv2d",
    "conv_integer",
    "im2col",
    "matmul",
    "matmul_integer",
    "prepack",
    "qlinear_conv",
    "qlinear_matmul",
    "requantize",
]
