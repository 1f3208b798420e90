"""What a model takes: the one answer that training, the profiler, export and ``predict`` all read.

Every bharnet model (and backbone) has ``input_spec()``: its positional inputs in call order, by name, with the
per-sample shape: skeleton streams ``(C, T, V, M)`` (``"body"``, ``"hand"``; a single expert's stream name; a
bare backbone's ``"x"``) and BHaRNet-M's ST-ROI image ``"roi"`` ``(3, 225, 225)``. The batch dimension is not part
of the spec. A store's sample dict uses the same names, so ``model(*(batch[k] for k in spec))`` feeds any model.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["InputSpec", "input_spec", "example_inputs", "batch_inputs"]

InputSpec = dict[str, tuple[int, ...]]


def input_spec(model: nn.Module) -> InputSpec:
    """``model.input_spec()``, or a TypeError naming the class for a module that is not a bharnet model."""
    if not hasattr(model, "input_spec"):
        raise TypeError(f"{type(model).__name__} is not a bharnet model (it has no input_spec()); pass its inputs")
    return dict(model.input_spec())


def example_inputs(model: nn.Module, batch_size: int = 1, generator: torch.Generator | None = None
                   ) -> tuple[Tensor, ...]:
    """Inputs of the spec's shapes with ``batch_size`` samples: zeros, or standard normal from ``generator``."""
    shapes = [(batch_size, *shape) for shape in input_spec(model).values()]
    if generator is None:
        return tuple(torch.zeros(shape) for shape in shapes)
    return tuple(torch.randn(shape, generator=generator) for shape in shapes)


def batch_inputs(model: nn.Module, batch: dict) -> tuple[Tensor, ...]:
    """The positional inputs of ``model`` taken from a feeder batch (a dict keyed by stream name)."""
    return tuple(batch[name] for name in input_spec(model))
