#!/usr/bin/env python
"""How much faster could fused normalisation and activation kernels make a model on this CPU?

Times the model as built, then the same model with every batch norm removed, then with every
batch norm and every activation removed (what-if models: their outputs are not the model's). A
perfect fusion of the norms and activations into their neighbouring layers cannot beat the last
variant, which still runs every convolution, graph product and residual addition, so its
speed-up over the real model is the ceiling of that whole family of optimisations. Training steps
(forward, BHaRNet loss, backward; no optimiser update) and inference passes are interleaved round by round so that
the host's drift hits every variant alike; medians are printed, with the host's memory bandwidth
and matmul peak measured in the same run. A benchmark, not a test: it asserts nothing.

    python benchmarks/bench_ceiling.py                        # DeGCN expert, ~3 min on 2 cores
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736:\
glibc.malloc.top_pad=268435456 python benchmarks/bench_ceiling.py --rounds 12
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from bench_models import inference_step, matmul_peak  # same folder
from torch import nn

import bharnet
from bharnet.models.inputs import example_inputs


class _Skip(nn.Module):
    track_running_stats = False  # so that eval-mode folding treats a removed norm as unfoldable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def strip(module: nn.Module, norms: bool, activations: bool) -> nn.Module:
    """Replace batch norms and/or activations by the identity, in place; returns ``module``."""
    for name, child in module.named_children():
        if (norms and isinstance(child, nn.modules.batchnorm._BatchNorm)) or (
                activations and isinstance(child, (nn.ReLU, nn.LeakyReLU))):
            setattr(module, name, _Skip())
        else:
            strip(child, norms, activations)
    return module


def memory_bandwidth(mib: int = 256, repeats: int = 7) -> float:
    """GB/s of a large tensor copy (bytes read + bytes written)."""
    src = torch.randn(mib * 2 ** 18)
    dst = torch.empty_like(src)
    dst.copy_(src)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        dst.copy_(src)
        ts.append(time.perf_counter() - t)
    return 2 * src.numel() * 4 / statistics.median(ts) / 1e9


def backward_step(model: nn.Module, xs: tuple[torch.Tensor, ...], num_classes: int) -> Callable[[], None]:
    """Forward, the BHaRNet loss and backward on random labels, without an optimiser update (the
    what-if models have no norms and would diverge; the update is the same for every variant)."""
    model.train()
    criterion = bharnet.BHaRNetLoss()
    y = torch.randint(0, num_classes, (xs[0].shape[0],))

    def step() -> None:
        model.zero_grad(set_to_none=True)
        criterion(model(*xs), y).backward()
    return step


VARIANTS = {"as built": (False, False), "no norms": (True, False), "no norms, no activations": (True, True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="expert", help="model name (default: the DeGCN expert)")
    parser.add_argument("--num-classes", type=int, default=60)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--eval-batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=8, help="timed steps per variant and mode")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(unset)')}")
    peak, bandwidth = matmul_peak(), memory_bandwidth()
    print(f"matmul peak {peak:.0f} GFLOP/s, copy bandwidth {bandwidth:.1f} GB/s (read + write)")
    for mode, batch in (("train", args.train_batch), ("eval", args.eval_batch)):
        steps: dict[str, Callable[[], None]] = {}
        for label, (norms, acts) in VARIANTS.items():
            model = strip(bharnet.create_model(args.model, num_classes=args.num_classes), norms, acts)
            xs = tuple(torch.randn_like(x) for x in example_inputs(model, batch))
            steps[label] = (backward_step(model, xs, args.num_classes) if mode == "train"
                            else inference_step(model, xs))
            for _ in range(2):
                steps[label]()
        times: dict[str, list[float]] = {label: [] for label in steps}
        for _ in range(args.rounds):
            for label, step in steps.items():
                t = time.perf_counter()
                step()
                times[label].append(time.perf_counter() - t)
        base = statistics.median(times["as built"])
        print(f"\n{mode}, batch {batch} ({args.rounds} rounds, medians):")
        for label, ts in times.items():
            med = statistics.median(ts)
            print(f"  {label:26s} {med:6.3f} s  {batch / med:6.2f} samples/s  {base / med:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
