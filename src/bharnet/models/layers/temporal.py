"""Temporal modelling on ``(B, C, V, T)``: the plain temporal convolution, DeGCN's deformable one, the
three-frame max pool with a fast backward, and the multi-scale temporal module of CTR-GCN and DeGCN."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import ConvBN
from .core import Cost, exporting, fold_affine, folded_batch_norm, make_activation

__all__ = ["TemporalConv", "DeformableTemporalConv", "temporal_max_pool", "MultiScaleTemporal"]


class TemporalConv(ConvBN):
    """A ``(1, k)`` temporal convolution with dilation and stride, then BN (CTR-GCN, ST-GCN)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1) -> None:
        super().__init__(in_channels, out_channels, (1, kernel_size), stride=stride, dilation=dilation)


class DeformableTemporalConv(nn.Module):
    """DeGCN's deformable temporal graph convolution (``DeTGC``), exactly, without a gather.

    The released layer samples ``eta`` time points ``t0 + offset_k`` around every output position
    ``t0 = 0, s, 2s, ...`` by linear interpolation between the two neighbouring frames (indices
    clamped to the sequence), then mixes the ``eta`` samples with a ``Conv3d(C, C, (eta, 1, 1))``
    and a BatchNorm. Because the learnable offsets are shared by all samples, channels and joints,
    the whole layer is one temporal convolution whose kernel is the Conv3d weight spread over the
    integer taps ``floor(offset_k)`` and ``floor(offset_k) + 1`` with the interpolation weights,
    applied to the sequence padded by edge replication (which is what index clamping does). The
    taps follow the offsets as they learn; gradients reach the offsets through the interpolation
    weights only, as in the released code.

    ``num_frames`` is the nominal input length. The released code clamps indices to
    ``num_frames - 1`` whatever the input length; here they are clamped to the input's own
    length, which is the same for ``T == num_frames`` and correct for other lengths.

    Parameters keep the released layout (``offsets`` = ``tr``; ``weight`` ``(C_out, C_in, eta)``).
    Shapes: ``(B, C, V, T) -> (B, C_out, V, ceil(T / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, dilation: int = 1,
                 stride: int = 1, eta: int = 4, num_frames: int = 64) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride, self.eta = in_channels, out_channels, stride, eta
        self.num_frames = num_frames
        reach = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.offsets = nn.Parameter(torch.linspace(-reach, reach, eta))
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, eta))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.kaiming_normal_(self.weight.view(out_channels, in_channels, eta, 1, 1), a=0.1, mode="fan_out",
                                nonlinearity="leaky_relu")

    def tap_weights(self, length: int) -> tuple[Tensor, int]:
        """The equivalent temporal kernel ``(C_out, C_in, 1, K)`` for inputs of ``length`` frames and
        the offset of its first tap."""
        if not torch.isfinite(self.offsets).all():
            raise FloatingPointError(f"deformable temporal offsets are not finite ({self.offsets.tolist()}): "
                                     f"training has diverged")
        # beyond one sequence length every sampling position clamps to an end frame whatever the
        # offset (and its gradient is zero), so clamping keeps the kernel bounded and exact
        offsets = self.offsets.clamp(-length, length)
        floor = offsets.detach().floor()
        frac = offsets - floor
        first = int(floor.min())
        k = int(floor.max()) + 2 - first
        idx = (floor - first).long()
        interp = torch.zeros(self.eta, k, dtype=self.weight.dtype, device=self.weight.device)
        rows = torch.arange(self.eta, device=idx.device)
        interp = interp.index_put((rows, idx), 1 - frac.to(interp.dtype), accumulate=True)
        interp = interp.index_put((rows, idx + 1), frac.to(interp.dtype), accumulate=True)
        kernel = (self.weight.flatten(0, 1) @ interp).view(self.out_channels, self.in_channels, 1, k)
        return kernel, first

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[-1]
        t_out = (t - 1) // self.stride + 1
        kernel, first = self.tap_weights(t)
        k = kernel.shape[-1]
        last = (t_out - 1) * self.stride + first + k - 1  # last input index the taps touch
        pad_left, pad_right = max(0, -first), max(0, last - (t - 1))
        if pad_left or pad_right:
            x = F.pad(x, (pad_left, pad_right, 0, 0), mode="replicate")
        start = first + pad_left
        if start:
            x = x[..., start:]
        affine = folded_batch_norm(self.bn)
        if affine is None:
            return self.bn(F.conv2d(x, kernel, self.bias, stride=(1, self.stride))[..., :t_out])
        kernel, bias = fold_affine(kernel, self.bias, affine)
        return F.conv2d(x, kernel, bias, stride=(1, self.stride))[..., :t_out]

    def cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> Cost:
        # the released layer: Conv3d(C, C, (eta, 1, 1)) on (B, C, eta, T_out, V), then BatchNorm3d
        macs = output.numel() * self.in_channels * self.eta
        bn = 4 * output.numel()
        return Cost(paper_macs=macs + bn, full_macs=macs,
                    paper_params=self.weight.numel() + self.bias.numel() + 2 * self.out_channels)


class _TemporalMaxPool(torch.autograd.Function):
    """``F.max_pool2d(x, (1, 3), (1, stride), (0, 1))`` on ``(B, C, V, T)`` with the same values and
    gradients (ties go to the earliest frame of the window, as in max pooling), but computed by the
    one-dimensional pooling kernel and a mask-based backward. The two-dimensional kernel with
    indices runs at a tenth of the speed on these narrow windows."""

    @staticmethod
    def forward(ctx, x: Tensor, stride: int) -> Tensor:  # type: ignore[override]
        y = _max_pool_frames(x, stride)
        ctx.save_for_backward(x, y)
        ctx.stride = stride
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        x, y = ctx.saved_tensors
        s, t, t_out = ctx.stride, x.shape[-1], y.shape[-1]
        gx = torch.zeros_like(x)
        taken = torch.zeros_like(y, dtype=torch.bool)
        # window j holds frames s*j - 1, s*j, s*j + 1 (those inside the sequence), in that order
        for shift in (-1, 0, 1):
            first = 1 if shift < 0 else 0  # window 0 has no previous frame
            last = min(t_out, (t - 1 - shift) // s + 1)  # windows whose frame s*j + shift exists
            if last <= first:
                continue
            frames = slice(s * first + shift, s * (last - 1) + shift + 1, s)
            win = slice(first, last)
            hit = (x[..., frames] == y[..., win]) & ~taken[..., win] if shift < 1 else ~taken[..., win]
            taken[..., win] |= hit
            gx[..., frames] += grad[..., win] * hit
        return gx, None


def temporal_max_pool(x: Tensor, stride: int = 1) -> Tensor:
    """Max over frames ``(t-1, t, t+1)`` (the sequence padded with -inf), every ``stride``-th frame.

    Shapes: ``(B, C, V, T) -> (B, C, V, (T - 1) // stride + 1)``.
    """
    if torch.is_grad_enabled() and x.requires_grad and not exporting():
        return _TemporalMaxPool.apply(x, stride)
    return _max_pool_frames(x, stride)


def _max_pool_frames(x: Tensor, stride: int) -> Tensor:
    b, c, v, t = x.shape
    return F.max_pool1d(x.reshape(b, c * v, t), 3, stride, 1).view(b, c, v, -1)


class MultiScaleTemporal(nn.Module):
    """Four-branch multi-scale temporal module of CTR-GCN and DeGCN.

    Branches of ``C/4`` channels each, concatenated: (1) 1x1 conv-BN-act then a temporal
    operator with dilation 1, (2) the same with dilation 2, (3) 1x1 conv-BN-act, max-pool over 3
    frames, BN, (4) strided 1x1 conv-BN. ``temporal="deformable"`` uses :class:`DeformableTemporalConv`
    (DeGCN), ``temporal="conv"`` a 5-tap dilated :class:`TemporalConv` (CTR-GCN). The 1x1
    projections of branches 1-3 are one convolution (the same arithmetic, one call).

    Shapes: ``(B, C, V, T) -> (B, C, V, ceil(T / stride))``.
    """

    def __init__(self, channels: int, stride: int = 1, temporal: str = "deformable", act: str = "leaky_relu",
                 eta: int = 4, num_frames: int = 64, kernel_size: int = 5, dilations: tuple[int, int] = (1, 2)
                 ) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError(f"multi-scale temporal module needs channels divisible by 4, got {channels}")
        c = channels // 4
        self.branch_channels, self.stride = c, stride
        self.proj = ConvBN(channels, 3 * c)
        self.act = make_activation(act)
        if temporal == "deformable":
            self.temporal = nn.ModuleList(
                DeformableTemporalConv(c, c, kernel_size, d, stride, eta, num_frames) for d in dilations)
        elif temporal == "conv":
            self.temporal = nn.ModuleList(TemporalConv(c, c, kernel_size, stride, d) for d in dilations)
        else:
            raise ValueError(f"temporal must be 'deformable' or 'conv', got {temporal!r}")
        self.pool_bn = nn.BatchNorm2d(c)
        self.strided = ConvBN(channels, c, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        c = self.branch_channels
        h = self.act(self.proj(x))
        # one split (its backward is one concatenation) rather than slices (each backward fills a
        # zero tensor of h's size, and the three are then summed)
        *parts, to_pool = h.split(c, 1)
        outs = [op(part) for part, op in zip(parts, self.temporal)]
        pooled = temporal_max_pool(to_pool, self.stride)
        outs += [self.pool_bn(pooled), self.strided(x)]
        return torch.cat(outs, 1)
