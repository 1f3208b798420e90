"""``fit`` and ``evaluate``: a config in, a run folder out.

Run folder ``<out_dir>/<name>/``::

    config.yaml                the full config of the run
    checkpoints/last.ckpt      Lightning checkpoint after every epoch (resume with --resume)
    checkpoints/best.ckpt      best validation top-1
    best.pt / last.pt          model weights in bharnet's safe format (bharnet.load_checkpoint, init.body=...)
    scores_best.npz            test scores per branch, keyed by sample name (bharnet ensemble)
    metrics.json, report.txt   accuracies (overall, mean class, per class, subset, per branch)
    curve.png, confusion.png   training curve; confusion matrix of eval.confusion_classes
    logs/version_N/metrics.csv, tb/version_N/   CSV and TensorBoard logs, one version per session

Checkpoints are written to a temporary file and renamed, and read back with ``weights_only=True``.
"""
from __future__ import annotations

import csv
import json
import logging
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..checkpoint import save_checkpoint
from ..datasets.classes import class_names, resolve_subset
from ..models import load_checkpoint
from ..utils.files import atomic_path
from ..utils.plotting import pyplot, save_figure
from .config import dump_config
from .metrics import accuracy_report, format_report, plot_confusion, save_scores
from .module import BHaRNetModule, SkeletonDataModule

__all__ = ["fit", "evaluate", "run_dir", "AtomicCheckpointIO"]


class _DropAdverts(logging.Filter):
    """Lightning's logs keep the device summary but not its product tip."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


_LIGHTNING_LOGGERS = ("lightning_utilities.core.rank_zero", "lightning.pytorch.utilities.rank_zero",
                      "lightning.fabric.utilities.rank_zero")


def _quiet_lightning() -> None:
    """Filter Lightning's product tip and a deprecation warning it raises itself (a Lightning matter, not the
    user's). Installed when the first trainer is built, not when bharnet is imported, so that a program that only
    imports bharnet keeps its own logging and warnings as they were."""
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")  # re-adding replaces, never stacks


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written atomically (temporary file, fsync, rename) and loaded without
    executing pickled code (``torch.load(weights_only=True)``)."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            return torch.load(path, map_location=map_location or "cpu", weights_only=True)
        except Exception as e:
            raise ValueError(f"{path}: not a loadable checkpoint, or it holds more than tensors and plain data "
                             f"({type(e).__name__}: {str(e)[:200]})") from None


def run_dir(config: dict) -> Path:
    return Path(config["out_dir"]) / (config["name"] or "run")


def _trainer(config: dict, folder: Path, extra_callbacks: list | None = None, logging: bool = True) -> L.Trainer:
    _quiet_lightning()
    t = config["trainer"]
    # "last" after every epoch (what --resume continues from); "best" whenever the test top-1 improves.
    callbacks = [ModelCheckpoint(dirpath=folder / "checkpoints", filename="best", monitor="val/top1", mode="max",
                                 save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False),
                 ModelCheckpoint(dirpath=folder / "checkpoints", filename="last", monitor=None, save_top_k=1,
                                 save_on_train_epoch_end=True, enable_version_counter=False)]
    if t["progress"]:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, t["log_every_n_steps"] // 4)))
    callbacks.extend(extra_callbacks or [])
    loggers = []
    if logging:
        from lightning.pytorch.loggers import CSVLogger

        # One version folder per session (logs/version_N), so that a resumed run never overwrites the logs
        # of the sessions before it; _plot_curve merges them.
        loggers.append(CSVLogger(folder, name="logs"))
        try:
            import tensorboard  # noqa: F401
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(folder, name="tb"))
        except ImportError:
            pass
    precision = t["precision"]
    if precision == "auto":
        precision = "16-mixed" if torch.cuda.is_available() and t["accelerator"] in ("auto", "gpu", "cuda") \
            else "32-true"
    return L.Trainer(
        max_epochs=t["epochs"], accelerator=t["accelerator"], devices=t["devices"], num_nodes=t["num_nodes"],
        strategy=t["strategy"], precision=precision, gradient_clip_val=t["gradient_clip"] or None,
        # GPUs: torch's SyncBatchNorm; CPU processes: BHaRNetModule.configure_model converts to ours.
        sync_batchnorm=bool(t["sync_batchnorm"]) and torch.cuda.is_available() and t["accelerator"] != "cpu",
        check_val_every_n_epoch=t["eval_every"], log_every_n_steps=t["log_every_n_steps"],
        enable_progress_bar=bool(t["progress"]), callbacks=callbacks, logger=loggers or False,
        plugins=[AtomicCheckpointIO()], use_distributed_sampler=False, num_sanity_val_steps=0,
        limit_train_batches=t["limit_train_batches"], limit_val_batches=t["limit_val_batches"],
        enable_model_summary=False, deterministic=False)


def fit(config: dict, *, resume: bool = False, overwrite: bool = False, callbacks: list | None = None) -> dict:
    """Train as configured; returns the final report (also written to the run folder)."""
    folder = run_dir(config)
    last = folder / "checkpoints" / "last.ckpt"
    if last.exists() and not resume and not overwrite:
        raise FileExistsError(f"{folder} already holds a run; --resume to continue it, or set another name= / "
                              "out_dir=, or --overwrite")
    if resume and not last.exists():
        raise FileNotFoundError(f"nothing to resume: {last} does not exist")
    if overwrite and not resume and folder.exists():
        import shutil

        for sub in ("checkpoints", "logs", "tb"):
            shutil.rmtree(folder / sub, ignore_errors=True)
    L.seed_everything(config["seed"], workers=True, verbose=False)
    data = SkeletonDataModule(config["data"], seed=config["seed"])
    if config["eval"]["class_names"] is None and config["data"].get("store"):
        from ..data.store import DatasetStore

        stored = DatasetStore(config["data"]["store"]).class_names  # e.g. a user's class folders
        if stored:  # into the run's config, so that its checkpoints name their classes without the store
            config = dict(config, eval=dict(config["eval"], class_names=stored))
    module = BHaRNetModule(config, data.num_classes)
    for stream in ("body", "hand"):
        source = config["init"][stream]
        if source:
            if not hasattr(module.model, "load_expert"):
                raise ValueError(f"init.{stream}: model {config['model']['name']!r} is not a dual-stream model")
            module.model.load_expert(source, stream)
    for stream in ("joint", "bone"):  # BHaRNet-M: its trained skeleton models
        source = config["init"][stream]
        if source:
            if not hasattr(module.model, "load_skeleton"):
                raise ValueError(f"init.{stream}: only BHaRNet-M (bharnet_m) has a {stream} skeleton model")
            module.model.load_skeleton(source, stream)
    trainer = _trainer(config, folder, callbacks)
    if trainer.is_global_zero:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(dump_config(config))
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume else None)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        return {}
    report = {"train_seconds_this_session": seconds, "epochs": config["trainer"]["epochs"]}
    for which in ("last", "best"):
        ckpt = folder / "checkpoints" / f"{which}.ckpt"
        if ckpt.exists():
            state = AtomicCheckpointIO().load_checkpoint(ckpt)
            module.load_state_dict(state["state_dict"])
            epoch = int(state.get("bharnet_eval_epoch", state["epoch"]))  # 0-based epoch of those weights
            save_checkpoint(folder / f"{which}.pt", module.model,
                            extra={"config": config, "epoch": epoch, "preprocessing": data.preprocessing()})
            report[which] = _final_evaluation(config, module, data, folder, which, epoch)
    _plot_curve(folder)
    (folder / "metrics.json").write_text(json.dumps(report, indent=1))
    return report


def _final_evaluation(config: dict, module: BHaRNetModule, data: SkeletonDataModule, folder: Path, which: str,
                      epoch: int) -> dict:
    """Evaluate on the test split in this process; write scores, report and (for best) the confusion plot."""
    module.eval()
    loader = torch.utils.data.DataLoader(data.test_set, batch_size=config["data"]["test_batch_size"],
                                         num_workers=0)
    names, labels, scores = [], [], {}
    dtype = next(module.parameters()).dtype  # 64-true training leaves the module in float64
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v for k, v in batch.items()}
            out = module(batch)
            names.extend(batch["name"])
            labels.append(batch["label"].numpy())
            scores.setdefault("logits", []).append(out.logits.float().numpy())
            if len(out.branches) > 1:
                for name, logits in out.branches.items():
                    scores.setdefault(name, []).append(logits.float().numpy())
    labels = np.concatenate(labels)
    scores = {k: np.concatenate(v) for k, v in scores.items()}
    save_scores(folder / f"scores_{which}.npz", names, labels, scores)
    return _report(config, scores, labels, data.num_classes, folder, which, epoch)


def _report(config: dict, scores: dict, labels: np.ndarray, num_classes: int, folder: Path, which: str,
            epoch: int) -> dict:
    subset = resolve_subset(config["eval"]["subset"])
    reports = {k: accuracy_report(v, labels, num_classes, subset) for k, v in scores.items()}
    names = class_names(config["eval"]["class_names"], num_classes)
    text = f"{config['name']} — {which} checkpoint (epoch {epoch}), {len(labels)} test samples\n"
    text += format_report(reports, names, per_class=True)
    (folder / f"report_{which}.txt").write_text(text + "\n")
    confusion = resolve_subset(config["eval"]["confusion_classes"])
    if confusion is not None and which == "best":
        try:
            plot_confusion(scores["logits"], labels, confusion[1], names, folder / "confusion.png",
                           title=f"{config['name']} ({confusion[0]})")
        except ImportError:
            pass
    return {k: {m: v for m, v in r.items()} for k, r in reports.items()} | {"epoch": epoch}


def _read_logs(folder: Path) -> list[dict]:
    """Rows of every session's metrics.csv, oldest first (a later session's row wins for its epoch)."""
    files = sorted((folder / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    rows = []
    for f in files:
        rows.extend(csv.DictReader(f.open()))
    return rows


def _plot_curve(folder: Path) -> None:
    rows = _read_logs(folder)
    if not rows:
        return
    try:
        plt = pyplot("the training curve")
    except ImportError:
        return  # the curve is a convenience; the run folder's metrics are complete without it
    val = sorted({int(r["epoch"]): float(r["val/top1"]) for r in rows if r.get("val/top1")}.items())
    key = "train/loss_epoch" if any(r.get("train/loss_epoch") for r in rows) else "train/loss"
    loss: dict[int, list[float]] = {}
    for r in rows:
        if r.get(key):
            loss.setdefault(int(r["epoch"]), []).append(float(r[key]))
    if not val:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([e + 1 for e, _ in val], [100 * v for _, v in val], "o-", label="test top-1 (%)")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("top-1 (%)")
    ax2 = ax.twinx()
    ax2.plot([e + 1 for e in sorted(loss)], [np.mean(loss[e]) for e in sorted(loss)], "s--", color="tab:red",
             label="train loss")
    ax2.set_ylabel("train loss")
    best = max(val, key=lambda x: x[1])
    ax.set_title(f"{folder.name}: last {100 * val[-1][1]:.2f}%, best {100 * best[1]:.2f}% (epoch {best[0] + 1})",
                 fontsize=9)
    fig.legend(loc="lower center", ncol=2, fontsize=8)
    save_figure(fig, folder / "curve.png", rect=(0, 0.08, 1, 1))


def evaluate(config: dict, ckpt: str | Path, out: str | Path | None = None) -> dict:
    """Test a checkpoint (a Lightning ``.ckpt`` or a bharnet ``.pt``) on the config's test split."""
    data = SkeletonDataModule(config["data"], seed=config["seed"])
    module = BHaRNetModule(config, data.num_classes)
    ckpt = Path(ckpt)
    if ckpt.suffix == ".ckpt":
        module.load_state_dict(AtomicCheckpointIO().load_checkpoint(ckpt)["state_dict"])
        epoch = -1
    else:
        load_checkpoint(ckpt, module.model)
        epoch = -1
    folder = Path(out) if out is not None else ckpt.parent
    folder.mkdir(parents=True, exist_ok=True)
    which = f"test_{ckpt.stem}"
    return _final_evaluation(config, module, data, folder, which, epoch)
