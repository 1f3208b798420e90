"""CTR-GCN (Chen et al., ICCV 2021; Uason-Chen/CTR-GCN), one stream.

Blocks ``relu(MSTCN(unit_gcn(x)) + residual(x))``; ``unit_gcn`` sums three channel-wise
topology refinement convolutions (one per subset, no channel groups, ``C_in/8`` relation
channels), then BN (initialised to 1e-6), a residual projection and ReLU; the temporal module
has two dilated 5-tap convolutions, a max-pool and a strided 1x1 branch.
"""
from __future__ import annotations

import torch
from torch import nn

from ...graphs import Layout
from ..layers import (
    ConvBN,
    GCNBlock,
    GraphConvUnit,
    Identity,
    InputNorm,
    MultiScaleTemporal,
    TopologyRefinedGraphConv,
)
from ..layers.core import kaiming_init
from .base import BlockSpec, GCNBackbone, block_residual, register_backbone, trunk_plan


def ctrgcn_block(spec: BlockSpec, A: torch.Tensor) -> GCNBlock:
    cin, cout = spec.in_channels, spec.out_channels
    conv = TopologyRefinedGraphConv(cin, cout, A, groups=1)
    down = Identity() if cin == cout else ConvBN(cin, cout)
    spatial = GraphConvUnit(conv, cout, down, act="relu")
    temporal = MultiScaleTemporal(cout, spec.stride, "conv", "relu")
    residual = block_residual(spec)
    block = GCNBlock(spatial, temporal, residual, act="relu")
    kaiming_init(block, nonlinearity="relu", a=0.0)
    nn.init.constant_(spatial.bn.weight, 1e-6)  # CTR-GCN starts each graph convolution near zero
    return block


@register_backbone("ctrgcn")
def ctrgcn(layout: Layout, in_channels: int = 3, num_persons: int = 2, num_frames: int = 64,
           base_channels: int = 64, data_bn: str = "MVC") -> GCNBackbone:
    A = torch.from_numpy(layout.adjacency("spatial"))
    plan = trunk_plan(in_channels, base_channels, num_frames)
    norm = InputNorm(in_channels, layout.num_joints, num_persons, data_bn)
    return GCNBackbone(layout, norm, [ctrgcn_block(s, A) for s in plan], plan[-1].out_channels, num_frames)
