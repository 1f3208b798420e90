"""Building blocks shared by every graph-convolution backbone.

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

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = ["Cost", "batch_norm_folding", "folded_batch_norm", "fold_affine", "InputNorm", "ConvBN", "Zero", "Identity",
           "TemporalConv", "DeformableTemporalConv", "MultiScaleTemporal", "StaticGraphConv",
           "TopologyRefinedGraphConv", "GraphConvUnit", "GCNBlock", "PointwiseConv", "grouped_pointwise",
           "make_activation", "temporal_max_pool"]


@dataclass
class Cost:
    """Multiply-accumulates and parameters of one module call.

    ``paper_macs`` / ``paper_params``: thop 0.1.1 convention (conv/linear/norm layers only).
    ``full_macs``: every multiply-add of conv, linear and matrix products (no norm/elementwise).
    """

    paper_macs: float = 0.0
    full_macs: float = 0.0
    paper_params: int = 0


def make_activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.1, inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected 'relu' or 'leaky_relu'")


_FOLD_BATCH_NORM: ContextVar[bool] = ContextVar("bharnet_fold_batch_norm", default=True)


@contextmanager
def batch_norm_folding(enabled: bool) -> Iterator[None]:
    """Switch the folding of eval-mode batch norms into the preceding layer on or off.

    In eval mode a BatchNorm is a per-channel affine map, so the layers before it (1x1 and
    temporal convolutions, graph convolutions) fold it into their weights for that call: one pass
    over the activations fewer per norm, the same result up to float rounding. The profiler turns
    it off, so that the norm layers are priced as the paper prices them.
    """
    token = _FOLD_BATCH_NORM.set(enabled)
    try:
        yield
    finally:
        _FOLD_BATCH_NORM.reset(token)


def folded_batch_norm(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor] | None:
    """``(scale, shift)`` with ``bn(y) == y * scale + shift`` per channel, when ``bn`` is in eval mode
    with running statistics and folding is on; else None."""
    if bn.training or not bn.track_running_stats or not _FOLD_BATCH_NORM.get():
        return None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def fold_affine(weight: Tensor, bias: Tensor | None, affine: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Weight and bias of ``layer(x) * scale + shift`` for a layer linear in its output rows
    (``weight``: ``(C_out, ...)``, ``bias``: ``(C_out,)`` or None)."""
    scale, shift = affine
    weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    return weight, shift if bias is None else bias * scale + shift


class Zero(nn.Module):
    """A residual branch that is switched off."""

    def forward(self, x: Tensor) -> float:
        return 0.0


class Identity(nn.Identity):
    pass


class PointwiseConv(nn.Conv2d):
    """A 1x1 convolution (optional temporal stride) on ``(B, C_in, V, T)``, run as batched matrix
    products (one per sample, or per sample and group).

    On CPU this is faster than oneDNN's convolution in training — several times faster for the
    narrow channel groups of DeGCN, whose grouped-convolution backward is slow. Parameters and
    arithmetic are those of ``nn.Conv2d(C_in, C_out, 1, groups=groups)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, bias: bool = True
                 ) -> None:
        super().__init__(in_channels, out_channels, 1, stride=(1, stride), groups=groups, bias=bias)

    def forward(self, x: Tensor, affine: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``affine=(scale, shift)``: return ``conv(x) * scale + shift`` per output channel, with the
        map folded into the weights (a following eval-mode batch norm)."""
        if self.stride[1] > 1:
            x = x[..., ::self.stride[1]]
        weight, bias = (self.weight, self.bias) if affine is None else fold_affine(self.weight, self.bias, affine)
        return grouped_pointwise(x, weight, bias, self.groups)

    def cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> Cost:
        macs = output.numel() * (self.in_channels // self.groups)
        return Cost(macs, macs, sum(p.numel() for p in self.parameters()))


def grouped_pointwise(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int = 1,
                      shift: Tensor | None = None) -> Tensor:
    """1x1 convolution with ``groups`` as batched matrix products.

    ``x``: ``(B, C_in, H, W)``; ``weight``: ``(C_out, C_in / groups[, 1, 1])``; ``shift``: an optional
    ``(C_out, H * W)`` term added to every sample. Returns ``(B, C_out, H, W)``.
    """
    b, cin, h, w = x.shape
    cout = weight.shape[0]
    m, k = cout // groups, cin // groups
    # torch.matmul broadcasts the weight over the batch and returns a fresh (non-view) tensor, so
    # the in-place additions below need no autograd bookkeeping copies
    y = torch.matmul(weight.reshape(1, groups, m, k), x.reshape(b, groups, k, h * w))
    if bias is not None:
        y.add_(bias.view(1, groups, m, 1))
    if shift is not None:
        y.add_(shift.view(1, groups, m, h * w))
    return y.view(b, cout, h, w)


class ConvBN(nn.Sequential):
    """``Conv2d`` followed by ``BatchNorm2d``; used for 1x1 projections and strided residuals.

    Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T_out)``; a temporal ``stride`` subsamples T.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (1, 1), stride: int = 1,
                 groups: int = 1, dilation: int = 1) -> None:
        pad = (0, (kernel[1] - 1) * dilation // 2)
        conv = (PointwiseConv(in_channels, out_channels, stride, groups) if kernel == (1, 1) else
                nn.Conv2d(in_channels, out_channels, kernel, stride=(1, stride), padding=pad, dilation=(1, dilation),
                          groups=groups))
        super().__init__(conv, nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        conv, bn = self[0], self[1]
        affine = folded_batch_norm(bn) if isinstance(conv, PointwiseConv) else None
        return conv(x, affine) if affine is not None else bn(conv(x))


class InputNorm(nn.Module):
    """The ``data_bn`` of ST-GCN descendants and the switch to the internal layout.

    ``mode="MVC"`` (CTR-GCN, DeGCN): one BatchNorm1d channel per (person, joint, coordinate).
    ``mode="VC"`` (pyskl ST-GCN): persons share statistics. ``mode="none"``: no normalisation.

    Shapes: ``(N, C, T, V, M) -> (N*M, C, V, T)``.
    """

    def __init__(self, in_channels: int, num_joints: int, num_persons: int, mode: str = "MVC") -> None:
        super().__init__()
        if mode not in ("MVC", "VC", "none"):
            raise ValueError(f"data_bn mode must be 'MVC', 'VC' or 'none', got {mode!r}")
        self.mode = mode
        self.in_channels, self.num_joints, self.num_persons = in_channels, num_joints, num_persons
        width = {"MVC": num_persons * num_joints * in_channels, "VC": num_joints * in_channels, "none": 0}[mode]
        self.bn = nn.BatchNorm1d(width) if width else None

    def forward(self, x: Tensor) -> Tensor:
        # the shape was checked once, with the layout's name, by GCNBackbone.check_input
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2)  # (N, M, V, C, T)
        if self.mode == "MVC":
            x = self.bn(x.reshape(n, m * v * c, t)).view(n, m, v, c, t)
        elif self.mode == "VC":
            x = self.bn(x.reshape(n * m, v * c, t)).view(n, m, v, c, t)
        return x.transpose(2, 3).reshape(n * m, c, v, t)


# ----------------------------------------------------------------------------- temporal modelling
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


def _exporting() -> bool:
    """True while tracing or exporting: a trace cannot hold a Python autograd Function."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def temporal_max_pool(x: Tensor, stride: int = 1) -> Tensor:
    """Max over frames ``(t-1, t, t+1)`` (the sequence padded with -inf), every ``stride``-th frame.

    Shapes: ``(B, C, V, T) -> (B, C, V, (T - 1) // stride + 1)``.
    """
    if torch.is_grad_enabled() and x.requires_grad and not _exporting():
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


# ----------------------------------------------------------------------------- graph convolution
class StaticGraphConv(nn.Module):
    """Spatial graph convolution with a fixed-shape adjacency (ST-GCN; DeGCN's first block).

    ``h = Conv1x1(x)`` to ``K * C_out`` channels, then ``out[v] = sum_k sum_u A_k[v, u] h_k[u]``.
    ``adjacency="learnable"``: A is a parameter initialised to the partition (DeGCN ``ST_GC``);
    ``"importance"``: fixed A times a learnable edge-importance mask initialised to 1 (ST-GCN);
    ``"fixed"``: a buffer.

    Both steps are linear, so they commute: with fewer input than output channels (DeGCN's stem,
    3 -> 64; ST-GCN's widening blocks) the graph is applied to the input first and the
    projection maps ``C_in * K`` aggregated channels to ``C_out``. The multiply-adds of the
    projection are the same, the aggregation runs on ``C_in`` instead of ``C_out`` channels and
    the ``K * C_out``-channel intermediate is never made; the result equals the projection-first
    order up to float rounding. Parameters keep the reference layout either way.

    Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T)``.
    """

    def __init__(self, in_channels: int, out_channels: int, A: Tensor, adjacency: str = "learnable") -> None:
        super().__init__()
        self.num_subsets, v, _ = A.shape
        self.in_channels, self.out_channels = in_channels, out_channels
        # output channels ordered (c, k) so that h views as (B, C_out, K*V, T) without a copy
        self.conv = nn.Conv2d(in_channels, out_channels * self.num_subsets, 1)
        self.adjacency = adjacency
        if adjacency == "learnable":
            self.A = nn.Parameter(A.clone())
        elif adjacency in ("importance", "fixed"):
            self.register_buffer("A", A.clone())
            if adjacency == "importance":
                self.importance = nn.Parameter(torch.ones_like(A))
        else:
            raise ValueError(f"adjacency must be 'learnable', 'importance' or 'fixed', got {adjacency!r}")

    def subsets(self) -> Tensor:
        """The effective adjacency ``(K, V, V)``."""
        return self.A * self.importance if self.adjacency == "importance" else self.A

    def graph(self) -> Tensor:
        A = self.subsets()
        return A.permute(1, 0, 2).reshape(A.shape[1], -1)  # (V, K*V)

    def forward(self, x: Tensor, affine: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``affine=(scale, shift)``: per output channel ``out * scale + shift``, folded into the
        projection (a following eval-mode batch norm)."""
        b, cin, v, t = x.shape
        c, k = self.out_channels, self.num_subsets
        weight, bias = self.conv.weight.view(c, k, cin), self.conv.bias.view(c, k)
        if affine is not None:
            weight, bias = weight * affine[0].view(c, 1, 1), bias * affine[0].view(c, 1)
        if self.in_channels < self.out_channels:
            A = self.subsets().to(x.dtype)
            # z[b, i, k] = A_k @ x[b, i]: rows (k, v) of the stacked graph, batch over (b, i)
            z = torch.bmm(A.reshape(1, k * v, v).expand(b * cin, -1, -1), x.reshape(b * cin, v, t))
            # the projection's weight W[(c, k), i] reordered to act on the (i, k) channels of z
            # the bias passes through the graph too: sum_k bias[c, k] * (row sums of A_k)[v]
            shift = bias @ A.sum(-1)  # (C_out, V)
            if affine is not None:
                shift = shift + affine[1].view(c, 1)
            # spread over the frames (C_out * V * T values, once) so that it is added to the
            # product itself, not in place to a view of it (whose backward clones the gradient)
            return grouped_pointwise(z.view(b, cin * k, v, t), weight.transpose(1, 2).reshape(c, cin * k), None,
                                     shift=shift.unsqueeze(-1).expand(c, v, t).reshape(c, v * t))
        h = F.conv2d(x, weight.view(c * k, cin, 1, 1), bias.reshape(c * k)).view(b * c, k * v, t)
        # out[b, c] = A_cat (V, K*V) @ h[b, c]: the shared matrix as a stride-0 batch, no copy
        graph = self.graph().to(h.dtype).expand(b * c, -1, -1)
        y = torch.bmm(graph, h).view(b, c, v, t)
        return y if affine is None else y.add_(affine[1].view(1, c, 1, 1))

    def cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> Cost:
        x = inputs[0]
        conv = x.shape[0] * self.conv.out_channels * x.shape[2] * x.shape[3] * self.conv.in_channels
        agg = output.numel() * self.num_subsets * x.shape[2]
        return Cost(paper_macs=conv, full_macs=conv + agg,
                    paper_params=self.conv.weight.numel() + self.conv.bias.numel())


class _ChunkedValueAggregation(torch.autograd.Function):
    """``out[b, c] = bias[b, c] + sum_s topo_s[b, c] @ (W_s x)[b, c]`` for a training step on the CPU,
    a few samples at a time, with the value tensors ``W_s x`` never stored.

    Each chunk's value tensors are made, consumed by the aggregation products and dropped while they
    are still in cache; the backward pass recomputes them chunk by chunk (one grouped 1x1
    projection per subset) instead of reading three stored activation-sized tensors back from
    memory and writing three gradients of that size. The arithmetic is that of the unchunked
    products (the same sums in the same order per sample; weight gradients are summed over chunks).

    ``x``: ``(B, C_in, V, T)``; ``w_v``: ``(S, C, C_in / groups)``; ``bias``: ``(B, C, V, 1)``;
    ``topos``: ``S`` tensors ``(B * C, V, V)``. Returns ``(B, C, V, T)``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, w_v: Tensor, bias: Tensor, groups: int, chunk: int,  # type: ignore[override]
                *topos: Tensor) -> Tensor:
        b, _, v, t = x.shape
        c = w_v.shape[1]
        out = x.new_empty(b, c, v, t)
        rows = out.view(b * c, v, t)
        for lo in range(0, b, chunk):
            hi = min(b, lo + chunk)
            part = rows[lo * c:hi * c]
            for s, topo in enumerate(topos):
                h = grouped_pointwise(x[lo:hi], w_v[s], None, groups).view(-1, v, t)
                if s == 0:
                    torch.baddbmm(bias[lo:hi].reshape(-1, v, 1), topo[lo * c:hi * c], h, out=part)
                else:
                    part.baddbmm_(topo[lo * c:hi * c], h)
        ctx.save_for_backward(x, w_v, *topos)
        ctx.groups, ctx.chunk = groups, chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, w_v, *topos = ctx.saved_tensors
        g, chunk = ctx.groups, ctx.chunk
        b, cin, v, t = x.shape
        c, k = w_v.shape[1:]
        m = c // g
        rows = grad.contiguous().view(b * c, v, t)
        grad_x = torch.empty_like(x)
        grad_w = torch.zeros_like(w_v)
        grad_bias = x.new_empty(b, c, v, 1)
        grad_topos = [torch.empty_like(topo) for topo in topos]
        # per group, the transposed projection: (S, C_in, C/G) in grouped_pointwise's layout
        w_t = w_v.view(-1, g, m, k).transpose(2, 3).reshape(-1, cin, m)
        for lo in range(0, b, chunk):
            hi = min(b, lo + chunk)
            n, gout = hi - lo, rows[lo * c:hi * c]
            xc = x[lo:hi]
            xg = xc.reshape(n, g, k, v * t)
            torch.sum(gout, -1, keepdim=True, out=grad_bias[lo:hi].view(n * c, v, 1))
            gx = grad_x[lo:hi]
            for s, topo in enumerate(topos):
                h = grouped_pointwise(xc, w_v[s], None, g).view(-1, v, t)
                torch.bmm(gout, h.mT, out=grad_topos[s][lo * c:hi * c])
                gh = torch.bmm(topo[lo * c:hi * c].mT, gout).view(n, g, m, v * t)
                grad_w[s] += torch.matmul(gh, xg.mT).sum(0).view(c, k)
                term = grouped_pointwise(gh.view(n, c, v, t), w_t[s], None, g)
                gx.copy_(term) if s == 0 else gx.add_(term)
        return (grad_x, grad_w, grad_bias, None, None, *grad_topos)


class TopologyRefinedGraphConv(nn.Module):
    """Channel-wise topology refinement graph convolution (CTR-GC), with channel groups.

    For every sample, subset ``k`` and channel group ``g`` (``groups=4`` in DeGCN, 1 in CTR-GCN):
    ``q, k = mean_T(conv_q(x)), mean_T(conv_k(x))`` (``rel`` channels per subset),
    ``W = alpha * conv_w(tanh(q[:, :, None] - k[:, None, :])) + A_k`` — one ``V x V`` topology per
    output channel — and ``out[c] = sum_k W_k[c] @ conv_v(x)_k[c]``.

    Computed subset by subset so that every operand of the per-channel products is contiguous
    (no permuted copy of the large ``(B, C, V, V)`` topology tensors), with the temporal mean taken
    before the query/key projections (they commute; T times cheaper). ``conv_v`` and ``conv_w``
    hold their output rows in ``(subset, group, channel)`` order; the DeGCN/CTR-GCN order is
    ``(group, subset, channel)`` (``bharnet.models.convert`` maps one onto the other).

    A CPU training step (gradients on) projects and aggregates ``train_chunk`` samples at a time
    and recomputes the value projections in the backward pass, so the three activation-sized
    value tensors and their gradients never leave the cache (see ``docs/performance.md``); the
    result equals the one-pass computation to float rounding. ``train_chunk=0`` turns this off.

    Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T)``.
    """

    def __init__(self, in_channels: int, out_channels: int, A: Tensor, groups: int = 4,
                 rel_channels: int | None = None, train_chunk: int = 4) -> None:
        super().__init__()
        if train_chunk < 0:
            raise ValueError(f"CTR-GC: train_chunk must be >= 0 (0 turns chunking off), got {train_chunk}")
        self.train_chunk = train_chunk
        k, v, _ = A.shape
        # CTR-GCN/DeGCN: in_channels / 8 relation channels, 8 for raw coordinates
        rel = rel_channels if rel_channels is not None else (in_channels // 8 if in_channels >= 16 else 8)
        if rel_channels is None and rel % groups:  # narrow (CPU-sized) models: round up to whole groups
            rel = groups * -(-rel // groups)
        for name, ch in (("in_channels", in_channels), ("out_channels", out_channels), ("rel channels", rel)):
            if ch % groups:
                raise ValueError(f"CTR-GC: {name} ({ch}) must be divisible by groups ({groups})")
        self.num_subsets, self.groups, self.rel = k, groups, rel
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv_q = nn.Conv1d(in_channels, rel * k, 1, groups=groups)
        self.conv_k = nn.Conv1d(in_channels, rel * k, 1, groups=groups)
        self.conv_v = nn.Conv2d(in_channels, out_channels * k, 1, groups=groups)
        self.conv_w = nn.Conv2d(rel * k, out_channels * k, 1, groups=groups * k)
        self.alpha = nn.Parameter(torch.zeros(1))
        self.A = nn.Parameter(A.clone())

    def forward(self, x: Tensor, affine: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``affine=(scale, shift)``: per output channel ``out * scale + shift``, folded into
        ``conv_v`` (a following eval-mode batch norm)."""
        b, _, v, t = x.shape
        g, k, c, j = self.groups, self.num_subsets, self.out_channels, self.rel // self.groups
        xm = x.mean(-1)  # (B, C_in, V)
        q = self.conv_q(xm).view(b, g, k, j, v)
        kk = self.conv_k(xm).view(b, g, k, j, v)
        w_v, b_v = self.conv_v.weight.view(k, c, -1), self.conv_v.bias.view(k, c)
        if affine is not None:  # every term of out[c] is linear in conv_v's row c
            w_v, b_v = w_v * affine[0].view(1, c, 1), b_v * affine[0].view(1, c)
        w_w = self.conv_w.weight.view(k, c, j) * self.alpha
        # the part of every channel's topology that does not depend on the sample:
        # alpha * b_w[c] + A_k, added once
        shift = self.conv_w.bias.view(k, c, 1) * self.alpha + self.A.to(x.dtype).view(k, 1, v * v)
        rels = [torch.tanh(q[:, :, s].unsqueeze(-1) - kk[:, :, s].unsqueeze(-2))  # (B, G, J, V, V)
                for s in range(k)]
        # conv_v's bias passes through the topology: W (h + b 1^T) = W h + b * rowsum(W) 1^T, and
        # the row sums of W follow from those of the relations, so h itself never gets a bias
        bias = None
        for s, rel in enumerate(rels):
            row_sums = grouped_pointwise(rel.sum(-1).reshape(b, g * j, v, 1), w_w[s], None, g,
                                         shift[s].view(c, v, v).sum(-1))  # (B, C, V, 1)
            term = row_sums * b_v[s].view(1, c, 1, 1)
            bias = term if bias is None else bias + term
        if affine is not None:
            bias = bias + affine[1].view(1, c, 1, 1)
        topos = (grouped_pointwise(rel.reshape(b, g * j, v, v), w_w[s], None, g, shift[s]).view(b * c, v, v)
                 for s, rel in enumerate(rels))
        if (self.train_chunk and torch.is_grad_enabled() and x.device.type == "cpu" and b > self.train_chunk
                and not _exporting()):
            return _ChunkedValueAggregation.apply(x, w_v, bias, g, self.train_chunk, *topos)
        out = None
        for s, topo in enumerate(topos):  # each topology made just before its product
            h = grouped_pointwise(x, w_v[s], None, g).view(b * c, v, t)
            # the bias is the first product's broadcast addend and the others accumulate in place:
            # one pass over the output each, no copy of the accumulator, and no in-place
            # operation on a view (whose backward clones the whole gradient)
            out = torch.baddbmm(bias.reshape(b * c, v, 1), topo, h) if out is None else out.baddbmm_(topo, h)
        return out.view(b, c, v, t)

    def cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> Cost:
        x = inputs[0]
        b, cin, v, t = x.shape
        per_group = cin // self.groups
        qk = 2 * b * self.conv_q.out_channels * v * t * per_group  # released code: conv before mean
        val = b * self.conv_v.out_channels * v * t * per_group
        topo = b * self.conv_w.out_channels * v * v * (self.conv_w.in_channels // self.conv_w.groups)
        agg = output.numel() * self.num_subsets * v
        params = sum(m.weight.numel() + m.bias.numel() for m in (self.conv_q, self.conv_k, self.conv_v, self.conv_w))
        return Cost(paper_macs=qk + val + topo, full_macs=qk + val + topo + agg, paper_params=params)


class GraphConvUnit(nn.Module):
    """``act(BN(graph_conv(x)) + down(x))`` — the spatial half of every block.

    Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T)``.
    """

    def __init__(self, conv: nn.Module, out_channels: int, down: nn.Module, act: str,
                 bn_init: float = 1.0) -> None:
        super().__init__()
        self.conv, self.down = conv, down
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.constant_(self.bn.weight, bn_init)
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        affine = folded_batch_norm(self.bn)
        y = self.bn(self.conv(x)) if affine is None else self.conv(x, affine)
        # in place: y is a fresh tensor whose producer's backward does not need it
        return self.act(_add_residual(y, self.down, x))


class GCNBlock(nn.Module):
    """``act(temporal(spatial(x)) + residual(x))``. Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T_out)``."""

    def __init__(self, spatial: nn.Module, temporal: nn.Module, residual: nn.Module, act: str) -> None:
        super().__init__()
        self.spatial, self.temporal, self.residual = spatial, temporal, residual
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(_add_residual(self.temporal(self.spatial(x)), self.residual, x))


def _add_residual(y: Tensor, branch: nn.Module, x: Tensor) -> Tensor:
    """``y + branch(x)``, in place on ``y`` (a fresh output of batch norm, concatenation or a
    product, none of which needs its output for the backward pass); nothing for a switched-off
    branch."""
    if isinstance(branch, Zero):
        return y
    return y.add_(branch(x))


def kaiming_init(module: nn.Module, nonlinearity: str = "leaky_relu", a: float = 0.1) -> None:
    """Conv weights Kaiming-normal (fan_out), biases 0; BN weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, a=a, mode="fan_out", nonlinearity=nonlinearity)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def fc_init(fc: nn.Linear, num_classes: int) -> None:
    nn.init.normal_(fc.weight, 0.0, math.sqrt(2.0 / num_classes))
    nn.init.zeros_(fc.bias)
