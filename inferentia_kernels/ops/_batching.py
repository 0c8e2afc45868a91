"""numpy matmul broadcasting of leading batch dimensions for 2-D kernels."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def batched_matmul(a: np.ndarray, b: np.ndarray, batch: tuple, gemm: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   out_dtype) -> np.ndarray:
    """Apply ``gemm(a2d, b2d) -> [M, N]`` over the broadcast batch of ``a`` [..., M, K] and
    ``b`` [..., K, N] (1-D operands promoted and their dimension dropped, as numpy does)."""
    if a.ndim == 2 and b.ndim == 2:  # the common case, without reshapes
        return gemm(a, b)
    a_vector, b_vector = a.ndim == 1, b.ndim == 1
    a3 = a.reshape(1, -1) if a_vector else a
    b3 = b.reshape(-1, 1) if b_vector else b
    rows, cols = a3.shape[-2], b3.shape[-1]
    if b3.ndim == 2:
        # Shared weights: fold A's batch (which is then the whole batch) into its rows, one GEMM.
        folded = a3.reshape(math.prod(a3.shape[:-1]), a3.shape[-1])
        result = gemm(folded, b3).reshape(*a3.shape[:-2], rows, cols)
    else:
        a_b = np.broadcast_to(a3, (*batch, *a3.shape[-2:]))
        b_b = np.broadcast_to(b3, (*batch, *b3.shape[-2:]))
        result = np.empty((*batch, rows, cols), dtype=out_dtype)
        for index in np.ndindex(*batch):
            result[index] = gemm(a_b[index], b_b[index])
    if a_vector:
        result = result[..., 0, :]
    if b_vector:
        result = result[..., 0]
    return result if result.flags.c_contiguous else result.copy()
