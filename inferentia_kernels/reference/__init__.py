"""The executable specification of inferentia_kernels' numerics (DESIGN.md §2).

Slow, obviously correct NumPy, one small module per operator family. It imports nothing from
``inferentia_kernels.kernels`` or ``inferentia_kernels.numerics`` (only numpy), so the fast
kernels can be tested bit-exactly against it.
"""

from .quantize import dequantize_linear, quantize_linear

__all__ = ["dequantize_linear", "quantize_linear"]
