"""The trunk every backbone shares: input normalisation, ten blocks, and the output layout."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...graphs import Layout, get_layout
from ..layers import ConvBN, Identity, InputNorm, Zero

__all__ = ["BlockSpec", "trunk_plan", "block_residual", "GCNBackbone", "register_backbone", "create_backbone",
           "list_backbones"]


@dataclass(frozen=True)
class BlockSpec:
    """One block of a trunk: channels, temporal stride, block residual, and its input length."""

    in_channels: int
    out_channels: int
    stride: int
    residual: bool
    num_frames: int


def trunk_plan(in_channels: int, base_channels: int = 64, num_frames: int = 64, num_blocks: int = 10,
               inflate_at: tuple[int, ...] = (4, 7)) -> list[BlockSpec]:
    """The ST-GCN/CTR-GCN/DeGCN layout: ``num_blocks`` blocks of ``base_channels`` channels,
    doubled with temporal stride 2 at the 0-based blocks ``inflate_at`` (the 5th and 8th);
    block 0 has no block-level residual."""
    plan, c, t = [], base_channels, num_frames
    for i in range(num_blocks):
        cin = in_channels if i == 0 else c
        stride = 2 if i in inflate_at else 1
        cout = c * 2 if i in inflate_at else c
        plan.append(BlockSpec(cin, cout, stride, i > 0, t))
        c, t = cout, (t - 1) // stride + 1
    return plan


def block_residual(spec: BlockSpec, groups: int = 1) -> nn.Module:
    """The block-level residual: none for the stem, identity when shapes agree, else a strided
    1x1 convolution + BN (ST-GCN, CTR-GCN and DeGCN all use this rule)."""
    if not spec.residual:
        return Zero()
    if spec.in_channels == spec.out_channels and spec.stride == 1:
        return Identity()
    return ConvBN(spec.in_channels, spec.out_channels, stride=spec.stride, groups=groups)


class GCNBackbone(nn.Module):
    """Input normalisation and a stack of blocks.

    Shapes: ``forward((N, C, T, V, M)) -> (N, M, C_out, T_out, V)`` (a view; persons or hand
    instances share the weights).

    In eval mode the batch is processed ``eval_chunk`` samples at a time (0: all at once). Every
    operation is per-sample in eval mode, so the result is the same; the activations of a few
    samples stay in cache and in the allocator's free lists instead of being paged in afresh,
    which makes batched inference on a CPU about twice as fast.
    """

    def __init__(self, layout: Layout, input_norm: InputNorm, blocks: list[nn.Module], out_channels: int,
                 num_frames: int, eval_chunk: int = 4) -> None:
        super().__init__()
        self.layout = layout
        self.input_norm = input_norm
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = out_channels
        self.num_frames = num_frames
        self.eval_chunk = eval_chunk

    @property
    def in_channels(self) -> int:
        return self.input_norm.in_channels

    @property
    def num_persons(self) -> int:
        return self.input_norm.num_persons

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        n, m = x.shape[0], x.shape[-1]
        if not self.training and 0 < self.eval_chunk < n:
            y = torch.cat([self.blocks(self.input_norm(chunk)) for chunk in x.split(self.eval_chunk)])
        else:
            y = self.blocks(self.input_norm(x))  # (N*M, C, V, T)
        return y.view(n, m, *y.shape[1:]).transpose(-1, -2)

    def check_input(self, x: Tensor) -> None:
        """Raise a ``TypeError``/``ValueError`` naming the layout and the problem unless ``x`` is a
        ``(N, C, T, V, M)`` tensor of this backbone's shape and dtype."""
        name = f"{self.layout.name} backbone"
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor (N, C, T, V, M), got {type(x).__name__}"
                            + (" (convert it with torch.from_numpy(x).float())" if hasattr(x, "__array__") else ""))
        dtype = next(self.parameters()).dtype
        if x.dtype != dtype:
            raise TypeError(f"{name}: input dtype {x.dtype} differs from the model's {dtype}; convert it with "
                            f"x.to({dtype})")
        if x.dim() != 5:
            raise ValueError(f"{name}: expected a skeleton batch (N, C, T, V, M), got shape {tuple(x.shape)}")
        _, c, _, v, m = x.shape
        per_person = self.input_norm.mode == "MVC"  # else persons share the statistics: any M
        if (c, v) != (self.in_channels, self.layout.num_joints) or (per_person and m != self.num_persons):
            dummy = self.layout.num_dummy
            padded = f" ({self.layout.num_joints - dummy} joints padded with {dummy} zero joints)" if dummy else ""
            raise ValueError(f"{name}: input (N, C, T, V, M) = {tuple(x.shape)} does not match C={self.in_channels}, "
                             f"V={self.layout.num_joints}{padded}" + (f", M={self.num_persons}" if per_person else ""))

    def input_spec(self) -> dict[str, tuple[int, ...]]:
        """``{"x": (C, T, V, M)}``: the per-sample input shape (:mod:`bharnet.models.inputs`)."""
        return {"x": (self.in_channels, self.num_frames, self.layout.num_joints, self.num_persons)}

    def example_input(self, batch_size: int = 1) -> Tensor:
        """Zeros ``(batch_size, C, T, V, M)`` of :meth:`input_spec`'s shape."""
        return torch.zeros(batch_size, *self.input_spec()["x"])


_BACKBONES: dict[str, Callable[..., GCNBackbone]] = {}


def register_backbone(name: str) -> Callable[[Callable[..., GCNBackbone]], Callable[..., GCNBackbone]]:
    """Register a backbone builder under ``name`` (the rule of :func:`bharnet.models.register_model`: a name
    registered twice is an error, not a silent replacement)."""
    def deco(fn: Callable[..., GCNBackbone]) -> Callable[..., GCNBackbone]:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = fn
        return fn
    return deco


def list_backbones() -> list[str]:
    return sorted(_BACKBONES)


def create_backbone(name: str, layout: str | Layout = "ntu_rgbd", in_channels: int = 3, num_persons: int = 2,
                    num_frames: int = 64, base_channels: int = 64, **kwargs: object) -> GCNBackbone:
    """Build a backbone by name (``degcn``, ``ctrgcn``, ``stgcn``).

    Args:
        layout: skeleton layout name or :class:`~bharnet.graphs.Layout`.
        in_channels: coordinates per joint (3 for x, y, z).
        num_persons: persons (body) or hand instances (hand) per sample, M.
        num_frames: input length T.
        base_channels: width of the first stage (64 in every published model).
    """
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(list_backbones())}")
    for arg, value in (("in_channels", in_channels), ("num_persons", num_persons), ("num_frames", num_frames),
                       ("base_channels", base_channels)):
        if value < 1:
            raise ValueError(f"backbone {name!r}: {arg} must be at least 1, got {value}")
    return _BACKBONES[name](layout=get_layout(layout), in_channels=in_channels, num_persons=num_persons,
                            num_frames=num_frames, base_channels=base_channels, **kwargs)
