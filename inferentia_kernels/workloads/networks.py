"""Whole networks as lists of layer specs: ResNet-50 v1.5 and BERT-base."""

from __future__ import annotations

from ..errors import invalid, wrong_dtype
from .layers import LAYER_TYPES, Conv2d, Gelu, Gemm, GlobalAvgPool, LayerNorm, MaxPool2d, ResidualAdd, Softmax

__all__ = ["Workload", "bert_base", "resnet50"]


class Workload(tuple):
    """An immutable list of layer specs with a name and the name of one sample.

    It is a tuple, so ``len``, indexing, iteration and slicing work as on a list::

        w = ik.workloads.resnet50()
        w.name, w.sample, len(w), w[0], w.macs      # 'resnet50', 'image', 73, Conv2d(...), 4.1e9
    """

    def __new__(cls, name: str, layers, sample: str = "sample"):
        if not isinstance(name, str) or not name:
            raise wrong_dtype("Workload", "name", "a non-empty string", repr(name))
        layers = tuple(layers)
        if not layers:
            raise invalid("Workload", "layers", "a non-empty sequence of layer specs", "an empty sequence")
        for index, layer in enumerate(layers):
            if not isinstance(layer, LAYER_TYPES):
                expected = "layer specs (" + ", ".join(t.__name__ for t in LAYER_TYPES) + ")"
                raise wrong_dtype("Workload", f"layers[{index}]", expected, f"{type(layer).__name__}")
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
        if duplicates:
            raise invalid("Workload", "layers", "layers with distinct names", f"repeated names {duplicates[:3]}")
        self = super().__new__(cls, layers)
        self.name = name
        self.sample = sample
        return self

    def __repr__(self) -> str:
        return f"Workload({self.name!r}, {len(self)} layers, {self.macs / 1e9:.3g} GMAC per {self.sample})"

    def __getnewargs__(self):  # copy and pickle rebuild the name and sample too
        return (self.name, tuple(self), self.sample)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        return sum(layer.macs for layer in self)

    @property
    def weight_elements(self) -> int:
        """Weights (parameters of the tensor-engine layers, bias excluded)."""
        return sum(layer.weight_elements for layer in self)


def _bottleneck(layers: list, prefix: str, in_channels: int, width: int, size: int, stride: int) -> tuple[int, int]:
    """One ResNet-50 v1.5 bottleneck (stride on the 3x3 convolution); returns (channels, size)."""
    out_channels = 4 * width
    out_size = (size - 1) // stride + 1
    layers.append(Conv2d(f"{prefix}.conv1", in_channels, width, 1, size))
    layers.append(Conv2d(f"{prefix}.conv2", width, width, 3, size, stride=stride, padding=1))
    layers.append(Conv2d(f"{prefix}.conv3", width, out_channels, 1, out_size))
    if stride != 1 or in_channels != out_channels:
        layers.append(Conv2d(f"{prefix}.downsample", in_channels, out_channels, 1, size, stride=stride))
    layers.append(ResidualAdd(f"{prefix}.add", out_channels * out_size * out_size, relu=True))
    return out_channels, out_size


def resnet50(image_size: int = 224, num_classes: int = 1000) -> Workload:
    """ResNet-50 v1.5 (torchvision's ``resnet50``) for one ``3 x image_size x image_size`` image.

    53 convolutions (batch norm folded, ReLU fused into the epilogue), the fully connected layer,
    the 3x3/2 max pool, the global average pool and 16 residual adds with ReLU: 4.09 GMAC and
    25.5 M weights at 224 x 224.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 32:
        raise invalid("resnet50", "image_size", "an int >= 32", repr(image_size))
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise invalid("resnet50", "num_classes", "an int >= 1", repr(num_classes))
    layers: list = [Conv2d("conv1", 3, 64, 7, image_size, stride=2, padding=3)]
    size = layers[0].output_size[0]
    pool = MaxPool2d("maxpool", 64, size, kernel=3, stride=2, padding=1)
    layers.append(pool)
    channels, size = 64, pool.output_size[0]
    for stage, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), start=1):
        for block in range(blocks):
            channels, size = _bottleneck(layers, f"layer{stage}.{block}", channels, width, size,
                                         stride if block == 0 else 1)
    layers.append(GlobalAvgPool("avgpool", channels, size))
    layers.append(Gemm("fc", m=1, k=channels, n=num_classes))
    return Workload("resnet50", layers, sample="image")


def bert_base(seq_len: int = 128, *, layers: int = 12, hidden: int = 768, heads: int = 12,
              intermediate: int = 3072) -> Workload:
    """The BERT-base encoder for one sequence of ``seq_len`` tokens.

    Per encoder layer: the fused QKV projection (``hidden x 3*hidden``), the attention scores
    ``Q K^T`` and context ``P V`` per head (their second operand is an activation, not a
    weight), softmax, the output projection, residual add and layer norm, the FFN
    (``hidden x intermediate``, GELU, ``intermediate x hidden``), residual add and layer norm.
    The embedding lookup is a gather and is left out (its layer norm is kept); so are the
    pooler and the classifier (one row each).
    """
    for argument, value in (("seq_len", seq_len), ("layers", layers), ("hidden", hidden), ("heads", heads),
                            ("intermediate", intermediate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid("bert_base", argument, "an int >= 1", repr(value))
    if hidden % heads:
        raise invalid("bert_base", "heads", f"a divisor of hidden ({hidden})", heads)
    s, h, d = seq_len, hidden, hidden // heads
    spec: list = [LayerNorm("embeddings.layernorm", s, h)]
    for i in range(layers):
        p = f"encoder{i}"
        spec += [
            Gemm(f"{p}.qkv", m=s, k=h, n=3 * h),
            Gemm(f"{p}.scores", m=s, k=d, n=s, count=heads, shared_weights=False),
            Softmax(f"{p}.softmax", rows=heads * s, length=s),
            Gemm(f"{p}.context", m=s, k=s, n=d, count=heads, shared_weights=False),
            Gemm(f"{p}.proj", m=s, k=h, n=h),
            ResidualAdd(f"{p}.add1", s * h),
            LayerNorm(f"{p}.ln1", s, h),
            Gemm(f"{p}.ffn1", m=s, k=h, n=intermediate),
            Gelu(f"{p}.gelu", s * intermediate),
            Gemm(f"{p}.ffn2", m=s, k=intermediate, n=h),
            ResidualAdd(f"{p}.add2", s * h),
            LayerNorm(f"{p}.ln2", s, h),
        ]
    return Workload(f"bert_base(seq_len={seq_len})", spec, sample="sequence")
