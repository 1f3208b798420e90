"""Building blocks shared by every graph-convolution backbone, one file a concept: ``core`` (costs,
batch-norm folding, residuals, initialisation), ``conv`` (pointwise convolutions, ``ConvBN``, ``InputNorm``),
``temporal`` and ``graph``.

Internal layout. The public backbone API takes ``(N, C, T, V, M)`` like every skeleton toolbox,
but inside a trunk the persons are folded into the batch and *time is the last axis*:
``(B, C, V, T)`` with ``B = N * M``. With time last, the per-sample, per-channel graph
aggregation of CTR-GCN/DeGCN is one batched matrix product ``W (V, K*V) @ h (K*V, T)`` on
contiguous operands, and temporal convolutions are ``(1, k)`` kernels. The layouts are
equivalent; only speed differs (see ``docs/performance.md``).

Every module that does not call a standard ``nn`` layer for its arithmetic implements
``cost(inputs, output) -> Cost`` so that :mod:`bharnet.profiler` can price it in the paper's
convention (what thop 0.1.1 reports for the reference implementation) and in full.
"""
from __future__ import annotations

from .conv import ConvBN, InputNorm, PointwiseConv, grouped_pointwise
from .core import Cost, Identity, Zero, batch_norm_folding, fold_affine, folded_batch_norm, make_activation
from .graph import GCNBlock, GraphConvUnit, StaticGraphConv, TopologyRefinedGraphConv
from .temporal import DeformableTemporalConv, MultiScaleTemporal, TemporalConv, temporal_max_pool

__all__ = ["Cost", "batch_norm_folding", "folded_batch_norm", "fold_affine", "InputNorm", "ConvBN", "Zero", "Identity",
           "TemporalConv", "DeformableTemporalConv", "MultiScaleTemporal", "StaticGraphConv",
           "TopologyRefinedGraphConv", "GraphConvUnit", "GCNBlock", "PointwiseConv", "grouped_pointwise",
           "make_activation", "temporal_max_pool"]
