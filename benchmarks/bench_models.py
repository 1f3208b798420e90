#!/usr/bin/env python
"""Throughput of every BHaRNet variant on this CPU, against the machine's matmul peak.

For each model (paper size unless --base-channels is given): forward (inference mode) and
training-step (forward + BHaRNet loss + backward + SGD-Nesterov step) throughput in samples/s at
batch 1 and batch 32, and the achieved GFLOP/s. FLOPs are the model's full-convention
multiply-adds x 2 (``bharnet profile``), x 3 for a training step (backward ~ 2 x forward); the
fp32 peak is a 2048x2048 ``torch.mm`` timed in the same process before and after each model,
because the host's speed drifts. A benchmark, not a test: it prints measurements, asserts nothing.

    python benchmarks/bench_models.py                      # every variant, ~10 min on 2 cores
    python benchmarks/bench_models.py --models expert,bharnet_e --repeats 3 --json out.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import torch

import bharnet
from bharnet.models.inputs import example_inputs

VARIANTS = ["expert", "score_fusion", "joint_training", "cross_attention", "fast_attention", "bharnet_p",
            "bharnet_e", "bharnet_e_light"]


def matmul_peak(n: int = 2048, repeats: int = 8) -> float:
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    for _ in range(2):
        torch.mm(a, b, out=c)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        ts.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(ts) / 1e9


def timed(fn, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def build(name: str, args: argparse.Namespace) -> torch.nn.Module:
    kw = dict(num_classes=args.num_classes, num_frames=args.num_frames, base_channels=args.base_channels,
              backbone=args.backbone)
    if name == "bharnet_e_light":
        return bharnet.create_model("bharnet_e", **kw).light()
    return bharnet.create_model(name, **kw)


def inference_step(model: torch.nn.Module, xs: tuple) -> Callable[[], None]:
    """One forward pass in eval and inference mode."""
    model.eval()

    def step() -> None:
        with torch.inference_mode():
            model(*xs)
    return step


def training_step(model: torch.nn.Module, xs: tuple, num_classes: int, criterion: torch.nn.Module | None = None
                  ) -> Callable[[], None]:
    """One training step: forward, the BHaRNet loss (``criterion``, default ``bharnet.BHaRNetLoss()``),
    backward and an SGD-Nesterov update, on random labels."""
    model.train()
    criterion = criterion if criterion is not None else bharnet.BHaRNetLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=4e-4)
    y = torch.randint(0, num_classes, (xs[0].shape[0],))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        criterion(model(*xs), y).backward()
        opt.step()
    return step


def eval_throughput(model: torch.nn.Module, xs: tuple, warmup: int, repeats: int) -> float:
    return xs[0].shape[0] / timed(inference_step(model, xs), warmup, repeats)


def train_throughput(model: torch.nn.Module, xs: tuple, num_classes: int, warmup: int, repeats: int) -> float:
    return xs[0].shape[0] / timed(training_step(model, xs, num_classes), warmup, repeats)


def measure(name: str, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model = build(name, args)
    prof = bharnet.profile_model(model)
    rec = dict(model=name, params_m=prof.params_m, fwd_gflops=2 * prof.full_gmacs, peak_before=matmul_peak())
    for bs in args.batch_sizes:
        xs = tuple(torch.randn_like(x) for x in example_inputs(model, bs))
        rec[f"eval_b{bs}"] = eval_throughput(model, xs, args.warmup, args.repeats)
        if not name.endswith("_light"):  # the light model is inference-only
            rec[f"train_b{bs}"] = train_throughput(model, xs, args.num_classes, args.warmup, args.repeats)
    rec["peak_after"] = matmul_peak()
    return rec


def markdown(recs: list[dict], batch_sizes: list[int]) -> str:
    head = "| model | params M | fwd GFLOPs |"
    sep = "|---|---|---|"
    for bs in batch_sizes:
        head += f" eval b{bs} s/s (GF/s, %peak) | train b{bs} s/s (GF/s, %peak) |"
        sep += "---|---|"
    lines = [head + " mm peak GF/s |", sep + "---|"]
    for r in recs:
        peak = (r["peak_before"] + r["peak_after"]) / 2
        row = f"| {r['model']} | {r['params_m']:.3f} | {r['fwd_gflops']:.3f} |"
        for bs in batch_sizes:
            for kind, mult in (("eval", 1), ("train", 3)):
                sps = r.get(f"{kind}_b{bs}")
                if sps is None:
                    row += " - |"
                    continue
                gf = sps * r["fwd_gflops"] * mult
                row += f" {sps:.2f} ({gf:.1f}, {100 * gf / peak:.0f}%) |"
        lines.append(row + f" {peak:.0f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(VARIANTS), help="comma list; 'bharnet_e_light' = expert-only")
    ap.add_argument("--backbone", default="degcn")
    ap.add_argument("--num-classes", type=int, default=120)
    ap.add_argument("--num-frames", type=int, default=64)
    ap.add_argument("--base-channels", type=int, default=64)
    ap.add_argument("--batch-sizes", default="1,32")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tune-malloc", action="store_true",
                    help="keep freed memory in glibc's heap (bharnet.utils.configure_malloc); compare like with like")
    ap.add_argument("--json", help="also write the records here")
    args = ap.parse_args()
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.tune_malloc:
        from bharnet.utils import configure_malloc
        print(f"malloc tuned: {configure_malloc()}", file=sys.stderr)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; T={args.num_frames}, "
          f"{args.num_classes} classes, width {args.base_channels}", file=sys.stderr)
    recs = []
    for name in args.models.split(","):
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        recs.append(measure(name, args))
    print(markdown(recs, args.batch_sizes))
    print("\nGF/s: full-convention model FLOPs (2 x MACs; x3 for a training step) per second; "
          "%peak: against the 2048^2 fp32 matmul timed around each model.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(recs, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
