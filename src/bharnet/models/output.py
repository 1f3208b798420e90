"""The structured output every bharnet model returns."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["ModelOutput", "FUSIONS"]

FUSIONS = ("mean", "sum", "noisy_or")


@dataclass
class ModelOutput:
    """Per-branch logits and the fused prediction.

    Attributes:
        logits: fused logits ``(N, num_classes)``; the prediction is ``logits.argmax(-1)``. For
            Noisy-OR fusion these are the log-odds of the fused per-class probability.
        branches: logits of every branch, by name (``body``, ``hand``, ``body_expert``, ...).
        individual: branches that receive an individual cross-entropy term in training.
        fusion: how ``logits`` were made: ``single``, ``mean``, ``sum`` or ``noisy_or``.
        complementary: whether the model asks for the complementary loss.
        complementary_logits: the fused logits that receive it, by name (BHaRNet-E's readings of
            [P] §III-D, e.g. ``{"experts": y1 + y2}``); empty: the prediction ``logits`` itself.
    """

    logits: Tensor
    branches: dict[str, Tensor]
    individual: tuple[str, ...] = ()
    fusion: str = "single"
    complementary: bool = False
    complementary_logits: dict[str, Tensor] = field(default_factory=dict)
