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

from bharnet.datasets import synthetic
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


def _config(out: Path, bench: str, seed: int, cell: str, epochs: int, reading: str | None,
            stage2_epochs: int | None = None) -> dict:
    """``reading``: None (the experts), a control model name, or a BHaRNet-E ``complementary_on/fusion``.
    ``cell``: ``modality/hand normalisation[/zero]`` (``zero``: undetected hand frames zeroed,
    ``data.hand_missing``)."""
    modality, norm, *missing = cell.split("/")
    spec = synthetic.get_benchmark(bench)
    store = prepare_store(out, seed, spec.subjects, spec, norm, progress=False)
    folder = out / "runs" / f"seed{seed}" / "_".join([modality, norm, *missing])
    longer = stage2_epochs if stage2_epochs not in (None, epochs) else None
    suffix = f"_{longer}ep" if longer else ""
    if reading is None:
        config = demo_config(EXPERTS, store, folder, seed=seed, epochs=epochs, modality=modality, progress=False,
                             benchmark=bench)
    elif reading in CONTROLS:
        config = demo_config(reading, store, folder, seed=seed, epochs=longer or epochs, modality=modality,
                             progress=False, benchmark=bench, init=folder / EXPERTS / "last.pt")
        config["name"] = f"{reading}_finetuned{suffix}"
    else:
        target, fusion = reading.split("/")
        config = demo_config("bharnet_e", store, folder, seed=seed, epochs=longer or epochs, modality=modality,
                             progress=False, benchmark=bench, init=folder / EXPERTS / "last.pt",
                             model_args={"complementary_on": target, "fusion": fusion})
        config["name"] = f"bharnet_e_{target.replace('+', '_')}_{fusion}{suffix}"
    if missing:
        config["data"]["hand_missing"] = missing[0]
    return config


def _scores(config: dict):
    """``(names, labels, scores)`` of a finished run, None if it has not finished."""
    from bharnet.engine.metrics import load_scores
    from bharnet.engine.run import run_dir

    path = run_dir(config) / "scores_last.npz"
    return load_scores(path) if path.exists() else None


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


JB = ("joint/wrist", "bone/palm")  # the J+B ensemble: the default hand normalisation's joint stream + bone


def _row_scores(out: Path, bench: str, seed: int, cell: str, epochs: int, readings: list[str],
                stage2: int | None = None) -> dict:
    """reading -> (names, labels, row -> scores ``(N, K)``) of one cell and seed; rows missing where runs are."""
    got = _scores(_config(out, bench, seed, cell, epochs, None))
    if got is None:
        return {}
    names, labels, s = got
    base = {"body expert": s["body"], "hand expert": s["hand"], "score fusion": s["logits"]}
    for control, row in zip(CONTROLS, ("score fusion +3", "joint training")):
        c = _scores(_config(out, bench, seed, cell, epochs, control, stage2))
        if c is not None:
            base[row] = c[2]["logits"]
    out_rows = {}
    for reading in readings:
        e = _scores(_config(out, bench, seed, cell, epochs, reading, stage2))
        if e is None:
            continue
        se = e[2]
        out_rows[reading] = (names, labels, dict(base, **{
            "E body expert branch": se["body_expert"], "E hand expert branch": se["hand_expert"],
            "E expert branches (light)": se["body_expert"] + se["hand_expert"],
            "E interactive branches": se["body_interactive"] + se["hand_interactive"],
            "E all branches": se["logits"]}))
    return out_rows


def table(out: Path, bench: str, seeds: list[int], cells: list[str], readings: list[str], epochs: int,
          stage2: int | None = None) -> dict:
    """cell -> reading -> seed -> row -> group -> top-1; with ``J+B`` (the two streams' scores summed) when both
    cells of :data:`JB` are there."""
    groups = synthetic.get_benchmark(bench).groups
    raw = {cell: {seed: _row_scores(out, bench, seed, cell, epochs, readings, stage2) for seed in seeds}
           for cell in cells}
    if all(c in raw for c in JB):
        raw["J+B"] = {}
        for seed in seeds:
            joint, bone = raw[JB[0]][seed], raw[JB[1]][seed]
            raw["J+B"][seed] = {}
            for reading in [r for r in readings if r in joint and r in bone]:
                (nj, lj, rj), (nb, _, rb) = joint[reading], bone[reading]
                if list(nj) != list(nb):
                    raise ValueError(f"seed {seed}: the joint and bone runs scored different samples")
                raw["J+B"][seed][reading] = (nj, lj, {row: rj[row] + rb[row] for row in rj if row in rb})
    results: dict = {}
    for cell, per_seed in raw.items():
        for seed, per_reading in per_seed.items():
            for reading, (_, labels, rows) in per_reading.items():
                results.setdefault(cell, {}).setdefault(reading, {})[seed] = {
                    row: group_table(scores, labels, groups) for row, scores in rows.items()}
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
    p.add_argument("--cells", default=",".join(CELLS),
                   help=f"stream/hands[/zero] cells (default {','.join(CELLS)}; /zero: undetected hand frames zeroed)")
    p.add_argument("--controls", action=argparse.BooleanOptionalAction, default=True,
                   help="also fine-tune the two controls (score fusion +3 epochs, joint training; default on)")
    p.add_argument("--readings", default=",".join(READINGS),
                   help=f"complementary_on/fusion readings of BHaRNet-E (default {','.join(READINGS)})")
    p.add_argument("--epochs", type=int, default=3, help="epochs per stage (default 3, the demo's)")
    p.add_argument("--stage2-epochs", type=int,
                   help="epochs of the fine-tuned models (default: --epochs), from the same --epochs experts")
    p.add_argument("--jobs", type=int, default=1, help="models trained at a time (default 1)")
    p.add_argument("--table-only", action="store_true", help="print the table of the finished runs, train nothing")
    args = p.parse_args(argv)
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    cells, readings = args.cells.split(","), args.readings.split(",")
    for cell in cells:
        parts = cell.split("/")
        if not (2 <= len(parts) <= 3 and parts[0] in ("joint", "bone") and parts[1] in ("palm", "wrist")
                and parts[2:] in ([], ["zero"])):
            p.error(f"--cells: {cell!r} is not <joint|bone>/<palm|wrist>[/zero]")
    for reading in readings:
        target, _, fusion = reading.partition("/")
        if target not in ("all", "experts", "experts+all") or fusion not in ("sum", "mean"):
            p.error(f"--readings: {reading!r} is not <all|experts|experts+all>/<sum|mean>")
    if not args.table_only:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        stages = [[(s, c, None) for c in cells for s in seeds],
                  [(s, c, r) for c in cells for s in seeds
                   for r in readings + (list(CONTROLS) if args.controls else [])]]
        for number, stage in enumerate(stages, 1):
            tasks = [{"config": _config(out, args.benchmark, s, c, args.epochs, r, args.stage2_epochs),
                      "threads": threads}
                     for s, c, r in stage]
            print(f"stage {number}/2: {len(tasks)} runs ({'experts' if number == 1 else 'E readings, controls'})",
                  flush=True)
            with ProcessPoolExecutor(args.jobs) as pool:
                for k, name in enumerate(pool.map(_task, tasks), 1):
                    print(f"  {k}/{len(tasks)} {name}", flush=True)
    results = table(out, args.benchmark, seeds, cells, readings, args.epochs, args.stage2_epochs)
    text = "\n\n".join(format_table(results, g) for g in ("overall", "body", "hand", "mixed"))
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
