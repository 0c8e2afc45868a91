"""``qlinear_matmul``: ONNX QLinearMatMul, with bias and activation fused into the epilogue."""

from __future__ import annotations

import math

import numpy as np

from ..errors import describe, invalid, wrong_dtype
from ..numerics import QParams
from ._batching import batched_matmul
from ._checks import int32_bias, integer_operand
from ._int8_engine import Epilogue, gemm_int8
from ._recent import Recent
from ._requant_params import mode_number, requant_epilogue, scale_multipliers
from ._tiles import device_op, record_gemm
from .matmul_integer import prepare
from .requantize import output_qparams

__all__ = ["qlinear_matmul"]

OP = "qlinear_matmul"


def _operand_qparams(name: str, qp, dtype: np.dtype, per_column_of: np.ndarray | None) -> QParams:
    if not isinstance(qp, QParams):
        raise wrong_dtype(OP, f"{name}_qp", "a QParams", describe(qp))
    if qp.dtype != dtype:
        raise wrong_dtype(OP, f"{name}_qp", f"parameters for {dtype} (the dtype of {name})", qp.dtype)
    if qp.per_axis:
        if per_column_of is None:
            raise invalid(OP, f"{name}_qp", "per tensor (scalar scale)", qp)
        ndim = per_column_of.ndim
        if qp.axis not in (-1, ndim - 1) or qp.scale.size != per_column_of.shape[-1]:
            raise invalid(
                OP, f"{name}_qp", f"per tensor or per column (axis -1 with {per_column_of.shape[-1]} scales)", qp
            )
    return qp


#: Requantization constants (epilogue, B zero points) of recent calls without bias, by the identity
#: of their QParams, which cannot change: a layer called again skips its multipliers, and its
#: prepacked weights find their product (``Prepacked.product``). 256^3 0.78x the time fresh, 0.63x
#: prepacked; 128 x 768 x 768 0.81x and 0.69x. Enough for a network's layers.
KEPT_EPILOGUES = 256
_kept: Recent[tuple[Epilogue, np.ndarray]] = Recent(KEPT_EPILOGUES)


def _requantization(a_qp: QParams, b_qp: QParams, y_qp: QParams, cols: int, mode, activation, bias,
                    zb: np.ndarray) -> tuple[Epilogue, np.ndarray]:
    """The epilogue of a call (validated QParams; mode, activation and bias as given) and its B zero
    points ``zb`` (int32 [cols] from ``b_qp``): those of a recent call with the same QParams objects,
    mode and activation (None or a name), when neither has a bias (an array its caller may change)."""
    def make() -> tuple[Epilogue, np.ndarray]:
        float_multipliers, real_multipliers = scale_multipliers(a_qp, np.broadcast_to(b_qp.scale, (cols,)), y_qp)
        return requant_epilogue(OP, mode, real_multipliers, float_multipliers, y_qp, activation,
                                int32_bias(OP, bias, cols), "a_qp.scale * b_qp.scale / y_qp.scale"), zb

    if bias is not None or not (activation is None or isinstance(activation, str)):
        return make()
    key = (id(a_qp), id(b_qp), id(y_qp), cols, mode_number(OP, mode), activation)
    return _kept.get(key, (a_qp, b_qp, y_qp), make)


@device_op(OP)
def qlinear_matmul(a, a_qp: QParams, b, b_qp: QParams, y_qp: QParams, *, bias=None, activation=None,
                   mode: str = "float", device=None) -> np.ndarray:
    """Quantized matmul (ONNX QLinearMatMul), requantized inside the kernel's epilogue.

    ``y = requantize((a - za) @ (b - zb) + bias, s_a * s_b / s_y)`` where the multiplier is
    ``f32(f32(s_a * s_b[j]) / s_y)`` in float mode (bit-exact with ONNX Runtime) and
    ``float(s_a) * float(s_b[j]) / float(s_y)`` in float64 for the fixed-point modes.

    Args:
        a: int8/uint8 [..., M, K] with per-tensor ``a_qp``.
        b: int8/uint8 [..., K, N] with ``b_qp`` per tensor or per column (axis -1).
        y_qp: per-tensor output parameters; the result has ``y_qp.dtype``.
        bias: optional int32 [N], added to the accumulator before requantization.
        activation: None, "relu", "relu6" or a real (lo, hi): a clamp in the output domain.
        mode: "float", "fixed_point" or "fixed_point_single" (see :func:`requantize`).
    """
    a_arr = integer_operand(OP, "a", a)
    b_arr = integer_operand(OP, "b", b)
    a_qp = _operand_qparams("a", a_qp, a_arr.dtype, None)
    b_qp = _operand_qparams("b", b_qp, b_arr.dtype, b_arr)
    y_qp = output_qparams(OP, y_qp)
    a_arr, b_arr, za, zb, batch, rows, depth, cols = prepare(OP, a_arr, b_arr, a_qp.zero_point, b_qp.zero_point)
    record_gemm(OP, m=rows, k=depth, n=cols, batch=math.prod(batch), precision="int8",
                shared_weights=b_arr.ndim <= 2)
    epilogue, zb = _requantization(a_qp, b_qp, y_qp, cols, mode, activation, bias, zb)
    return batched_matmul(a_arr, b_arr, batch, lambda x, y: gemm_int8(x, y, int(za), zb, epilogue), y_qp.dtype)
