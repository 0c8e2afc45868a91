"""Float tensor engine matmul in the contract's accumulation order (slow, obvious loops).

For each output (i, j): K is split into tiles of 128; inside a tile, products are added in
ascending k into a float32 partial that starts at +0.0; the tile partials are added in ascending
tile order into a float32 PSUM that starts at +0.0; then bias, then activation. Inputs are
rounded once to the precision (bf16 or fp16; fp32 rounds nothing); for fp32 each product is
rounded to float32 before it is added (no fused multiply-add).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

K_TILE = 128

_ROUNDING = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp32": np.float32}


def round_to_precision(x, precision: str) -> np.ndarray:
    """float32 array of ``x`` rounded once to the precision (through float32, as ml_dtypes)."""
    with np.errstate(all="ignore"):
        return np.asarray(x).astype(np.float32).astype(_ROUNDING[precision]).astype(np.float32)


def matmul_2d(a: np.ndarray, b: np.ndarray, precision: str, bias=None, low=-np.inf, high=np.inf) -> np.ndarray:
    """a [M, K] @ b [K, N] -> float32 [M, N], element by element in the hardware order."""
    a = round_to_precision(a, precision)
    b = round_to_precision(b, precision)
    rows, depth = a.shape
    cols = b.shape[1]
    out = np.empty((rows, cols), np.float32)
    with np.errstate(all="ignore"):
        for i in range(rows):
            for j in range(cols):
                psum = np.float32(0.0)
                for t in range(0, depth, K_TILE):
                    partial = np.float32(0.0)
                    for k in range(t, min(t + K_TILE, depth)):
                        product = np.float32(a[i, k] * b[k, j])  # exact for bf16/fp16 inputs
                        partial = np.float32(partial + product)
                    psum = np.float32(psum + partial)
                if bias is not None:
                    psum = np.float32(psum + np.float32(bias[j]))
                if psum < low:
                    psum = np.float32(low)
                if psum > high:
                    psum = np.float32(high)
                out[i, j] = psum
    return out
