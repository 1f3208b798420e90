"""pyskl's ST-GCN family (Duan et al., "PYSKL", ACM MM 2022; ``pyskl/models/gcns/stgcn.py``), for its released
weights: the ``STGCN`` backbone with its options ``gcn_adaptive`` (``importance``, ``init``, ``offset`` or None),
``gcn_with_res``, ``tcn_type`` (``unit_tcn`` or the multi-scale ``mstcn``), ``num_stages``, ``inflate_stages``,
``down_stages`` and ``data_bn_type``. ST-GCN++ is ``gcn_adaptive="init"``, ``gcn_with_res=True``,
``tcn_type="mstcn"`` (registered as ``stgcnpp``).

The layers follow pyskl's arithmetic exactly, in bharnet's ``(N*M, C, V, T)`` layout (pyskl: ``(N*M, C, T, V)``):

* graph convolution ``act(BN(sum_k A_k-aggregation of conv_k(x)) + down(x))`` with pyskl's aggregation
  ``out[w] = sum_v h[v] A_k[v, w]`` (the transpose of CTR-GCN's), the 1x1 convolution's output channels in
  pyskl's (subset, channel) order, ``A`` a parameter for ``init``;
* ``mstcn``: six branches (four 3-tap temporal convolutions with dilations 1-4, a 3-frame max pool, a strided
  1x1 convolution; the first branch takes the remainder of the channels), each but the last after a 1x1
  convolution, BN and ReLU; concatenation, BN, ReLU, a 1x1 convolution, BN.

The existing ``stgcn`` backbone is this project's ST-GCN (with bharnet's aggregation convention); this one exists
to run pyskl's checkpoints unchanged (``bharnet convert --from pyskl``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ...graphs import Layout
from ..layers import ConvBN, InputNorm
from .base import BlockSpec, GCNBackbone, register_backbone

__all__ = ["PysklGraphConv", "PysklMSTCN", "PysklTCN", "PysklBlock", "pyskl_plan", "ADAPTIVE"]

ADAPTIVE = ("importance", "init", "offset", None)


class PysklGraphConv(nn.Module):
    """pyskl's ``unit_gcn`` (``conv_pos='pre'``). Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T)``."""

    def __init__(self, in_channels: int, out_channels: int, A: Tensor, adaptive: str | None = "importance",
                 with_res: bool = False) -> None:
        super().__init__()
        if adaptive not in ADAPTIVE:
            raise ValueError(f"gcn_adaptive must be one of {ADAPTIVE}, got {adaptive!r}")
        self.adaptive, self.num_subsets = adaptive, A.shape[0]
        if adaptive == "init":
            self.A = nn.Parameter(A.clone())
        else:
            self.register_buffer("A", A.clone())
        if adaptive == "importance":
            self.PA = nn.Parameter(torch.ones_like(A))
        elif adaptive == "offset":
            self.PA = nn.Parameter(torch.empty_like(A).uniform_(-1e-6, 1e-6))
        self.conv = nn.Conv2d(in_channels, out_channels * self.num_subsets, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.with_res = with_res
        if with_res:
            self.down = ConvBN(in_channels, out_channels) if in_channels != out_channels else nn.Identity()

    def adjacency(self) -> Tensor:
        if self.adaptive == "importance":
            return self.A * self.PA
        if self.adaptive == "offset":
            return self.A + self.PA
        return self.A

    def forward(self, x: Tensor) -> Tensor:
        b, _, v, t = x.shape
        h = self.conv(x).view(b, self.num_subsets, -1, v, t)
        y = self.bn(torch.einsum("bkcvt,kvw->bcwt", h, self.adjacency()))
        if self.with_res:
            y = y + self.down(x)
        return torch.relu(y)


def _temporal_conv(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """pyskl's ``(k, 1)`` temporal convolution on ``(B, C, V, T)``: kernel ``(1, k)``, same padding rule."""
    pad = (kernel + (kernel - 1) * (dilation - 1) - 1) // 2
    return nn.Conv2d(cin, cout, (1, kernel), padding=(0, pad), stride=(1, stride), dilation=(1, dilation))


class PysklTCN(nn.Module):
    """pyskl's ``unit_tcn``: one temporal convolution (+ BN unless ``norm=False``).
    Shapes: ``(B, C, V, T) -> (B, C', V, T')``."""

    def __init__(self, cin: int, cout: int, kernel: int = 9, stride: int = 1, dilation: int = 1, norm: bool = True
                 ) -> None:
        super().__init__()
        self.conv = _temporal_conv(cin, cout, kernel, stride, dilation)
        self.bn = nn.BatchNorm2d(cout) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class PysklMSTCN(nn.Module):
    """pyskl's ``mstcn`` with its default ``ms_cfg``. Shapes: ``(B, C, V, T) -> (B, C_out, V, ceil(T / stride))``."""

    DILATIONS = (1, 2, 3, 4)

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        branches = len(self.DILATIONS) + 2
        mid = out_channels // branches
        first = out_channels - mid * (branches - 1)  # the first branch takes the remainder
        widths = [first] + [mid] * (branches - 1)
        modules: list[nn.Module] = []
        for d, c in zip(self.DILATIONS, widths):
            modules.append(nn.Sequential(nn.Conv2d(in_channels, c, 1), nn.BatchNorm2d(c), nn.ReLU(),
                                         PysklTCN(c, c, 3, stride, d, norm=False)))
        c = widths[len(self.DILATIONS)]
        modules.append(nn.Sequential(nn.Conv2d(in_channels, c, 1), nn.BatchNorm2d(c), nn.ReLU(),
                                     nn.MaxPool2d((1, 3), stride=(1, stride), padding=(0, 1))))
        modules.append(nn.Conv2d(in_channels, widths[-1], 1, stride=(1, stride)))
        self.branches = nn.ModuleList(modules)
        total = sum(widths)
        self.transform = nn.Sequential(nn.BatchNorm2d(total), nn.ReLU(), nn.Conv2d(total, out_channels, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.transform(torch.cat([branch(x) for branch in self.branches], 1)))


class PysklBlock(nn.Module):
    """pyskl's ``STGCNBlock``: ``relu(tcn(gcn(x)) + residual(x))``."""

    def __init__(self, spec: BlockSpec, A: Tensor, adaptive: str | None, with_res: bool, tcn_type: str) -> None:
        super().__init__()
        self.gcn = PysklGraphConv(spec.in_channels, spec.out_channels, A, adaptive, with_res)
        if tcn_type == "mstcn":
            self.tcn: nn.Module = PysklMSTCN(spec.out_channels, spec.out_channels, spec.stride)
        elif tcn_type == "unit_tcn":
            self.tcn = PysklTCN(spec.out_channels, spec.out_channels, 9, spec.stride)
        else:
            raise ValueError(f"tcn_type must be 'unit_tcn' or 'mstcn', got {tcn_type!r}")
        self.has_residual = spec.residual
        if spec.residual and (spec.in_channels != spec.out_channels or spec.stride != 1):
            self.residual: nn.Module = ConvBN(spec.in_channels, spec.out_channels, stride=spec.stride)
        else:
            self.residual = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x))
        return torch.relu(y + self.residual(x) if self.has_residual else y)


def pyskl_plan(in_channels: int, base_channels: int, num_frames: int, num_stages: int = 10,
               inflate_stages: tuple[int, ...] = (5, 8), down_stages: tuple[int, ...] = (5, 8), ch_ratio: int = 2
               ) -> list[BlockSpec]:
    """pyskl's stage rule: a first block ``in -> base`` without residual (only when the widths differ), then
    stages 2..num_stages (1-based) with stride 2 at ``down_stages`` and the width times ``ch_ratio`` at
    ``inflate_stages``."""
    plan, t, width = [], num_frames, base_channels
    if in_channels != base_channels:
        plan.append(BlockSpec(in_channels, base_channels, 1, False, t))
    inflations = 0
    for stage in range(2, num_stages + 1):
        stride = 2 if stage in down_stages else 1
        inflations += stage in inflate_stages
        out = int(base_channels * ch_ratio ** inflations + 1e-4)
        plan.append(BlockSpec(width, out, stride, True, t))
        width, t = out, (t - 1) // stride + 1
    return plan


def _build(layout: Layout, in_channels: int, num_persons: int, num_frames: int, base_channels: int,
           gcn_adaptive: str | None, gcn_with_res: bool, tcn_type: str, num_stages: int,
           inflate_stages: tuple[int, ...], down_stages: tuple[int, ...], data_bn: str) -> GCNBackbone:
    A = torch.from_numpy(layout.adjacency("spatial"))
    plan = pyskl_plan(in_channels, base_channels, num_frames, num_stages, tuple(inflate_stages), tuple(down_stages))
    norm = InputNorm(in_channels, layout.num_joints, num_persons, data_bn)
    blocks = [PysklBlock(s, A, gcn_adaptive, gcn_with_res, tcn_type) for s in plan]
    return GCNBackbone(layout, norm, blocks, plan[-1].out_channels, num_frames)


@register_backbone("pyskl_stgcn")
def pyskl_stgcn(layout: Layout, in_channels: int = 3, num_persons: int = 2, num_frames: int = 64,
                base_channels: int = 64, gcn_adaptive: str | None = "importance", gcn_with_res: bool = False,
                tcn_type: str = "unit_tcn", num_stages: int = 10, inflate_stages: tuple[int, ...] = (5, 8),
                down_stages: tuple[int, ...] = (5, 8), data_bn: str = "VC") -> GCNBackbone:
    """pyskl's ``STGCN`` with its defaults (ST-GCN with learnable edge importance)."""
    return _build(layout, in_channels, num_persons, num_frames, base_channels, gcn_adaptive, gcn_with_res, tcn_type,
                  num_stages, inflate_stages, down_stages, data_bn)


@register_backbone("stgcnpp")
def stgcnpp(layout: Layout, in_channels: int = 3, num_persons: int = 2, num_frames: int = 64,
            base_channels: int = 64, num_stages: int = 10, inflate_stages: tuple[int, ...] = (5, 8),
            down_stages: tuple[int, ...] = (5, 8), data_bn: str = "VC") -> GCNBackbone:
    """ST-GCN++: pyskl's ``STGCN`` with ``gcn_adaptive='init'``, ``gcn_with_res=True``, ``tcn_type='mstcn'``."""
    return _build(layout, in_channels, num_persons, num_frames, base_channels, "init", True, "mstcn", num_stages,
                  inflate_stages, down_stages, data_bn)
