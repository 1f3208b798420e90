"""Cross-attention between the body and hand streams: exact softmax and Performer FAVOR+.

Token tensors are ``(N, L, D)``. A :class:`CrossAttention` lets one stream's tokens query the
other's; :class:`BidirectionalCrossAttention` holds one module per direction (body <- hand and
hand <- body, not shared). Layers follow lucidrains' ``CrossAttention`` defaults, which reproduce
the paper's parameter counts: 8 heads of 64 (inner width 512), bias-free query/key/value
projections, an output projection with bias, and pre-LayerNorm on queries and on the context.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Cost

__all__ = ["SoftmaxKernel", "FavorKernel", "orthogonal_random_features", "CrossAttention",
           "BidirectionalCrossAttention"]


class SoftmaxKernel(nn.Module):
    """Exact attention ``softmax(Q K^T / sqrt(d)) V``. Shapes: ``(B, H, Lq, d), (B, H, Lk, d), (B, H, Lk, dv)``
    ``-> (B, H, Lq, dv)``."""

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(q, k, v)

    def cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> Cost:
        q, k, v = inputs
        macs = q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] * (q.shape[3] + v.shape[3])
        return Cost(full_macs=macs)


def orthogonal_random_features(num_features: int, dim: int, scaling: int = 0,
                               generator: torch.Generator | None = None) -> Tensor:
    """Performer's ``Omega`` ``(num_features, dim)``: stacked orthogonal blocks (rows orthonormal
    within a block), each row rescaled by the norm of a fresh Gaussian vector (``scaling=0``, so each
    row is marginally ``N(0, I)``) or by ``sqrt(dim)`` (``scaling=1``)."""
    blocks, remaining = [], num_features
    while remaining > 0:
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        blocks.append(q.T[:min(dim, remaining)])
        remaining -= dim
    omega = torch.cat(blocks)
    if scaling == 0:
        norms = torch.randn(num_features, dim, generator=generator).norm(dim=1)
    elif scaling == 1:
        norms = torch.full((num_features,), math.sqrt(dim))
    else:
        raise ValueError(f"scaling must be 0 or 1, got {scaling}")
    return norms[:, None] * omega


class FavorKernel(nn.Module):
    """FAVOR+ linear attention with positive random features (Choromanski et al., 2021).

    ``phi(x) = m^-1/2 exp(Omega x' - |x'|^2 / 2)`` with ``x' = d^-1/4 x``, so that
    ``E[phi(q) . phi(k)] = exp(q . k / sqrt(d))``; attention is
    ``diag(Q'(K'^T 1))^-1 Q'(K'^T V)`` in ``O((Lq + Lk) m d)``. The features are redrawn every
    ``redraw_interval`` forward calls in training mode (never in eval mode; 0 disables redrawing).

    Shapes: ``(B, H, Lq, d), (B, H, Lk, d), (B, H, Lk, dv) -> (B, H, Lq, dv)``.
    """

    def __init__(self, dim_head: int = 64, num_features: int | None = None, redraw_interval: int = 1000,
                 scaling: int = 0, eps: float = 1e-4) -> None:
        super().__init__()
        self.dim_head = dim_head
        self.num_features = num_features or int(dim_head * math.log(dim_head))
        self.redraw_interval, self.scaling, self.eps = redraw_interval, scaling, eps
        self.register_buffer("projection", orthogonal_random_features(self.num_features, dim_head, scaling))
        self.register_buffer("calls_since_redraw", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def redraw(self, generator: torch.Generator | None = None) -> None:
        omega = orthogonal_random_features(self.num_features, self.dim_head, self.scaling, generator)
        self.projection.copy_(omega)
        self.calls_since_redraw.zero_()

    def features(self, x: Tensor, is_query: bool) -> Tensor:
        """``exp(Omega x' - |x'|^2 / 2 - shift)`` ``(B, H, L, m)``: the positive features without the
        constant factor ``m^-1/2`` and the ``eps`` floor, which :meth:`forward` adds in closed form
        (constant factors cancel in the normalisation)."""
        x = x * self.dim_head ** -0.25
        proj = x @ self.projection.to(x.dtype).T  # (B, H, L, m)
        # a per-row (query) or per-head (key) shift; it cancels in the normalisation
        shift = proj.amax(-1, keepdim=True) if is_query else proj.amax((-1, -2), keepdim=True)
        return torch.exp(proj.sub_(0.5 * x.square().sum(-1, keepdim=True) + shift.detach()))

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        if self.training and self.redraw_interval:
            if int(self.calls_since_redraw) >= self.redraw_interval:
                self.redraw()
            self.calls_since_redraw += 1
        qe, ke = self.features(q, True), self.features(k, False)
        eps = self.eps
        # phi = e + eps for queries and keys; the eps terms are summed analytically, so the large
        # (B, H, L, m) feature tensors are never rewritten
        context = ke.transpose(-1, -2) @ v + eps * v.sum(-2, keepdim=True)  # (B, H, m, dv) = phi_k^T V
        key_sum = ke.sum(-2, keepdim=True) + eps * k.shape[-2]  # (B, H, 1, m) = 1^T phi_k
        num = qe @ context + eps * context.sum(-2, keepdim=True)  # phi_q (phi_k^T V)
        den = qe @ key_sum.transpose(-1, -2) + eps * key_sum.sum(-1, keepdim=True)  # phi_q (phi_k^T 1)
        return num / den

    def cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> Cost:
        q, k, v = inputs
        b, h, lq, d = q.shape
        lk, m = k.shape[2], self.num_features
        macs = b * h * ((lq + lk) * m * d + lk * m * v.shape[3] + lq * m * (v.shape[3] + 1))
        return Cost(full_macs=macs)


class CrossAttention(nn.Module):
    """Queries from ``x``, keys and values from ``context``, pre-LayerNorm on both.

    ``y = [x +] W_o · Attn(LN(x) W_q, LN(c) W_k, LN(c) W_v)``; with ``ffn_hidden``, then
    ``y = y + FFN(LN(y))`` (two linear layers with GELU). ``residual=False`` returns the attended
    features alone (BHaRNet-E's interactive branches keep the raw features in the expert branches).

    Shapes: ``(N, Lq, D), (N, Lk, D) -> (N, Lq, D)``.
    """

    def __init__(self, dim: int = 256, heads: int = 8, dim_head: int = 64, kernel: str = "favor",
                 residual: bool = True, ffn_hidden: int = 0, num_features: int | None = None,
                 redraw_interval: int = 1000, dropout: float = 0.0) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads, self.residual = heads, residual
        self.norm_q, self.norm_kv = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)
        if kernel == "favor":
            self.kernel: nn.Module = FavorKernel(dim_head, num_features, redraw_interval)
        elif kernel == "softmax":
            self.kernel = SoftmaxKernel()
        else:
            raise ValueError(f"attention kernel must be 'favor' or 'softmax', got {kernel!r}")
        self.dropout = nn.Dropout(dropout)
        self.ffn = None
        if ffn_hidden:
            self.ffn = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, ffn_hidden), nn.GELU(),
                                     nn.Linear(ffn_hidden, dim))

    def _split(self, t: Tensor) -> Tensor:
        n, length, _ = t.shape
        return t.view(n, length, self.heads, -1).transpose(1, 2)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        c = self.norm_kv(context)
        q, k, v = self._split(self.to_q(self.norm_q(x))), self._split(self.to_k(c)), self._split(self.to_v(c))
        attended = self.kernel(q, k, v).transpose(1, 2).flatten(2)
        y = self.dropout(self.to_out(attended))
        if self.residual:
            y = x + y
        if self.ffn is not None:
            y = y + self.ffn(y)
        return y


class BidirectionalCrossAttention(nn.Module):
    """Body tokens attend to hand tokens and hand tokens to body tokens, one module each way.

    Shapes: ``(N, Lb, D), (N, Lh, D) -> (N, Lb, D), (N, Lh, D)``.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.body_from_hand = CrossAttention(**kwargs)
        self.hand_from_body = CrossAttention(**kwargs)

    def forward(self, body: Tensor, hand: Tensor) -> tuple[Tensor, Tensor]:
        return self.body_from_hand(body, hand), self.hand_from_body(hand, body)
