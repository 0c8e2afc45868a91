"""QuantizeLinear / DequantizeLinear over arrays viewed as [outer, channels, inner].

Per-tensor parameters are the case ``channels == 1``. ``low``/``high`` are ``qmin - zero_point``
and ``qmax - zero_point``: clamping the scaled value to them before rounding equals clamping the
rounded, shifted value to ``[qmin, qmax]``, because both bounds are integers.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel

__all__ = ["dequantize_linear", "quantize_linear"]


@kernel
def quantize_linear(x, scale, zero_point, qmin, qmax, out):
    """out = clamp(rne(f32(x / scale)) + zero_point, qmin, qmax); NaN and -Inf give qmin."""
    outer, channels, inner = x.shape
    for o in range(outer):
        for c in range(channels):
            s = scale[c]
            zp = zero_point[c]
            low = np.float32(qmin - zp)
            high = np.float32(qmax - zp)
            for i in range(inner):
                v = x[o, c, i] / s
                if not v >= low:  # also catches NaN
                    q = qmin
                elif v > high:
                    q = qmax
                else:
                    q = np.int32(np.rint(v)) + zp
                out[o, c, i] = q


@kernel
def dequantize_linear(q, scale, zero_point, out):
    """out = f32(f32(q - zero_point) * scale)."""
    outer, channels, inner = q.shape
    for o in range(outer):
        for c in range(channels):
            s = scale[c]
            zp = zero_point[c]
            for i in range(inner):
                out[o, c, i] = np.float32(np.int32(q[o, c, i]) - zp) * s
