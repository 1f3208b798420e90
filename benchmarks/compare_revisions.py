#!/usr/bin/env python
"""Paired speed comparison of the working tree against another git revision, in one process.

On a shared host the speed drifts by tens of percent within minutes, so two separate benchmark
runs cannot resolve a 5-20 % change. This script imports the package of ``--base`` (extracted with
``git archive`` into a temporary directory and renamed ``bharnet_base``) beside the installed
``bharnet`` (the working tree, with the README's editable install), builds the same model in both
with the same seed and inputs, and alternates their steps (base, new, new, base, ...). Each pair of
neighbouring steps ran under nearly the same conditions; the median of the per-pair ratios is the
figure to quote. A benchmark, not a test.

    python benchmarks/compare_revisions.py --base HEAD~1 --mode train --steps 12
    python benchmarks/compare_revisions.py --base v0.1.0 --mode eval --model bharnet_e

Modes: ``train`` (forward + BHaRNet loss + backward + SGD-Nesterov step, batch 16), ``eval``
(inference mode, batch 32), ``eval1`` (batch 1). Run from the repository root.
"""
from __future__ import annotations

import argparse
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
from bench_models import inference_step, training_step

import bharnet
from bharnet.models.inputs import example_inputs

_IMPORT = re.compile(r"\b(from|import)\s+bharnet\b")
_ATTRIBUTE = re.compile(r"\bbharnet\.(?=[A-Za-z_])")


def import_revision(revision: str, into: Path) -> ModuleType:
    """Extract ``src/bharnet`` at ``revision`` and import it as ``bharnet_base``."""
    try:
        archive = subprocess.run(["git", "archive", "--format=tar", revision, "src/bharnet"], capture_output=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode().strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        raise SystemExit(f"compare_revisions: cannot read src/bharnet at {revision!r} with git archive: "
                         f"{detail}") from None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:  # Python < 3.10.12 has no extraction filters; the archive is our own
            tar.extractall(into)
    package = into / "bharnet_base"
    (into / "src" / "bharnet").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text()
        path.write_text(_ATTRIBUTE.sub("bharnet_base.", _IMPORT.sub(r"\1 bharnet_base", text)))
    sys.path.insert(0, str(into))
    return importlib.import_module("bharnet_base")


def make_step(pkg: ModuleType, model_name: str, mode: str, num_classes: int) -> tuple[int, Callable[[], None]]:
    """The batch size and one step of ``model_name`` built by ``pkg`` (its own loss for training)."""
    torch.manual_seed(0)
    model = pkg.create_model(model_name, num_classes=num_classes)
    batch = {"train": 16, "eval": 32, "eval1": 1}[mode]
    inputs = tuple(torch.randn_like(x) for x in example_inputs(model, batch))
    if mode == "train":
        return batch, training_step(model, inputs, num_classes, pkg.BHaRNetLoss(label_smoothing=0.0))
    return batch, inference_step(model, inputs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="git revision to compare against (default HEAD)")
    parser.add_argument("--mode", choices=("train", "eval", "eval1"), default="train")
    parser.add_argument("--model", default="expert", help="registered model name (default expert)")
    parser.add_argument("--num-classes", type=int, default=60)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per revision (default 12)")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    if args.model not in bharnet.list_models():
        parser.error(f"unknown model {args.model!r}; available: {', '.join(bharnet.list_models())}")

    with tempfile.TemporaryDirectory() as tmp:
        base = import_revision(args.base, Path(tmp))
        runs = {"base": make_step(base, args.model, args.mode, args.num_classes),
                "new": make_step(bharnet, args.model, args.mode, args.num_classes)}
        for _, step in runs.values():
            for _ in range(args.warmup):
                step()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for i in range(args.steps):
            order = list(runs) if i % 2 == 0 else list(reversed(runs))
            for name in order:
                t = time.perf_counter()
                runs[name][1]()
                times[name].append(time.perf_counter() - t)
    batch = runs["new"][0]
    ratios = [b / n for b, n in zip(times["base"], times["new"])]
    print(f"{args.model}, {args.mode} (batch {batch}), {args.steps} paired steps, {torch.get_num_threads()} threads")
    for name in runs:
        print(f"  {name:4s} samples/s: " + " ".join(f"{batch / t:.2f}" for t in times[name]))
    print(f"  median: base {batch / statistics.median(times['base']):.2f}, "
          f"new {batch / statistics.median(times['new']):.2f} samples/s")
    print(f"  new / base speed, median of paired ratios: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
