"""Accuracy of a candidate result against a reference: ``compare(reference, candidate)``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ShapeMismatchError, describe, wrong_dtype

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """Error statistics of ``candidate`` against ``reference`` (computed in float64).

    Attributes:
        size: number of elements compared.
        max_abs_error, mean_abs_error: of ``candidate - reference`` over the finite pairs.
        relative_l2: ``||candidate - reference||_2 / ||reference||_2`` (inf if the reference is 0
            and the candidate is not; 0 if both are 0).
        sqnr_db: signal-to-quantization-noise ratio ``10 log10(sum ref^2 / sum err^2)``; inf
            when the error is zero.
        cosine: cosine similarity of the two flattened arrays (1.0 when both are all zero).
        max_ulp: largest distance in float32 units in the last place between the two arrays
            rounded to float32 (0 for identical bits; +0 and -0 count as equal).
        nonfinite_mismatches: positions where exactly one side is non-finite, or both are but
            differ (NaN matches NaN; Inf matches Inf of the same sign). Such positions are left
            out of every other statistic.
        top1_agreement: for arrays of two or more dimensions, the fraction of rows (over the
            last axis, e.g. the logits of a batch) whose arg-max is the same; else None.
    """

    size: int
    max_abs_error: float
    mean_abs_error: float
    relative_l2: float
    sqnr_db: float
    cosine: float
    max_ulp: int
    nonfinite_mismatches: int
    top1_agreement: float | None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        rows = [
            ("elements", f"{self.size}"),
            ("max |error|", f"{self.max_abs_error:.6g}"),
            ("mean |error|", f"{self.mean_abs_error:.6g}"),
            ("relative L2", f"{self.relative_l2:.6g}"),
            ("SQNR", f"{self.sqnr_db:.2f} dB"),
            ("cosine", f"{self.cosine:.8f}"),
            ("max ULP (fp32)", f"{self.max_ulp}"),
            ("non-finite mismatches", f"{self.nonfinite_mismatches}"),
        ]
        if self.top1_agreement is not None:
            rows.append(("top-1 agreement", f"{100.0 * self.top1_agreement:.2f} %"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _numeric(argument: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" and array.dtype.name != "bfloat16":
        raise wrong_dtype("compare", argument, "a real numeric array", describe(array))
    return array


def _ordered_f32(values: np.ndarray) -> np.ndarray:
    """float32 bit patterns mapped to integers whose order and spacing are the ULP grid's."""
    bits = values.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, np.int64(-(2**31)) - bits, bits)


def compare(reference, candidate) -> Comparison:
    """Compare ``candidate`` with ``reference`` (same shape; any real dtypes, bfloat16 included)."""
    ref = _numeric("reference", reference)
    cand = _numeric("candidate", candidate)
    if ref.shape != cand.shape:
        raise ShapeMismatchError(f"compare: candidate shape {cand.shape} must equal reference shape {ref.shape}")
    r = ref.astype(np.float64).reshape(-1)
    c = cand.astype(np.float64).reshape(-1)
    finite = np.isfinite(r) & np.isfinite(c)
    same_nonfinite = (np.isnan(r) & np.isnan(c)) | (np.isinf(r) & (r == c))
    nonfinite_mismatches = int(np.count_nonzero(~finite & ~same_nonfinite))
    r, c = r[finite], c[finite]

    error = c - r
    abs_error = np.abs(error)
    signal = float(np.dot(r, r))
    noise = float(np.dot(error, error))
    norms = math.sqrt(signal) * math.sqrt(float(np.dot(c, c)))
    if r.size:
        max_abs, mean_abs = float(abs_error.max()), float(abs_error.mean())
        max_ulp = int(np.abs(_ordered_f32(c) - _ordered_f32(r)).max())
    else:
        max_abs = mean_abs = 0.0
        max_ulp = 0
    return Comparison(
        size=int(ref.size),
        max_abs_error=max_abs,
        mean_abs_error=mean_abs,
        relative_l2=_ratio(math.sqrt(noise), math.sqrt(signal)),
        sqnr_db=math.inf if noise == 0.0 else (-math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise)),
        cosine=1.0 if norms == 0.0 and noise == 0.0 else (0.0 if norms == 0.0 else float(np.dot(r, c)) / norms),
        max_ulp=max_ulp,
        nonfinite_mismatches=nonfinite_mismatches,
        top1_agreement=_top1(ref, cand),
    )


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0.0:
        return 0.0 if numerator == 0.0 else math.inf
    return numerator / denominator


def _top1(ref: np.ndarray, cand: np.ndarray) -> float | None:
    if ref.ndim < 2 or ref.size == 0:
        return None
    r = ref.astype(np.float64).reshape(-1, ref.shape[-1])
    c = cand.astype(np.float64).reshape(-1, cand.shape[-1])
    return float(np.mean(np.argmax(r, axis=1) == np.argmax(c, axis=1)))
