"""Batch normalisation synchronised over processes on CPU (gloo).

``torch.nn.SyncBatchNorm`` accepts GPU tensors only. On CPU, a distributed run would otherwise normalise
every process's share of the batch with its own statistics, and train a different model from one process
with the same global batch. :class:`CPUSyncBatchNorm` all-reduces the per-channel sum, sum of squares and
count (differentiably, with ``torch.distributed.nn.functional.all_reduce``), so the forward and the
gradients equal those of one process over the global batch up to float rounding.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["CPUSyncBatchNorm", "convert_cpu_sync_batchnorm"]


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Any-dimension batch norm whose training statistics cover the batches of all processes."""

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: Tensor) -> Tensor:
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and distributed):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        shape = [1, c] + [1] * (x.dim() - 2)
        # Two passes (mean, then squared deviations): E[x^2] - E[x]^2 in float32 loses the variance of
        # activations whose mean is large against their spread.
        count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        first = all_reduce(torch.cat([x.sum(dims), count]))
        total = first[-1]
        mean = first[:c] / total
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                unbiased = var.detach() * total / (total - 1).clamp_min(1)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm1d/2d/3d`` (weights and statistics kept) by :class:`CPUSyncBatchNorm`."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        new = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        like = module.weight if module.affine else module.running_mean
        if like is not None:
            new = new.to(device=like.device, dtype=like.dtype)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_cpu_sync_batchnorm(child))
    return module
