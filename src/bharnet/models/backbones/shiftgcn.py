"""Shift-GCN (Cheng et al., CVPR 2020) as released (kchengiva/Shift-GCN, ``model/shift_gcn.py``), in plain PyTorch.

Blocks ``relu(tcn(gcn(x)) + residual(x))`` on the ten-block trunk of ST-GCN (64, 64, 64, 64, 128/2, 128, 128,
256/2, 256, 256 channels / temporal stride):

* ``gcn`` (:class:`ShiftGraphConv`): the non-local spatial shift: channel ``j`` of joint ``i`` is read from joint
  ``(i + j) mod V``, a learnable per-(joint, channel) feature mask ``tanh(m) + 1``, a shared linear map, the
  inverse shift ``(i - j) mod V``, one batch norm per (joint, channel), a residual (1x1 conv + BN where the width
  changes), ReLU. The adjacency matrix plays no part.
* ``tcn`` (:class:`ShiftTemporalConv`): BN, a learnable temporal shift, a 1x1 conv, ReLU, a second (strided)
  temporal shift, BN.

The learnable temporal shift (:class:`TemporalShift`) is the release's CUDA extension
(``model/Temporal_shift/cuda``) rewritten with gathers, so that it runs on CPU, GPU and in ONNX: per channel
``c``, output frame ``t`` samples the input bilinearly at time ``t * stride + y_c`` (``+ 0.5`` when the stride is
not 1) and joint ``v + x_c``, zero outside the sequence; ``T_out = T // stride``. Its gradients are those of the
release: the input's is the exact transpose, but the release replaces the positions' gradients by a constant
step: ``0`` for ``x`` (it never moves from its initial ``U(-1e-8, 1e-8)``) and ``0.01 * sign(g_y)`` for ``y``
(``1e-4`` where ``g_y`` is exactly zero). ``position_gradient="true"`` gives the true derivative instead.

Inside the trunk the layout is ``(N*M, C, V, T)`` as for every bharnet backbone; the release's ``(N*M, C, T, V)``
transposed. Input length: every strided block halves T by integer division (the release's rule), and its
residual convolution must agree, so T must be a multiple of 4 (Shift-GCN uses 300 frames).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ...graphs import Layout
from ..layers import ConvBN, Identity, InputNorm, Zero
from .base import BlockSpec, GCNBackbone, block_residual, register_backbone, trunk_plan

__all__ = ["TemporalShift", "ShiftGraphConv", "ShiftTemporalConv", "ShiftGCNBlock", "shift_1d", "joint_shift",
           "POSITION_GRADIENTS"]

POSITION_GRADIENTS = ("release", "true")


def shift_1d(x: Tensor, position: Tensor, dim: int, stride: int = 1) -> Tensor:
    """Per-channel shift of ``x`` ``(B, C, V, T)`` along ``dim`` (2: joints, 3: time) by ``position`` ``(C,)``
    with linear interpolation and zeros outside: ``out[..., k] = x[k * stride + position_c]`` (interpolated).
    The output has ``size // stride`` entries along ``dim``."""
    size = x.shape[dim]
    out_size = size // stride
    low = torch.floor(position)
    frac = position - low  # (C,): weight of the upper tap
    # taps k * stride + low (+ 1), shifted by one for the zero row padded in front, clamped onto the zero rows
    base = torch.arange(out_size, device=x.device, dtype=position.dtype) * stride + 1
    tap = base[None, :] + low[:, None]  # (C, out_size)
    first, second = tap.clamp(0, size + 1).long(), (tap + 1).clamp(0, size + 1).long()
    pad = [0, 0, 0, 0]
    pad[2 * (3 - dim)] = pad[2 * (3 - dim) + 1] = 1  # F.pad's order: last dimension first
    padded = nn.functional.pad(x, pad)
    shape = [1, x.shape[1], 1, 1]
    shape[dim] = out_size
    expand = list(x.shape)
    expand[dim] = out_size
    w = frac.view(1, -1, 1, 1)
    low_tap = padded.gather(dim, first.view(shape).expand(expand))
    high_tap = padded.gather(dim, second.view(shape).expand(expand))
    return low_tap * (1 - w) + high_tap * w


class _ReleasePositionGradient(torch.autograd.Function):
    """Identity forward; backward replaces a position gradient by the release's constant step."""

    @staticmethod
    def forward(ctx, position: Tensor, step: float) -> Tensor:  # type: ignore[override]
        ctx.step = step
        return position.view_as(position)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        if ctx.step == 0.0:
            return torch.zeros_like(grad), None
        return torch.where(grad != 0, torch.sign(grad) * ctx.step, torch.full_like(grad, 1e-4)), None


class TemporalShift(nn.Module):
    """The release's learnable shift (``Shift``): per-channel real-valued offsets ``xpos`` (joints) and
    ``ypos`` (time), bilinear sampling, zeros outside. Shapes: ``(B, C, V, T) -> (B, C, V, T // stride)``."""

    def __init__(self, channels: int, stride: int = 1, init_scale: float = 1.0,
                 position_gradient: str = "release") -> None:
        super().__init__()
        if position_gradient not in POSITION_GRADIENTS:
            raise ValueError(f"position_gradient must be one of {POSITION_GRADIENTS}, got {position_gradient!r}")
        self.stride, self.position_gradient = stride, position_gradient
        self.xpos = nn.Parameter(torch.empty(channels).uniform_(-1e-8, 1e-8))
        self.ypos = nn.Parameter(torch.empty(channels).uniform_(-init_scale, init_scale))

    def forward(self, x: Tensor) -> Tensor:
        xpos, ypos = self.xpos, self.ypos
        if self.position_gradient == "release" and torch.is_grad_enabled() and self.xpos.requires_grad:
            xpos = _ReleasePositionGradient.apply(xpos, 0.0)
            ypos = _ReleasePositionGradient.apply(ypos, 0.01)
        if self.stride != 1:
            ypos = ypos + 0.5
        return shift_1d(shift_1d(x, ypos, 3, self.stride), xpos, 2)  # bilinear = separable, zeros outside


def joint_shift(channels: int, joints: int, sign: int) -> Tensor:
    """``(C, V)`` gather index: channel ``j`` of joint ``i`` reads joint ``(i + sign * j) mod V``."""
    i, j = torch.arange(joints)[None, :], torch.arange(channels)[:, None]
    return (i + sign * j) % joints


class ShiftGraphConv(nn.Module):
    """The release's ``Shift_gcn``: shift in, feature mask, shared linear map, shift out, BN per (channel, joint),
    residual, ReLU. Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T)``.

    Parameters keep the release's shapes: ``weight`` ``(C_in, C_out)``, ``bias`` ``(C_out,)``, ``feature_mask``
    ``(V, C_in)``; ``bn`` is ``BatchNorm1d(C_out * V)`` in (channel, joint) order (the release's is joint-major).
    """

    def __init__(self, in_channels: int, out_channels: int, num_joints: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels).normal_(0, math.sqrt(1.0 / out_channels)))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.feature_mask = nn.Parameter(torch.zeros(num_joints, in_channels))
        self.bn = nn.BatchNorm1d(out_channels * num_joints)
        self.down = ConvBN(in_channels, out_channels) if in_channels != out_channels else Identity()
        if isinstance(self.down, ConvBN):
            nn.init.kaiming_normal_(self.down[0].weight, mode="fan_out")
            nn.init.zeros_(self.down[0].bias)
        self.register_buffer("shift_in", joint_shift(in_channels, num_joints, 1), persistent=False)
        self.register_buffer("shift_out", joint_shift(out_channels, num_joints, -1), persistent=False)

    def forward(self, x0: Tensor) -> Tensor:
        b, c, v, t = x0.shape
        x = x0.gather(2, self.shift_in.view(1, c, v, 1).expand(b, c, v, t))
        x = x * (torch.tanh(self.feature_mask).t() + 1).view(1, c, v, 1)
        x = torch.einsum("bcvt,cd->bdvt", x, self.weight) + self.bias.view(1, -1, 1, 1)
        d = x.shape[1]
        x = x.gather(2, self.shift_out.view(1, d, v, 1).expand(b, d, v, t))
        x = self.bn(x.reshape(b, d * v, t)).view(b, d, v, t)
        return torch.relu(x + self.down(x0))


class ShiftTemporalConv(nn.Module):
    """The release's ``Shift_tcn``: BN, shift, 1x1 conv, ReLU, (strided) shift, BN.
    Shapes: ``(B, C, V, T) -> (B, C_out, V, T // stride)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, position_gradient: str = "release"
                 ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.shift_in = TemporalShift(in_channels, 1, position_gradient=position_gradient)
        self.temporal_linear = nn.Conv2d(in_channels, out_channels, 1)
        nn.init.kaiming_normal_(self.temporal_linear.weight, mode="fan_out")
        self.shift_out = TemporalShift(out_channels, stride, position_gradient=position_gradient)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.temporal_linear(self.shift_in(self.bn(x))))
        return self.bn2(self.shift_out(x))


class ShiftGCNBlock(nn.Module):
    """``relu(tcn(gcn(x)) + residual(x))`` (the release's ``TCN_GCN_unit``)."""

    def __init__(self, spec: BlockSpec, num_joints: int, position_gradient: str = "release") -> None:
        super().__init__()
        self.gcn = ShiftGraphConv(spec.in_channels, spec.out_channels, num_joints)
        self.tcn = ShiftTemporalConv(spec.out_channels, spec.out_channels, spec.stride, position_gradient)
        self.residual = block_residual(spec)
        if isinstance(self.residual, ConvBN):
            nn.init.kaiming_normal_(self.residual[0].weight, mode="fan_out")
            nn.init.zeros_(self.residual[0].bias)

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x))
        if isinstance(self.residual, Zero):
            return torch.relu(y)
        return torch.relu(y + self.residual(x))


@register_backbone("shiftgcn")
def shiftgcn(layout: Layout, in_channels: int = 3, num_persons: int = 2, num_frames: int = 64,
             base_channels: int = 64, position_gradient: str = "release") -> GCNBackbone:
    """Shift-GCN's trunk on any layout (the spatial shift needs only the joint count V)."""
    if num_frames % 4:
        raise ValueError(f"shiftgcn: num_frames must be a multiple of 4 (two strided blocks halve it), "
                         f"got {num_frames}")
    plan = trunk_plan(in_channels, base_channels, num_frames)
    norm = InputNorm(in_channels, layout.num_joints, num_persons, "MVC")
    blocks = [ShiftGCNBlock(s, layout.num_joints, position_gradient) for s in plan]
    return GCNBackbone(layout, norm, blocks, plan[-1].out_channels, num_frames)
