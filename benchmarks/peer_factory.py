"""Factories for the peers' harness (``bench_peers.py --extra``), so that our models are timed in
the same invocation, subprocess layout and allocator settings as the reference implementations::

    python bench_peers.py --peer-root PEERS --models degcn_1s --extra-path benchmarks \\
        --extra peer_factory:degcn_expert=bharnet_degcn_1s --extra peer_factory:bharnet_e=bharnet_e

Each factory returns a module called like the peers (``model(x)`` with ``x`` ``(N, 3, T, 25, 2)``,
or a ``(module, make_inputs)`` pair for two-input models) whose ``bench_loss`` is the BHaRNet loss.
"""
from __future__ import annotations

import torch
from torch import nn

import bharnet


class _Bench(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.criterion = bharnet.BHaRNetLoss(label_smoothing=0.0)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.model(*xs)

    def bench_loss(self, out, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(out, y)


def degcn_expert(num_class: int = 60, T: int = 64) -> nn.Module:
    """The BHaRNet body expert: single-stream DeGCN (same mathematics as the release's num_stream=1)."""
    return _Bench(bharnet.create_model("expert", num_classes=num_class, num_frames=T))


def _dual(name: str, num_class: int, T: int, **kw: object):
    model = _Bench(bharnet.create_model(name, num_classes=num_class, num_frames=T, **kw))

    def make_inputs(bs: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(bs, 3, t, 25, 2), torch.randn(bs, 3, t, 25, 2)
    return model, make_inputs


def bharnet_e(num_class: int = 60, T: int = 64):
    return _dual("bharnet_e", num_class, T)


def bharnet_p(num_class: int = 60, T: int = 64):
    return _dual("bharnet_p", num_class, T)


def joint_training(num_class: int = 60, T: int = 64):
    return _dual("joint_training", num_class, T)
