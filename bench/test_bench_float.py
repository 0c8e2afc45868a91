"""Float GEMM throughput of the tensor engine's emulation against numpy float32, shape by shape.

Groups ``float GEMM MxKxN`` (one per shape), each timing:

* ``ik.ops.matmul(a, b, precision=...)`` for "bf16", "fp16" and "fp32" (our own engine at full
  precision, for reference): float32 operands in, so the rounding to bf16 / fp16 is part of
  every call, as it is for a caller holding float32 data;
* numpy float32 ``a @ b`` on the same float32 operands (OpenBLAS, all of numpy's BLAS threads).

GFLOPS = 2*M*K*N / mean time (``extra_info["gops"]``). The operands are standard normal values
(finite, so every call takes the engine's normal path).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import inferentia_kernels as ik

#: (label, M, K, N)
SHAPES = [
    ("512x512x512", 512, 512, 512),
    ("1024x1024x1024", 1024, 1024, 1024),
    ("2048x2048x2048", 2048, 2048, 2048),
    ("bert_128x768x768", 128, 768, 768),
    ("bert_128x768x3072", 128, 768, 3072),
    ("bert_128x3072x768", 128, 3072, 768),
]
PRECISIONS = ("bf16", "fp16", "fp32")
IK_IMPLS = [f"ik.matmul {p}" for p in PRECISIONS]
REF_IMPLS = ["numpy float32"]


def _slug(text: str) -> str:
    return text.replace("ik.", "ik_").replace(" ", "_").replace(".", "_")


def group_name(m: int, k: int, n: int) -> str:
    return f"float GEMM {m}x{k}x{n}"


def _cases():
    for label, m, k, n in SHAPES:
        for impl in IK_IMPLS + REF_IMPLS:
            yield pytest.param(label, m, k, n, impl, id=f"{label}-{_slug(impl)}")


@functools.lru_cache(maxsize=1)
def operands(m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 A [M, K] and B [K, N], standard normal (fixed seed per shape)."""
    rng = np.random.default_rng(31337 + m * 7 + k * 11 + n * 13)
    return rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)


@pytest.mark.parametrize(("label", "m", "k", "n", "impl"), list(_cases()))
def test_float_gemm(measure, threads, label, m, k, n, impl):
    a, b = operands(m, k, n)
    if impl.startswith("ik.matmul "):
        precision = impl.split()[-1]

        def fn():
            return ik.ops.matmul(a, b, precision=precision)

        kind, family, extra = "ik", "ik_gemm", {"precision": precision}
    elif impl == "numpy float32":

        def fn():
            return a @ b

        kind, family, extra = "reference", "numpy_blas", {"precision": "fp32"}
    else:
        raise ValueError(impl)
    measure(
        fn,
        group=group_name(m, k, n),
        impl=impl,
        kind=kind,
        threads=threads[family],
        shape=[m, k, n],
        ops=2 * m * k * n,
        label=label,
        **extra,
    )
