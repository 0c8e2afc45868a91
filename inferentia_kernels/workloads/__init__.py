"""Layer shapes of whole networks, for the performance model and the benchmarks.

Pure Python (standard library only)::

    import inferentia_kernels as ik
    ik.workloads.resnet50()             # ResNet-50 v1.5, 224 x 224: 53 convolutions, fc, pools, adds
    ik.workloads.bert_base(seq_len=128) # BERT-base encoder: QKV, attention, projection, FFN, softmax, ...

A workload is a :class:`Workload`: a tuple of layer specs (:class:`Conv2d`, :class:`Gemm`,
:class:`ResidualAdd`, :class:`MaxPool2d`, :class:`GlobalAvgPool`, :class:`Softmax`,
:class:`LayerNorm`, :class:`Gelu`), each describing one sample, with a ``name``.
"""

from .layers import Conv2d, Gelu, Gemm, GlobalAvgPool, LayerNorm, MaxPool2d, ResidualAdd, Softmax
from .networks import Workload, bert_base, resnet50

__all__ = [
    "Conv2d",
    "Gelu",
    "Gemm",
    "GlobalAvgPool",
    "LayerNorm",
    "MaxPool2d",
    "ResidualAdd",
    "Softmax",
    "Workload",
    "bert_base",
    "resnet50",
]
