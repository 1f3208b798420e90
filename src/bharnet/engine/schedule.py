"""The DeGCN learning-rate policy, per epoch: linear warm-up, cosine, then step decay.

``lr(e) = base * (e + 1) / W`` for ``e < W``; then ``base * (1 + cos(pi * (e - W) / P)) / 2`` while
``e < W + P`` and that value is above ``cosine_min_lr``; afterwards ``base * gamma ** #{m in milestones: m <= e}``.

DeGCN's recipe (W=5, P=60, min 0.01, milestones 35/60/75) gives 0.1 x (e+1)/5 for epochs 0-4, the cosine for
epochs 5-52, 0.01 for 53-59, 1e-3 for 60-74 and 1e-4 for 75-79. A pure warm-up + cosine to zero is
``cosine_min_lr: null, milestones: []`` with ``W + P`` = the number of epochs.
"""
from __future__ import annotations

import math

__all__ = ["lr_at"]


def lr_at(epoch: int, base_lr: float, warmup_epochs: int = 5, cosine_period: int | None = 60,
          cosine_min_lr: float | None = 0.01, milestones: tuple[int, ...] | list[int] = (35, 60, 75),
          gamma: float = 0.1) -> float:
    if epoch < warmup_epochs:
        return base_lr * (epoch + 1) / warmup_epochs
    if cosine_period:
        t = epoch - warmup_epochs
        if t < cosine_period:
            lr = base_lr * 0.5 * (1 + math.cos(math.pi * t / cosine_period))
            if cosine_min_lr is None or lr > cosine_min_lr:
                return lr
    return base_lr * gamma ** sum(epoch >= m for m in milestones)
