"""Executable specification of the INT8 tensor engine's accumulation (DESIGN.md §2).

Slow, obviously-correct NumPy. This is ONNX ``MatMulInteger``:

    acc[..., i, j] = Σ_k (a[..., i, k] − a_zero_point) · (b[..., k, j] − b_zero_point[j])

computed exactly in int64 and then wrapped to int32 two's complement (the device accumulates in
int32; the sum can only leave the int32 range for K > 33,025 with extreme zero points, and then it
wraps the way an int32 accumulator does: the result is the exact sum reduced modulo 2^32 into
[−2^31, 2^31)). No warning is issued here: warning about the overflow is the job of the op
(``ik.ops.matmul_integer``), not of the specification.

Leading batch dimensions broadcast as in ``numpy.matmul``; 1-D operands are promoted and the added
axis removed afterwards, exactly as ``numpy.matmul`` (and ONNX MatMul) do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul_integer", "wrap_int32", "zero_point_vector", "INT8_TYPES"]

#: The integer input types of the tensor engine.
INT8_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Reduce integers modulo 2^32 into the int32 range [−2^31, 2^31) (two's complement wrap)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) % 2**32 - 2**31).astype(np.int32)


def _check_operand(name: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype not in INT8_TYPES:
        raise TypeError(f"reference: {name} must be int8 or uint8, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"reference: {name} must have at least one dimension, got a 0-D array")
    return x


def _check_zero_point_range(name: str, zp: np.ndarray, dtype: np.dtype) -> None:
    info = np.iinfo(dtype)
    if zp.size and (zp.min() < info.min or zp.max() > info.max):
        raise ValueError(f"reference: {name} must lie in [{info.min}, {info.max}] for {dtype}, got {zp}")


def zero_point_vector(name: str, zp, dtype: np.dtype, n: int) -> np.ndarray:
    """A zero point given as a scalar (or any size-1 array) or as one value per column (length n).

    Returns an int64 array that broadcasts against the last axis: shape () or (n,).
    """
    z = np.asarray(zp)
    if z.dtype.kind not in "iu":
        raise TypeError(f"reference: {name} must be an integer, got dtype {z.dtype}")
    z = z.astype(np.int64)
    _check_zero_point_range(name, z, np.dtype(dtype))
    if z.size == 1:
        return z.reshape(())
    if z.ndim == 1 and z.shape[0] == n:
        return z
    raise ValueError(f"reference: {name} must be a scalar or a 1-D array of length {n}, got shape {z.shape}")


def matmul_integer(a, b, a_zero_point=0, b_zero_point=0) -> np.ndarray:
    """ONNX MatMulInteger: int32 ``(a − a_zero_point) @ (b − b_zero_point)``.

    a: int8 or uint8, shape [..., M, K] (or [K]).
    b: int8 or uint8, shape [..., K, N] (or [K]).
    a_zero_point: a scalar (or size-1 array) in the range of a's dtype. Per-row zero points of ``a``
        (allowed by the ONNX spec) are not part of the device contract and are rejected.
    b_zero_point: a scalar (or size-1 array), or a 1-D array of length N (one per column of b), in the
        range of b's dtype.

    The sum is exact in int64 and then wrapped to int32 two's complement (see the module docstring).
    """
    a = _check_operand("a", a)
    b = _check_operand("b", b)
    if a.shape[-1] != (b.shape[0] if b.ndim == 1 else b.shape[-2]):
        raise ValueError(f"reference: a and b must have matching inner dimensions, got shapes {a.shape} and {b.shape}")
    n = 1 if b.ndim == 1 else b.shape[-1]

    za = np.asarray(a_zero_point)
    if za.size != 1:
        raise ValueError(f"reference: a_zero_point must be a scalar (per-row is not supported), got shape {za.shape}")
    za = zero_point_vector("a_zero_point", za, a.dtype, 1)
    zb = zero_point_vector("b_zero_point", b_zero_point, b.dtype, n)

    a64 = a.astype(np.int64) - za
    b64 = b.astype(np.int64) - zb  # zb broadcasts over the last axis (the columns) of b
    acc = np.matmul(a64, b64)  # exact: |term| <= 255 * 255, far from int64 overflow
    return wrap_int32(acc)
