"""Layer specifications: the shapes the performance model needs, per sample, and nothing else.

Every spec is a frozen, validated dataclass that describes one layer for **one sample** (one
image, one sequence); the model multiplies by the batch. Each exposes the same read-only
properties, which are all the performance model (``inferentia_kernels.device``) looks at:

==================  ==========================================================================
``kind``            ``"conv"``, ``"gemm"`` (tensor engine) or the vector op's name
``gemm``            the tensor-engine view (a :class:`Gemm`), ``None`` for vector ops
``macs``            multiply-accumulates per sample
``weight_elements`` stationary weights loaded from DRAM (shared by all samples)
``in_elements``     activation elements read per sample (all inputs, e.g. both addends)
``out_elements``    activation elements written per sample
``vector_ops``      elementary operations on the vector side per sample (0 for GEMMs: their
                    epilogue is counted by the model from ``out_elements``)
``engine``          ``"tensor"``, or ``"scalar"`` / ``"vector"``: which of NeuronCore-v1's two
                    vector-side engines runs the op (see docs/perf-model.md)
``in_place``        the output may overwrite the input (elementwise ops), so the op needs
                    SRAM for its inputs only
==================  ==========================================================================

Operation counts of the vector ops (arithmetic of a straightforward implementation; each is an
assumption, listed in docs/perf-model.md):

=================  ======================================================  =======
op                 per element                                             engine
=================  ======================================================  =======
ResidualAdd        1 add (+1 for a fused ReLU)                             vector
MaxPool2d          kh*kw - 1 comparisons per output                        vector
GlobalAvgPool      1 add per input (the final scale folded in)             vector
Softmax            5: max, subtract, exp, sum, scale                       vector
LayerNorm          7: mean (1), subtract (1), square-sum (2), scale (1),   vector
                   gamma*x + beta (2)
Gelu               1 function evaluation (the ScalarEngine evaluates        scalar
                   GELU per element)
=================  ======================================================  =======
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import invalid, wrong_dtype

__all__ = [
    "Conv2d",
    "Gelu",
    "Gemm",
    "GlobalAvgPool",
    "LayerNorm",
    "MaxPool2d",
    "ResidualAdd",
    "Softmax",
    "VECTOR_KINDS",
]


def _name(cls: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise wrong_dtype(cls, "name", "a non-empty string", repr(value))
    return value


def _count(cls: str, argument: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_dtype(cls, argument, "an int", f"{value!r} ({type(value).__name__})")
    if value < minimum:
        raise invalid(cls, argument, f">= {minimum}", value)
    return value


def _pair(cls: str, argument: str, value, minimum: int = 1) -> tuple[int, int]:
    if isinstance(value, tuple) and len(value) == 2:
        return (_count(cls, argument, value[0], minimum), _count(cls, argument, value[1], minimum))
    if isinstance(value, int) and not isinstance(value, bool):
        value = _count(cls, argument, value, minimum)
        return (value, value)
    raise wrong_dtype(cls, argument, "an int or a pair of ints", repr(value))


def _set(obj, **values) -> None:
    for key, value in values.items():
        object.__setattr__(obj, key, value)


# ---------------------------------------------------------------------------------------------
# Tensor engine


@dataclass(frozen=True)
class Gemm:
    """``count`` independent products ``[m, k] x [k, n]`` per sample.

    ``shared_weights=True``: the ``[k, n]`` operands are weights, the same for every sample, kept
    in DRAM (or resident in SRAM) and loaded into the PE array as the stationary operand; the
    rows of all samples of a batch stream through one loaded weight tile.
    ``shared_weights=False``: the ``[k, n]`` operand is an activation of the sample itself (the
    keys in ``Q K^T``, the values in ``P V``), so every sample and product loads its own
    stationary tile and streams only its own ``m`` rows.
    """

    name: str
    m: int
    k: int
    n: int
    count: int = 1
    shared_weights: bool = True
    kind: ClassVar[str] = "gemm"
    in_place: ClassVar[bool] = False
    engine: ClassVar[str] = "tensor"

    def __post_init__(self):
        _name("Gemm", self.name)
        for argument in ("m", "k", "n", "count"):
            _count("Gemm", argument, getattr(self, argument))
        if not isinstance(self.shared_weights, bool):
            raise wrong_dtype("Gemm", "shared_weights", "a bool", repr(self.shared_weights))

    @property
    def gemm(self) -> Gemm:
        return self

    @property
    def macs(self) -> int:
        return self.count * self.m * self.k * self.n

    @property
    def weight_elements(self) -> int:
        return self.count * self.k * self.n if self.shared_weights else 0

    @property
    def in_elements(self) -> int:
        operand = 0 if self.shared_weights else self.count * self.k * self.n
        return self.count * self.m * self.k + operand

    @property
    def out_elements(self) -> int:
        return self.count * self.m * self.n

    @property
    def vector_ops(self) -> int:
        return 0


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution (NCHW, OIHW) seen by the tensor engine as the im2col GEMM
    ``[Ho*Wo, kh*kw*Cin/groups] x [kh*kw*Cin/groups, Cout/groups]``, once per group.

    ``input_size``, ``kernel``, ``stride`` and ``padding`` take an int or an (h, w) pair;
    padding is symmetric. Batch norm is assumed folded into the weights and bias, and the
    activation (ReLU) fused into the epilogue.
    """

    name: str
    in_channels: int
    out_channels: int
    kernel: int | tuple[int, int]
    input_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    groups: int = 1
    kind: ClassVar[str] = "conv"
    in_place: ClassVar[bool] = False
    engine: ClassVar[str] = "tensor"

    def __post_init__(self):
        _name("Conv2d", self.name)
        _count("Conv2d", "in_channels", self.in_channels)
        _count("Conv2d", "out_channels", self.out_channels)
        groups = _count("Conv2d", "groups", self.groups)
        if self.in_channels % groups or self.out_channels % groups:
            raise invalid("Conv2d", "groups", "a divisor of in_channels and out_channels", groups)
        _set(self, kernel=_pair("Conv2d", "kernel", self.kernel),
             input_size=_pair("Conv2d", "input_size", self.input_size),
             stride=_pair("Conv2d", "stride", self.stride),
             padding=_pair("Conv2d", "padding", self.padding, minimum=0))
        ho, wo = self.output_size
        if ho < 1 or wo < 1:
            raise invalid("Conv2d", "kernel", f"no larger than the padded input {self.input_size}", self.kernel)

    @property
    def output_size(self) -> tuple[int, int]:
        (h, w), (kh, kw), (sh, sw), (ph, pw) = self.input_size, self.kernel, self.stride, self.padding
        return ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    @property
    def gemm(self) -> Gemm:
        ho, wo = self.output_size
        kh, kw = self.kernel
        return Gemm(self.name, m=ho * wo, k=kh * kw * self.in_channels // self.groups,
                    n=self.out_channels // self.groups, count=self.groups)

    @property
    def macs(self) -> int:
        return self.gemm.macs

    @property
    def weight_elements(self) -> int:
        kh, kw = self.kernel
        return self.out_channels * (self.in_channels // self.groups) * kh * kw

    @property
    def in_elements(self) -> int:
        h, w = self.input_size
        return self.in_channels * h * w

    @property
    def out_elements(self) -> int:
        ho, wo = self.output_size
        return self.out_channels * ho * wo

    @property
    def vector_ops(self) -> int:
        return 0


# ---------------------------------------------------------------------------------------------
# Vector engine


class _VectorOp:
    """Shared properties of the vector-side ops (no tensor-engine work, no weights)."""

    gemm = None
    macs = 0
    weight_elements = 0


@dataclass(frozen=True)
class ResidualAdd(_VectorOp):
    """``y = x + skip`` over ``elements`` values per sample, optionally followed by a ReLU."""

    name: str
    elements: int
    relu: bool = False
    kind: ClassVar[str] = "add"
    in_place: ClassVar[bool] = True
    engine: ClassVar[str] = "vector"

    def __post_init__(self):
        _name("ResidualAdd", self.name)
        _count("ResidualAdd", "elements", self.elements)
        if not isinstance(self.relu, bool):
            raise wrong_dtype("ResidualAdd", "relu", "a bool", repr(self.relu))

    @property
    def in_elements(self) -> int:
        return 2 * self.elements

    @property
    def out_elements(self) -> int:
        return self.elements

    @property
    def vector_ops(self) -> int:
        return self.elements * (2 if self.relu else 1)


@dataclass(frozen=True)
class MaxPool2d(_VectorOp):
    """Max pooling over ``kernel`` windows of a ``channels x input_size`` map."""

    name: str
    channels: int
    input_size: int | tuple[int, int]
    kernel: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 2
    padding: int | tuple[int, int] = 1
    kind: ClassVar[str] = "maxpool"
    in_place: ClassVar[bool] = False
    engine: ClassVar[str] = "vector"

    def __post_init__(self):
        _name("MaxPool2d", self.name)
        _count("MaxPool2d", "channels", self.channels)
        _set(self, kernel=_pair("MaxPool2d", "kernel", self.kernel),
             input_size=_pair("MaxPool2d", "input_size", self.input_size),
             stride=_pair("MaxPool2d", "stride", self.stride),
             padding=_pair("MaxPool2d", "padding", self.padding, minimum=0))
        ho, wo = self.output_size
        if ho < 1 or wo < 1:
            raise invalid("MaxPool2d", "kernel", f"no larger than the padded input {self.input_size}", self.kernel)

    @property
    def output_size(self) -> tuple[int, int]:
        (h, w), (kh, kw), (sh, sw), (ph, pw) = self.input_size, self.kernel, self.stride, self.padding
        return ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    @property
    def in_elements(self) -> int:
        h, w = self.input_size
        return self.channels * h * w

    @property
    def out_elements(self) -> int:
        ho, wo = self.output_size
        return self.channels * ho * wo

    @property
    def vector_ops(self) -> int:
        kh, kw = self.kernel
        return self.out_elements * (kh * kw - 1)


@dataclass(frozen=True)
class GlobalAvgPool(_VectorOp):
    """Mean over the spatial positions of each channel: ``channels x input_size -> channels``."""

    name: str
    channels: int
    input_size: int | tuple[int, int]
    kind: ClassVar[str] = "avgpool"
    in_place: ClassVar[bool] = False
    engine: ClassVar[str] = "vector"

    def __post_init__(self):
        _name("GlobalAvgPool", self.name)
        _count("GlobalAvgPool", "channels", self.channels)
        _set(self, input_size=_pair("GlobalAvgPool", "input_size", self.input_size))

    @property
    def in_elements(self) -> int:
        h, w = self.input_size
        return self.channels * h * w

    @property
    def out_elements(self) -> int:
        return self.channels

    @property
    def vector_ops(self) -> int:
        return self.in_elements


@dataclass(frozen=True)
class Softmax(_VectorOp):
    """Softmax over rows of ``length`` values: ``rows`` rows per sample."""

    name: str
    rows: int
    length: int
    kind: ClassVar[str] = "softmax"
    in_place: ClassVar[bool] = True
    engine: ClassVar[str] = "vector"
    OPS_PER_ELEMENT: ClassVar[int] = 5

    def __post_init__(self):
        _name("Softmax", self.name)
        _count("Softmax", "rows", self.rows)
        _count("Softmax", "length", self.length)

    @property
    def in_elements(self) -> int:
        return self.rows * self.length

    @property
    def out_elements(self) -> int:
        return self.rows * self.length

    @property
    def vector_ops(self) -> int:
        return self.OPS_PER_ELEMENT * self.rows * self.length


@dataclass(frozen=True)
class LayerNorm(_VectorOp):
    """Layer normalization of ``rows`` rows of ``features`` values per sample."""

    name: str
    rows: int
    features: int
    kind: ClassVar[str] = "layernorm"
    in_place: ClassVar[bool] = True
    engine: ClassVar[str] = "vector"
    OPS_PER_ELEMENT: ClassVar[int] = 7

    def __post_init__(self):
        _name("LayerNorm", self.name)
        _count("LayerNorm", "rows", self.rows)
        _count("LayerNorm", "features", self.features)

    @property
    def in_elements(self) -> int:
        return self.rows * self.features

    @property
    def out_elements(self) -> int:
        return self.rows * self.features

    @property
    def vector_ops(self) -> int:
        return self.OPS_PER_ELEMENT * self.rows * self.features


@dataclass(frozen=True)
class Gelu(_VectorOp):
    """GELU over ``elements`` values per sample (one ScalarEngine function evaluation each)."""

    name: str
    elements: int
    kind: ClassVar[str] = "gelu"
    in_place: ClassVar[bool] = True
    engine: ClassVar[str] = "scalar"

    def __post_init__(self):
        _name("Gelu", self.name)
        _count("Gelu", "elements", self.elements)

    @property
    def in_elements(self) -> int:
        return self.elements

    @property
    def out_elements(self) -> int:
        return self.elements

    @property
    def vector_ops(self) -> int:
        return self.elements


#: The layer classes the performance model accepts.
LAYER_TYPES = (Gemm, Conv2d, ResidualAdd, MaxPool2d, GlobalAvgPool, Softmax, LayerNorm, Gelu)
#: ``kind`` of the vector-side ops.
VECTOR_KINDS = frozenset(cls.kind for cls in LAYER_TYPES if cls.engine != "tensor")
