"""Spatial graph convolution on ``(B, C, V, T)``: the static adjacency of ST-GCN, the topology-refined
convolution of CTR-GCN / DeGCN (with its chunked value aggregation), and the spatial unit and block that
every trunk stacks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .conv import grouped_pointwise
from .core import Cost, add_residual, exporting, folded_batch_norm, make_activation

__all__ = ["StaticGraphConv", "TopologyRefinedGraphConv", "GraphConvUnit", "GCNBlock"]


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
                and not exporting()):
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
        return self.act(add_residual(y, self.down, x))


class GCNBlock(nn.Module):
    """``act(temporal(spatial(x)) + residual(x))``. Shapes: ``(B, C_in, V, T) -> (B, C_out, V, T_out)``."""

    def __init__(self, spatial: nn.Module, temporal: nn.Module, residual: nn.Module, act: str) -> None:
        super().__init__()
        self.spatial, self.temporal, self.residual = spatial, temporal, residual
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(add_residual(self.temporal(self.spatial(x)), self.residual, x))
