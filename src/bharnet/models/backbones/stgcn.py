"""ST-GCN (Yan et al., AAAI 2018) as configured in pyskl, with learnable edge importance.

Blocks ``relu(tcn(gcn(x)) + residual(x))``: ``gcn`` = 1x1 conv to 3 subsets, aggregation with the
root/centripetal/centrifugal partition times an edge-importance mask (initialised to 1), BN,
ReLU; ``tcn`` = 9-tap temporal conv + BN. Input normalisation shares statistics across
persons (pyskl ``data_bn_type='VC'``).
"""
from __future__ import annotations

import torch

from ...graphs import Layout
from ..layers import GCNBlock, GraphConvUnit, InputNorm, StaticGraphConv, TemporalConv, Zero
from .base import BlockSpec, GCNBackbone, block_residual, register_backbone, trunk_plan


def stgcn_block(spec: BlockSpec, A: torch.Tensor, temporal_kernel: int = 9) -> GCNBlock:
    cin, cout = spec.in_channels, spec.out_channels
    spatial = GraphConvUnit(StaticGraphConv(cin, cout, A, adjacency="importance"), cout, Zero(), act="relu")
    temporal = TemporalConv(cout, cout, temporal_kernel, spec.stride)
    residual = block_residual(spec)
    return GCNBlock(spatial, temporal, residual, act="relu")


@register_backbone("stgcn")
def stgcn(layout: Layout, in_channels: int = 3, num_persons: int = 2, num_frames: int = 64,
          base_channels: int = 64, temporal_kernel: int = 9, data_bn: str = "VC",
          exact_center_distance: bool = False) -> GCNBackbone:
    A = torch.from_numpy(layout.adjacency("stgcn_spatial", exact_center_distance=exact_center_distance))
    plan = trunk_plan(in_channels, base_channels, num_frames)
    norm = InputNorm(in_channels, layout.num_joints, num_persons, data_bn)
    blocks = [stgcn_block(s, A, temporal_kernel) for s in plan]
    return GCNBackbone(layout, norm, blocks, plan[-1].out_channels, num_frames)
