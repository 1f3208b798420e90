"""The paper's loss for every model, computed from its :class:`~bharnet.models.ModelOutput`.

``L = sum_b lambda_stream(b) * CE(y_b, l) + lambda_cpl * L_cpl(y_fused, l)`` ([P] eqs. 2-4), where
``b`` runs over the output's ``individual`` branches (body/hand for joint training and
BHaRNet-P, the interactive branches for BHaRNet-E, the single branch of an expert) and the
complementary term is present when the output asks for it: on the fused prediction, or on each of the
output's ``complementary_logits`` (BHaRNet-E's expert pair, see ``BHaRNetE``). ``CE`` is label-smoothing cross
entropy (DeGCN's, epsilon 0.1). For Noisy-OR fusion the complementary term is the binary cross
entropy of the fused per-class probability against the (smoothed) one-hot target.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models.output import ModelOutput

__all__ = ["BHaRNetLoss"]


class BHaRNetLoss(nn.Module):
    """``criterion(output, labels) -> scalar``; ``criterion.components(output, labels)`` gives every term.

    Args:
        lambda_body / lambda_hand: weights of the individual terms of body-side and hand-side
            branches (the paper leaves them unspecified; 1 by default).
        lambda_cpl: weight of the complementary (ensemble) term.
        lambda_rgb: weight of BHaRNet-M's RGB branch term (its own training path).
        label_smoothing: epsilon of the smoothed cross entropy (0.1 as in DeGCN).
    """

    def __init__(self, lambda_body: float = 1.0, lambda_hand: float = 1.0, lambda_cpl: float = 1.0,
                 label_smoothing: float = 0.1, lambda_rgb: float = 1.0) -> None:
        super().__init__()
        self.lambda_body, self.lambda_hand, self.lambda_cpl = lambda_body, lambda_hand, lambda_cpl
        self.lambda_rgb = lambda_rgb
        self.label_smoothing = label_smoothing

    def _weight(self, branch: str) -> float:
        stream = branch.split("_")[0]
        if stream == "body":
            return self.lambda_body
        if stream == "hand":
            return self.lambda_hand
        if stream == "rgb":
            return self.lambda_rgb
        raise ValueError(f"branch {branch!r} belongs to no stream (expected a 'body...', 'hand...' or 'rgb' name)")

    def components(self, output: ModelOutput, labels: Tensor) -> dict[str, Tensor]:
        """Every weighted term by name (``ce/<branch>``, ``cpl``) and their sum under ``total``."""
        if not isinstance(output, ModelOutput):
            raise TypeError(f"BHaRNetLoss needs a ModelOutput, got {type(output).__name__}")
        terms: dict[str, Tensor] = {}
        for name in output.individual:
            terms[f"ce/{name}"] = self._weight(name) * F.cross_entropy(
                output.branches[name], labels, label_smoothing=self.label_smoothing)
        if output.complementary:
            targets = output.complementary_logits or {"": output.logits}
            for name, fused in targets.items():
                terms["cpl/" + name if len(targets) > 1 else "cpl"] = self.lambda_cpl * self._complementary(
                    fused, labels, output.fusion)
        if not terms:
            raise ValueError("this output has no branch to train (an expert-only inference model?)")
        terms["total"] = torch.stack(list(terms.values())).sum()
        return terms

    def _complementary(self, fused: Tensor, labels: Tensor, fusion: str) -> Tensor:
        """CE of fused logits ``(N, K)``; for Noisy-OR, the summed per-class binary CE."""
        if fusion == "noisy_or":
            k = fused.shape[-1]
            target = F.one_hot(labels, k).to(fused.dtype)
            target = target * (1 - self.label_smoothing) + self.label_smoothing / k
            return F.binary_cross_entropy_with_logits(fused, target, reduction="sum") / labels.shape[0]
        return F.cross_entropy(fused, labels, label_smoothing=self.label_smoothing)

    def forward(self, output: ModelOutput, labels: Tensor) -> Tensor:
        return self.components(output, labels)["total"]
