"""From backbone features to a prediction: pooling, tokens for cross-attention, the classifier head, and the
fusion of branch logits.

Features are ``(N, M, C, T, V)`` (a backbone's output: persons or hand instances ``M``); logits ``(N, K)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .output import FUSIONS

__all__ = ["pool_features", "tokens", "fuse_logits", "check_fusion", "Classifier"]


def pool_features(f: Tensor) -> Tensor:
    """Global average pooling ``(N, M, C, T, V) -> (N, C)``: over time and joints, then instances."""
    return f.mean((-1, -2)).mean(1)


def tokens(f: Tensor) -> Tensor:
    """All positions as tokens, ordered (T, I, V): ``(N, M, C, T, V) -> (N, T*M*V, C)``."""
    n, _, c = f.shape[:3]
    return f.permute(0, 3, 1, 4, 2).reshape(n, -1, c)


def fuse_logits(logits: list[Tensor], fusion: str) -> Tensor:
    """Combine branch logits ``(N, K)`` by ``mean``, ``sum`` or ``noisy_or`` (log-odds of
    ``1 - prod(1 - sigmoid(y_i))``)."""
    if fusion == "mean":
        return torch.stack(logits).mean(0)
    if fusion == "sum":
        return torch.stack(logits).sum(0)
    if fusion == "noisy_or":
        log_none = -sum(F.softplus(y) for y in logits)  # log prod(1 - sigmoid(y_i))
        # log(1 - exp(a)) for a < 0, computed in its two stable regimes
        log_any = torch.where(log_none > -math.log(2), torch.log(-torch.expm1(log_none)),
                              torch.log1p(-torch.exp(log_none)))
        return log_any - log_none
    raise ValueError(f"unknown fusion {fusion!r}; expected one of {FUSIONS}")


class Classifier(nn.Module):
    """Dropout then ``Linear``, initialised as DeGCN/CTR-GCN do (``N(0, sqrt(2 / classes))``).

    Shapes: ``(N, C) -> (N, num_classes)``.
    """

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(x))


def check_fusion(fusion: str) -> str:
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; expected one of {FUSIONS}")
    return fusion
