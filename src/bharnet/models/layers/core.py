"""What every layer shares: the cost record the profiler reads, activations, eval-mode batch-norm folding,
switched-off branches, the in-place residual, the tracing test and the DeGCN/CTR-GCN initialisation."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Cost", "make_activation", "batch_norm_folding", "folded_batch_norm", "fold_affine", "Zero", "Identity",
           "add_residual", "exporting", "kaiming_init"]


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


def add_residual(y: Tensor, branch: nn.Module, x: Tensor) -> Tensor:
    """``y + branch(x)``, in place on ``y`` (a fresh output of batch norm, concatenation or a
    product, none of which needs its output for the backward pass); nothing for a switched-off
    branch."""
    if isinstance(branch, Zero):
        return y
    return y.add_(branch(x))


def exporting() -> bool:
    """True while tracing or exporting: a trace cannot hold a Python autograd Function."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


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
