"""``prepack``: integer weights packed once, as the tensor engine keeps its weights stationary."""

from __future__ import annotations

import numpy as np

from ..errors import describe, invalid
from ._checks import integer_operand
from ._int8_engine import Prepacked

__all__ = ["Prepacked", "prepack"]


def prepack(b) -> Prepacked:
    """Pack int8/uint8 weights for the INT8 engine's active path, once.

    ``b`` is a matrix [K, N] (the ``b`` of ``matmul_integer`` / ``qlinear_matmul``) or OIHW
    convolution weights (the ``w`` of ``conv_integer`` / ``qlinear_conv``). The result is accepted
    wherever that operand is and skips packing on every call; results are identical to passing
    the array. The weights are copied, so changing ``b`` afterwards does not affect the packed
    weights. Convolution weights are packed for ``groups=1`` now and for other group counts on
    first use.
    """
    array = integer_operand("prepack", "b", b)
    if isinstance(array, Prepacked):
        return array
    if array.ndim not in (2, 4):
        raise invalid("prepack", "b", "a 2-D matrix [K, N] or 4-D OIHW convolution weights", describe(array))
    packed = Prepacked(array)
    packed.matrices(groups=None if array.ndim == 2 else 1)
    return packed
