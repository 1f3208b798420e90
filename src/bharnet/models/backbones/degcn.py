"""DeGCN as released (WoominM/DeGCN_pytorch): the backbone of BHaRNet's experts.

Ten blocks ``act(TM(y) + R2(x))`` with ``y = act(GC(x) + R1(x))``; LeakyReLU(0.1) throughout.
GC is a static-adjacency graph convolution in block 0 and a 4-group CTR-GC elsewhere; TM is the
four-branch multi-scale temporal module whose two dilated branches are deformable temporal
convolutions (learnable sampling offsets, ``eta=4`` points). The release replaces the paper's
deformable *spatial* module (not published) by the CTR-GC; this is what BHaRNet builds on, and
what the paper's costs (0.83 GFLOPs / 0.69 M per expert) measure.
"""
from __future__ import annotations

import torch

from ...graphs import Layout
from ..layers import (
    ConvBN,
    GCNBlock,
    GraphConvUnit,
    Identity,
    InputNorm,
    MultiScaleTemporal,
    StaticGraphConv,
    TopologyRefinedGraphConv,
)
from ..layers.core import kaiming_init
from .base import BlockSpec, GCNBackbone, block_residual, register_backbone, trunk_plan

GROUPS = 4


def degcn_block(spec: BlockSpec, A: torch.Tensor, eta: int = 4, first: bool = False) -> GCNBlock:
    cin, cout = spec.in_channels, spec.out_channels
    groups = 1 if first else GROUPS
    conv = (StaticGraphConv(cin, cout, A, adjacency="learnable") if first
            else TopologyRefinedGraphConv(cin, cout, A, groups=GROUPS))
    down = Identity() if cin == cout else ConvBN(cin, cout, groups=groups)
    spatial = GraphConvUnit(conv, cout, down, act="leaky_relu")
    temporal = MultiScaleTemporal(cout, spec.stride, "deformable", "leaky_relu", eta=eta, num_frames=spec.num_frames)
    residual = block_residual(spec, groups)
    block = GCNBlock(spatial, temporal, residual, act="leaky_relu")
    kaiming_init(block)
    return block


@register_backbone("degcn")
def degcn(layout: Layout, in_channels: int = 3, num_persons: int = 2, num_frames: int = 64,
          base_channels: int = 64, eta: int = 4, data_bn: str = "MVC") -> GCNBackbone:
    """DeGCN trunk (single stream). Block 0 always uses the static graph convolution (the
    release selects it by ``in_channels == 3``; here it is the stem for any input width)."""
    A = torch.from_numpy(layout.adjacency("spatial"))
    plan = trunk_plan(in_channels, base_channels, num_frames)
    blocks = [degcn_block(spec, A, eta, first=(i == 0)) for i, spec in enumerate(plan)]
    norm = InputNorm(in_channels, layout.num_joints, num_persons, data_bn)
    return GCNBackbone(layout, norm, blocks, plan[-1].out_channels, num_frames)
