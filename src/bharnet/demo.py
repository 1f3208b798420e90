"""``bharnet demo``: the built-in fine-grained benchmark, end to end on a laptop CPU.

It generates the synthetic body + hand benchmark (:mod:`bharnet.datasets.synthetic`) into a dataset store and,
with the real training engine, follows the paper's recipe in two stages: (1) the body and hand experts,
trained side by side (score fusion: no shared parameters, no complementary loss); (2) BHaRNet-E fine-tuned
from them. It reports the accuracy of every branch overall and on the three class groups: body-distinct
actions (same hands), hand-distinct actions (same body motion) and the mixed factorial ones. ``full=True``
also fine-tunes joint training (complementary loss) and BHaRNet-P from the same experts: the Table III
ablation.

The models are CPU-sized: DeGCN trunks of width 16 (the paper's is 64), a 32-frame window (64) and a
4-head x 16 attention (8 x 64); everything else is the paper's design. Training: SGD, Nesterov, label
smoothing 0.1, cosine from lr 0.1 to zero per stage, gradient clipping at norm 5 (BHaRNet-E's attention,
trained at lr 0.1 without it, diverges within ten steps).

The default stream is ``bone``: on this benchmark, experts on the joint stream learned the hands' trajectories
but not their shapes within the budget (hand-distinct classes at chance after 6 epochs), while the bone stream,
which is translation-invariant, learned them (docs/tutorial.md has the measurements). ``modality="joint"``
runs the joint stream.

Each stage leaves its results in the output folder; a rerun reuses a finished stage with the same settings
and resumes an interrupted training run from its last epoch.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.store import DatasetStore, StoreError
from .datasets import synthetic

__all__ = ["DemoResult", "run_demo", "demo_config", "branch_scores", "group_table", "prepare_store", "train_or_reuse",
           "demo_streams", "CPU_MODEL", "MODELS"]

# The CPU-sized model (the paper's values in the module docstring).
CPU_MODEL = {"backbone": "degcn", "base_channels": 16, "num_frames": 32, "num_persons": 1}
_ATTENTION = {"heads": 4, "dim_head": 16}
EXPERTS = "score_fusion"  # stage 1: the two experts, trained side by side
MODELS = {  # model name -> extra constructor arguments
    "score_fusion": {},
    "joint_training": {},
    "bharnet_p": dict(_ATTENTION),
    "bharnet_e": dict(_ATTENTION, ffn_hidden=64),
}
TITLES = {"score_fusion": "Score fusion (separate experts)", "joint_training": "Joint training (+ L_cpl)",
          "bharnet_p": "BHaRNet-P", "bharnet_e": "BHaRNet-E"}
GROUP_TITLES = {"body": "body-distinct", "hand": "hand-distinct", "mixed": "mixed"}
DEFAULT_HAND_NORMALIZATION = "wrist"  # docs/architecture.md: the evidence


def demo_config(model: str, store: str | Path, out_dir: str | Path, *, seed: int = 0, epochs: int = 3,
                protocol: str = "xsub", modality: str = "bone", init: str | Path | None = None,
                progress: bool = True, benchmark: str = synthetic.DEFAULT_BENCHMARK,
                model_args: dict | None = None) -> dict:
    """The training config of one demo model (a plain engine config: ``bharnet train -c`` runs it too).
    ``init``: a trained two-expert checkpoint (stage 1) to start both backbones and expert heads from;
    ``model_args`` override the model's arguments (e.g. ``{"complementary_on": "all"}``)."""
    from .engine.config import DEFAULTS, merge_config

    if model not in MODELS:
        raise ValueError(f"unknown demo model {model!r}; choose from {', '.join(MODELS)}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    bench = synthetic.get_benchmark(benchmark)
    args = dict(CPU_MODEL, num_classes=len(bench.actions), **MODELS[model], **(model_args or {}))
    return merge_config(DEFAULTS, {
        "name": model, "out_dir": str(out_dir), "seed": int(seed),
        "data": {"store": str(store), "protocol": protocol, "window": CPU_MODEL["num_frames"], "modality": modality,
                 "streams": ["body", "hand"], "batch_size": 16, "test_batch_size": 64, "num_workers": 0},
        "model": {"name": model, "args": args},
        "init": {"body": str(init) if init else None, "hand": str(init) if init else None},
        "optim": {"lr": 0.1, "weight_decay": 4e-4},
        "schedule": {"warmup_epochs": 0, "cosine_period": int(epochs), "cosine_min_lr": None, "milestones": []},
        "trainer": {"epochs": int(epochs), "gradient_clip": 5.0, "eval_every": int(epochs), "log_every_n_steps": 10,
                    "progress": bool(progress)},
        "eval": {"class_names": list(bench.class_names)},
    })


# ------------------------------------------------------------------------------------------- scoring
def branch_scores(model: str, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows a model contributes to the table, from its saved per-branch scores ``(N, K)``."""
    if model == "bharnet_e":
        return {"E: body expert branch": scores["body_expert"], "E: hand expert branch": scores["hand_expert"],
                "E: interactive branches": scores["body_interactive"] + scores["hand_interactive"],
                "E: expert branches (light model)": scores["body_expert"] + scores["hand_expert"],
                "BHaRNet-E (all branches)": scores["logits"]}
    if model == "score_fusion":
        return {"body expert (alone)": scores["body"], "hand expert (alone)": scores["hand"],
                TITLES[model]: scores["logits"]}
    return {TITLES[model]: scores["logits"]}


def group_table(scores: np.ndarray, labels: np.ndarray, groups: dict[str, tuple[int, ...]] | None = None
                ) -> dict[str, float]:
    """Top-1 overall and on the samples of each class group (predictions over all classes; ``groups``:
    the default benchmark's unless given)."""
    pred = scores.argmax(1)
    out = {"overall": float((pred == labels).mean())}
    for group, classes in (groups or synthetic.GROUPS).items():
        mask = np.isin(labels, classes)
        out[group] = float((pred[mask] == labels[mask]).mean()) if mask.any() else float("nan")
    return out


def _costs(model_name: str, num_classes: int) -> dict[str, tuple[float, float]]:
    """(params M, GFLOPs) per table row, in the paper's convention (multiply-adds of conv/linear/norm)."""
    from .models import create_model
    from .profiler import profile_model

    def cost(m) -> tuple[float, float]:
        p = profile_model(m)
        return p.paper_params_m, p.paper_gmacs

    size = dict(CPU_MODEL, num_classes=num_classes)
    model = create_model(model_name, **size, **MODELS[model_name])
    body = cost(create_model("expert", stream="body", **size))
    hand_args = dict(size, num_persons=2)
    hand = cost(create_model("expert", stream="hand", **hand_args))
    total = cost(model)
    if model_name == "bharnet_e":
        light = cost(model.light())
        heads = 2 * (model.body_expert.fc.in_features + 1) * model.body_expert.fc.out_features / 1e6
        macs = 2 * model.body_expert.fc.in_features * model.body_expert.fc.out_features / 1e9
        return {"E: body expert branch": body, "E: hand expert branch": hand,
                "E: interactive branches": (total[0] - heads, total[1] - macs),
                "E: expert branches (light model)": light, "BHaRNet-E (all branches)": total}
    if model_name == "score_fusion":
        return {"body expert (alone)": body, "hand expert (alone)": hand, TITLES[model_name]: total}
    return {TITLES[model_name]: total}


# ------------------------------------------------------------------------------------------- result
@dataclass
class DemoResult:
    """Everything the demo measured; :meth:`markdown` is its report. ``rows`` maps a stream (``joint``,
    ``bone`` or ``J+B``, the two streams' scores summed) to its table rows."""

    out: Path
    seed: int
    protocol: str
    epochs: int
    store: Path
    modality: str
    counts: dict[str, int]
    benchmark: str = synthetic.DEFAULT_BENCHMARK
    hand_normalization: str = DEFAULT_HAND_NORMALIZATION
    rows: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # stream -> row -> group -> top-1
    costs: dict[str, tuple[float, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    confusion: Path | None = None

    @property
    def bench(self) -> synthetic.Benchmark:
        return synthetic.get_benchmark(self.benchmark)

    def table(self, markdown: bool = False) -> str:
        groups = self.bench.groups
        several = len(self.rows) > 1
        header = (["stream"] if several else []) + ["branch / model", "overall"] + [GROUP_TITLES[g] for g in groups]
        header += ["params (M)", "GFLOPs"]
        body = []
        for stream, rows in self.rows.items():
            factor = 2 if stream == "J+B" else 1
            for name, r in rows.items():
                params, flops = self.costs.get(name, (float("nan"), float("nan")))
                body.append(([stream] if several else []) + [name, *(f"{100 * r[k]:.1f}" for k in ("overall", *groups)),
                                                             f"{factor * params:.3f}", f"{factor * flops:.4f}"])
        chance = [f"{100 / len(self.bench.actions):.1f}", *(f"{100 / len(c):.1f}" for c in groups.values()), "", ""]
        chance = (["", "chance"] if several else ["chance"]) + chance
        body.append(chance)
        if markdown:
            lines = ["| " + " | ".join(header) + " |",
                     "|" + "|".join(["---"] * (1 + several) + ["---:"] * (len(header) - 1 - several)) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in body]
            return "\n".join(lines)
        widths = [max(len(str(row[i])) for row in [header] + body) for i in range(len(header))]
        fmt = "  ".join(f"{{:<{w}}}" if i <= several else f"{{:>{w}}}" for i, w in enumerate(widths))
        return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] +
                         [fmt.format(*row) for row in body])

    def markdown(self) -> str:
        bench = self.bench
        groups = "\n".join(f"- **{GROUP_TITLES[g]}** ({len(c)} classes): "
                           + ", ".join(bench.class_names[i] for i in c) for g, c in bench.groups.items())
        timing = ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items())
        confusion = f"\n![confusion matrices]({self.confusion.name})\n" if self.confusion else ""
        return f"""# bharnet demo — synthetic body + hand benchmark

Benchmark `{bench.name}`, seed {self.seed}, protocol `{self.protocol}` ({self.counts['train']} training /
{self.counts['test']} test clips, test subjects never seen in training), {self.modality} stream, hands
`{self.hand_normalization}`-normalised, {self.epochs} epochs per stage: the experts first, then the fine-tuned
models started from them (the paper's recipe). Store: `{self.store}`.

Top-1 accuracy (%) of the last epoch's weights on the test split, overall and on the samples of each class
group (predictions over all {len(bench.actions)} classes). Costs per sample in the paper's convention
(multiply-adds of conv/linear/norm layers; parameters of those layers; J+B: both streams).

{self.table(markdown=True)}

**CPU-sized models**: DeGCN trunks of width {CPU_MODEL['base_channels']} (paper: 64), a
{CPU_MODEL['num_frames']}-frame window (paper: 64), attention 4 heads x 16 (paper: 8 x 64). Train the paper's
sizes with the configs in `configs/`.

Class groups:
{groups}
{confusion}
Wall time: {timing}.
"""


# ------------------------------------------------------------------------------------------- running
def prepare_store(out: Path, seed: int, subjects: int, bench: synthetic.Benchmark, hand_normalization: str,
                   progress: bool) -> Path:
    store = out / "data" / f"synthetic_{bench.name}_seed{seed}_subjects{subjects}_{hand_normalization}.store"
    if store.exists():
        try:
            opened = DatasetStore(store)
            info = opened.manifest.get("info", {})
            same = {"generator_version": synthetic.GENERATOR_VERSION, "seed": seed, "benchmark": bench.name}
            if all(info.get(k) == v for k, v in same.items()) and opened.hand_normalization == hand_normalization:
                return store
        except StoreError:
            pass
    synthetic.generate_store(store, seed=seed, subjects=subjects, benchmark=bench,
                             hand_normalization=hand_normalization, overwrite=True, progress=progress)
    return store


def train_or_reuse(config: dict, say=print) -> dict[str, np.ndarray]:
    """Train one model unless a finished run with the same config exists; resume an interrupted one."""
    from .engine.config import dump_config
    from .engine.metrics import load_scores
    from .engine.run import fit, run_dir

    folder = run_dir(config)
    scores_file, saved = folder / "scores_last.npz", folder / "config.yaml"
    same = saved.exists() and saved.read_text() == dump_config(config)
    if same and scores_file.exists():
        say(f"{config['name']}: reusing the finished run in {folder}")
    else:
        resume = same and (folder / "checkpoints" / "last.ckpt").exists()
        say(f"{config['name']}: {'resuming' if resume else 'training'} -> {folder}")
        fit(config, resume=resume, overwrite=not resume)
    _, labels, scores = load_scores(scores_file)
    scores["_labels"] = labels
    return scores


def demo_streams(modality: str) -> tuple[str, ...]:
    """``"joint+bone"`` -> both streams; any single modality -> itself."""
    from .data.transforms import MODALITIES

    streams = tuple(modality.split("+"))
    if not streams or any(m not in MODALITIES for m in streams) or len(set(streams)) != len(streams):
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)} or two of them joined by '+' "
                         f"(e.g. joint+bone), got {modality!r}")
    return streams


def run_demo(out: str | Path = "runs/demo", *, seed: int = 0, full: bool = False, epochs: int = 3,
             subjects: int | None = None, protocol: str = "xsub", modality: str = "bone",
             benchmark: str = synthetic.DEFAULT_BENCHMARK, hand_normalization: str = DEFAULT_HAND_NORMALIZATION,
             model_args: dict | None = None, progress: bool = True, say=print) -> DemoResult:
    """Generate, train (experts, then the fine-tuned models), evaluate and report; returns the measurements
    (also written to ``out``: report.md, results.json, confusion.png, configs/, runs/). ``modality="joint+bone"``
    trains every model on both streams (run folders ``<model>_<stream>``) and adds their ensemble.
    ``model_args`` go to the fine-tuned models (e.g. ``{"complementary_on": "all"}``)."""
    from .engine.config import dump_config
    from .engine.metrics import plot_confusion_panels

    streams = demo_streams(modality)
    bench = synthetic.get_benchmark(benchmark)
    subjects = bench.subjects if subjects is None else int(subjects)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    say(f"[1/4] synthetic benchmark '{bench.name}' (seed {seed}, {subjects} subjects x 3 views x "
        f"{len(bench.actions)} classes, hands {hand_normalization}-normalised)")
    store = prepare_store(out, seed, subjects, bench, hand_normalization, progress)
    timings["data"] = time.perf_counter() - start
    opened = DatasetStore(store)
    result = DemoResult(out=out, seed=seed, protocol=protocol, epochs=epochs, store=store, modality=modality,
                        counts={"train": len(opened.split(protocol, "train")),
                                "test": len(opened.split(protocol, "test"))},
                        benchmark=bench.name, hand_normalization=hand_normalization)

    def train(name: str, stream: str, init: Path | None) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        config = demo_config(name, store, out / "runs", seed=seed, epochs=epochs, protocol=protocol,
                             modality=stream, init=init, progress=progress, benchmark=bench.name,
                             model_args=None if name == EXPERTS else model_args)
        if len(streams) > 1:
            config["name"] = f"{name}_{stream}"
        (out / "configs").mkdir(exist_ok=True)
        (out / "configs" / f"{config['name']}.yaml").write_text(dump_config(config))
        scores = train_or_reuse(config, say)
        timings[config["name"]] = time.perf_counter() - t0
        return scores

    size = f"CPU-sized: DeGCN width {CPU_MODEL['base_channels']}, {CPU_MODEL['num_frames']} frames"
    models = [m for m in MODELS if m != EXPERTS] if full else ["bharnet_e"]
    all_scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for stream in streams:
        say(f"[2/4] stage 1: body and hand experts ({epochs} epochs, {size}, {stream} stream)")
        all_scores[stream] = {EXPERTS: train(EXPERTS, stream, None)}
        experts = out / "runs" / (EXPERTS if len(streams) == 1 else f"{EXPERTS}_{stream}") / "last.pt"
        say(f"[3/4] stage 2: {', '.join(models)} fine-tuned from the experts ({epochs} epochs each, {stream} stream)")
        for name in models:
            all_scores[stream][name] = train(name, stream, experts)

    say("[4/4] evaluating")
    labels = None
    rows: dict[str, dict[str, np.ndarray]] = {}
    for stream, per_model in all_scores.items():
        rows[stream] = {}
        for name, scores in per_model.items():
            labels = scores.pop("_labels")
            rows[stream].update(branch_scores(name, scores))
            if stream == streams[0]:
                result.costs.update(_costs(name, len(bench.actions)))
    if len(streams) > 1:  # the paper's J+B: the two streams' scores summed, row by row
        rows["J+B"] = {row: sum(rows[s][row] for s in streams) for row in rows[streams[0]]}
    result.rows = {stream: {row: group_table(s, labels, bench.groups) for row, s in r.items()}
                   for stream, r in rows.items()}
    last = list(rows)[-1]
    panels = {"body expert": rows[last]["body expert (alone)"], "hand expert": rows[last]["hand expert (alone)"],
              "BHaRNet-E": rows[last]["BHaRNet-E (all branches)"]}
    try:
        result.confusion = plot_confusion_panels(panels, labels, list(bench.class_names),
                                                 list(bench.groups.values()), out / "confusion.png")
    except ImportError as err:
        say(f"(no confusion plot: {err})")
    timings["total"] = time.perf_counter() - start
    result.timings = timings
    (out / "report.md").write_text(result.markdown())
    (out / "results.json").write_text(json.dumps({
        "seed": seed, "protocol": protocol, "modality": modality, "benchmark": bench.name,
        "hand_normalization": hand_normalization, "epochs": epochs, "rows": result.rows, "costs": result.costs,
        "timings": timings, "counts": result.counts}, indent=1))
    return result


def next_steps(out: Path) -> str:
    return f"""Next:
  open {out / 'report.md'} and {out / 'confusion.png'}
  bharnet demo --full                       # the Table III ablation: + joint training and BHaRNet-P
  bharnet demo --modality joint --out runs/demo_joint   # the joint stream
  bharnet train -c {out / 'configs' / 'bharnet_e.yaml'} trainer.epochs=20 name=longer   # the same run, longer
  bharnet predict <video> --ckpt {out / 'runs' / 'bharnet_e' / 'best.pt'} --sheet sheet.png   # docs/deploy.md
  bharnet data prepare ntu120 --skeletons <folder> --out stores/ntu120.store   # real data: docs/tutorial.md
  bharnet train -c configs/ntu120_xsub/body_expert_joint.yaml"""
