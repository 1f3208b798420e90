#!/usr/bin/env python
"""The demo's benchmark as an ablation: BHaRNet-E's complementary-loss readings x hand normalisations x streams.

For each seed, stream and hand normalisation, the body and hand experts are trained once (the demo's stage 1,
score fusion), then BHaRNet-E is fine-tuned from them once per reading of its complementary term
(``complementary_on`` x ``fusion``, see :class:`bharnet.models.bharnet.BHaRNetE`). Every run is the demo's own
config (CPU-sized DeGCN, 3 + 3 epochs by default), so one cell of the table is what ``bharnet demo`` prints.
Two controls are fine-tuned from the same experts for the same 3 epochs: score fusion itself (the experts
trained on, still separately: "score fusion +3"), so that E is not compared with experts that trained for half
as long, and joint training (the complementary loss on the two experts' mean, Table III's "Score fusion
w/ L_c").

The table gives, per cell, the mean and the spread (min-max) over seeds of: the experts alone, score fusion,
the two controls, E's expert branches each alone and together (the light model), E's interactive branches, and
E with all branches; and the hand expert on the hand-distinct classes. An experiment, not a test: it prints
what it measures.

The bone stream does not depend on the hand normalisation (bones are differences of joints of one hand in one
frame; tested), so it runs once, under ``palm``.

Runs are reused when their config is unchanged and resumed when interrupted (the demo's rule), so the script can
be stopped and restarted at any time; ``--jobs 2`` trains two models at a time on one thread each.

    python benchmarks/ablation.py --out runs/ablation                      # the full grid (hours on 2 cores)
    python benchmarks/ablation.py --out runs/ablation --seeds 0 --cells bone/palm --readings all/sum,experts/sum
    python benchmarks/ablation.py --out runs/ablation --table-only         # the table from finished runs
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bharnet.data import synthetic
from bharnet.demo import EXPERTS, demo_config, group_table, prepare_store, train_or_reuse

CELLS = ("bone/palm", "joint/palm", "joint/wrist")
READINGS = ("all/sum", "all/mean", "experts/sum", "experts/mean", "experts+all/sum")
CONTROLS = ("score_fusion", "joint_training")  # fine-tuned from the experts like E
ROWS = ("body expert", "hand expert", "score fusion", "score fusion +3", "joint training", "E body expert branch",
        "E hand expert branch", "E expert branches (light)", "E interactive branches", "E all branches")


def _task(task: dict) -> str:
    import torch

    torch.set_num_threads(task["threads"])
    train_or_reuse(task["config"], say=lambda *_: None)
    return task["config"]["name"]


def _config(out: Path, bench: str, seed: int, cell: str, epochs: int, reading: str | None) -> dict:
    """``reading``: None (the experts), a control model name, or a BHaRNet-E ``complementary_on/fusion``."""
    modality, norm = cell.split("/")
    spec = synthetic.get_benchmark(bench)
    store = prepare_store(out, seed, spec.subjects, spec, norm, progress=False)
    folder = out / "runs" / f"seed{seed}" / f"{modality}_{norm}"
    if reading is None:
        return demo_config(EXPERTS, store, folder, seed=seed, epochs=epochs, modality=modality, progress=False,
                           benchmark=bench)
    if reading in CONTROLS:
        config = demo_config(reading, store, folder, seed=seed, epochs=epochs, modality=modality, progress=False,
                             benchmark=bench, init=folder / EXPERTS / "last.pt")
        config["name"] = f"{reading}_finetuned"
        return config
    target, fusion = reading.split("/")
    config = demo_config("bharnet_e", store, folder, seed=seed, epochs=epochs, modality=modality, progress=False,
                         benchmark=bench, init=folder / EXPERTS / "last.pt",
                         model_args={"complementary_on": target, "fusion": fusion})
    config["name"] = f"bharnet_e_{target.replace('+', '_')}_{fusion}"
    return config


def _scores(config: dict):
    from bharnet.engine.metrics import load_scores
    from bharnet.engine.run import run_dir

    path = run_dir(config) / "scores_last.npz"
    return load_scores(path)[1:] if path.exists() else None


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


def table(out: Path, bench: str, seeds: list[int], cells: list[str], readings: list[str], epochs: int) -> dict:
    groups = synthetic.get_benchmark(bench).groups
    results: dict = {}
    for cell in cells:
        for seed in seeds:
            got = _scores(_config(out, bench, seed, cell, epochs, None))
            if got is None:
                continue
            labels, s = got
            base = {"body expert": group_table(s["body"], labels, groups),
                    "hand expert": group_table(s["hand"], labels, groups),
                    "score fusion": group_table(s["logits"], labels, groups)}
            for control, row in zip(CONTROLS, ("score fusion +3", "joint training")):
                got = _scores(_config(out, bench, seed, cell, epochs, control))
                if got is not None:
                    base[row] = group_table(got[1]["logits"], got[0], groups)
            for reading in readings:
                e = _scores(_config(out, bench, seed, cell, epochs, reading))
                if e is None:
                    continue
                labels_e, se = e
                rows = dict(base)
                rows["E body expert branch"] = group_table(se["body_expert"], labels_e, groups)
                rows["E hand expert branch"] = group_table(se["hand_expert"], labels_e, groups)
                rows["E expert branches (light)"] = group_table(se["body_expert"] + se["hand_expert"], labels_e, groups)
                rows["E interactive branches"] = group_table(se["body_interactive"] + se["hand_interactive"],
                                                             labels_e, groups)
                rows["E all branches"] = group_table(se["logits"], labels_e, groups)
                results.setdefault(cell, {}).setdefault(reading, {})[seed] = rows
    return results


def format_table(results: dict, group: str = "overall") -> str:
    """One row per (cell, reading), one column per model / branch: top-1 on ``group`` (``overall``, ``body``,
    ``hand`` or ``mixed``), mean (min-max) over seeds."""
    lines = [f"Top-1 (%), {group}: mean (min-max) over seeds", "",
             "| stream / hands | E reading | seeds | " + " | ".join(ROWS) + " |",
             "|---|---|---:|" + "---:|" * len(ROWS)]
    for cell, per_reading in results.items():
        for reading, per_seed in per_reading.items():
            cols = [_summary([r[row][group] for r in per_seed.values() if row in r]) for row in ROWS]
            lines.append(f"| {cell} | {reading} | {len(per_seed)} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/ablation", help="output folder (default runs/ablation)")
    p.add_argument("--benchmark", default=synthetic.DEFAULT_BENCHMARK, choices=tuple(synthetic.BENCHMARKS))
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--cells", default=",".join(CELLS), help=f"stream/hands cells (default {','.join(CELLS)})")
    p.add_argument("--readings", default=",".join(READINGS),
                   help=f"complementary_on/fusion readings of BHaRNet-E (default {','.join(READINGS)})")
    p.add_argument("--epochs", type=int, default=3, help="epochs per stage (default 3, the demo's)")
    p.add_argument("--jobs", type=int, default=1, help="models trained at a time (default 1)")
    p.add_argument("--table-only", action="store_true", help="print the table of the finished runs, train nothing")
    args = p.parse_args(argv)
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    cells, readings = args.cells.split(","), args.readings.split(",")
    for cell in cells:
        if cell.split("/")[0] not in ("joint", "bone") or cell.split("/")[-1] not in ("palm", "wrist"):
            p.error(f"--cells: {cell!r} is not <joint|bone>/<palm|wrist>")
    for reading in readings:
        target, _, fusion = reading.partition("/")
        if target not in ("all", "experts", "experts+all") or fusion not in ("sum", "mean"):
            p.error(f"--readings: {reading!r} is not <all|experts|experts+all>/<sum|mean>")
    if not args.table_only:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        stages = [[(s, c, None) for c in cells for s in seeds],
                  [(s, c, r) for c in cells for s in seeds for r in readings + list(CONTROLS)]]
        for number, stage in enumerate(stages, 1):
            tasks = [{"config": _config(out, args.benchmark, s, c, args.epochs, r), "threads": threads}
                     for s, c, r in stage]
            print(f"stage {number}/2: {len(tasks)} runs ({'experts' if number == 1 else 'E readings, controls'})",
                  flush=True)
            with ProcessPoolExecutor(args.jobs) as pool:
                for k, name in enumerate(pool.map(_task, tasks), 1):
                    print(f"  {k}/{len(tasks)} {name}", flush=True)
    results = table(out, args.benchmark, seeds, cells, readings, args.epochs)
    text = "\n\n".join(format_table(results, g) for g in ("overall", "body", "hand", "mixed"))
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
