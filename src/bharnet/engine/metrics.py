"""Evaluation: accuracies, score files keyed by sample name, score ensembles, confusion-matrix plots."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.sample import DataFormatError
from ..utils.files import atomic_path
from ..utils.plotting import pyplot, save_figure

__all__ = ["accuracy_report", "save_scores", "load_scores", "ensemble_scores", "plot_confusion",
           "plot_confusion_panels", "format_report"]


def accuracy_report(scores: np.ndarray, labels: np.ndarray, num_classes: int | None = None,
                    subset: tuple[str, list[int]] | None = None) -> dict:
    """Top-1, top-5, mean class accuracy, per-class accuracy and (optionally) the top-1 on a named class
    subset (samples of those classes, predictions over all classes). ``scores`` ``(N, K)``."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    k = num_classes or scores.shape[1]
    pred = scores.argmax(axis=1)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    per_class = np.full(k, np.nan)
    for c in range(k):
        mask = labels == c
        if mask.any():
            per_class[c] = float((pred[mask] == c).mean())
    out = dict(samples=int(len(labels)), top1=float((pred == labels).mean()),
               top5=float((top5 == labels[:, None]).any(axis=1).mean()),
               mean_class=float(np.nanmean(per_class)), per_class=[None if np.isnan(v) else v for v in per_class])
    if subset is not None:
        name, classes = subset
        mask = np.isin(labels, classes)
        out[f"top1_{name}"] = float((pred[mask] == labels[mask]).mean()) if mask.any() else None
        out[f"samples_{name}"] = int(mask.sum())
    return out


def save_scores(path: str | Path, names: list[str], labels: np.ndarray, scores: dict[str, np.ndarray]) -> Path:
    """An ``.npz`` (no pickle) with ``names``, ``labels`` and one ``(N, K)`` array per branch (``logits`` = the
    fused output), written atomically."""
    path = Path(path)
    order = np.argsort(np.asarray(names))
    arrays = {"names": np.asarray(names)[order], "labels": np.asarray(labels, np.int64)[order]}
    arrays.update({f"score_{k}": np.asarray(v, np.float32)[order] for k, v in scores.items()})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_scores(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise DataFormatError(path, f"not a score file ({e})") from None
    if "names" not in data or "labels" not in data:
        raise DataFormatError(path, "not a score file (needs 'names' and 'labels')")
    scores = {k.removeprefix("score_"): v for k, v in data.items() if k.startswith("score_")}
    if not scores:
        raise DataFormatError(path, "holds no scores")
    n = len(data["names"])
    for k, v in scores.items():
        if v.ndim != 2 or v.shape[0] != n:
            raise DataFormatError(path, f"score {k!r} has shape {v.shape}, expected ({n}, K)")
    if len(set(data["names"].tolist())) != n:
        raise DataFormatError(path, "sample names repeat")
    return data["names"], data["labels"], scores


def ensemble_scores(paths: list[str | Path], weights: list[float] | None = None, branch: str = "logits",
                    softmax: bool = False, allow_missing: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Weighted sum of several streams' scores, matched by sample name (never by order).

    Returns names, labels, the fused ``(N, K)`` scores and per-file info. Raises if a sample is missing
    from a file (unless ``allow_missing``: then only the samples every file has are fused) or if two files
    disagree on a sample's label.
    """
    if not paths:
        raise ValueError("give at least one score file")
    weights = list(weights) if weights is not None else [1.0] * len(paths)
    if len(weights) != len(paths):
        raise ValueError(f"{len(paths)} score files but {len(weights)} weights")
    loaded = [load_scores(p) for p in paths]
    common = set(loaded[0][0].tolist())
    for (names, _, _), p in zip(loaded[1:], paths[1:]):
        other = set(names.tolist())
        if other != common and not allow_missing:
            raise ValueError(f"{p}: {len(common - other)} samples of {paths[0]} are missing and "
                             f"{len(other - common)} are extra (use --allow-missing to fuse the common ones)")
        common &= other
    names = np.array(sorted(common))
    fused, labels, info = None, None, []
    for (file_names, file_labels, scores), w, p in zip(loaded, weights, paths):
        if branch not in scores:
            raise ValueError(f"{p}: no branch {branch!r}; it has {', '.join(scores)}")
        index = {n: i for i, n in enumerate(file_names.tolist())}
        rows = np.array([index[n] for n in names])
        s = scores[branch][rows].astype(np.float64)
        if softmax:
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
        if labels is None:
            labels = file_labels[rows]
        elif not np.array_equal(labels, file_labels[rows]):
            bad = names[labels != file_labels[rows]][:3].tolist()
            raise ValueError(f"{p}: labels disagree with {paths[0]} for samples {bad}")
        if fused is None:
            fused = w * s
        else:
            if s.shape[1] != fused.shape[1]:
                raise ValueError(f"{p}: {s.shape[1]} classes, {paths[0]} has {fused.shape[1]}")
            fused = fused + w * s
        info.append(dict(path=str(p), weight=w, top1=float((s.argmax(1) == labels).mean())))
    return names, labels, fused, info


def plot_confusion(scores: np.ndarray, labels: np.ndarray, classes: list[int], class_names: list[str],
                   out: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix restricted to ``classes`` (rows: samples of those classes; columns:
    their predicted class, with every prediction outside the set counted under "other")."""
    plt = pyplot("the confusion plot")
    pred = np.asarray(scores).argmax(axis=1)
    k = len(classes)
    matrix = np.zeros((k, k + 1))
    for i, c in enumerate(classes):
        p = pred[labels == c]
        for j, d in enumerate(classes):
            matrix[i, j] = (p == d).sum()
        matrix[i, k] = (~np.isin(p, classes)).sum()
        matrix[i] /= max(len(p), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * (k + 1), 1.0 + 0.5 * k))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    labels_x = [class_names[c] for c in classes] + ["other"]
    ax.set_xticks(range(k + 1), labels_x, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), [class_names[c] for c in classes], fontsize=8)
    for i in range(k):
        for j in range(k + 1):
            if matrix[i, j] >= 0.005:
                ax.text(j, i, f"{100 * matrix[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion (% of the true class)", fontsize=9)
    return save_figure(fig, out)


def _confusion_matrix(pred: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Row-normalised ``(k, k)`` confusion matrix (rows: true class)."""
    matrix = np.zeros((k, k))
    np.add.at(matrix, (labels, pred), 1)
    return matrix / np.maximum(matrix.sum(1, keepdims=True), 1)


def plot_confusion_panels(panels: dict[str, np.ndarray], labels: np.ndarray, class_names: list[str],
                          groups: list[tuple[int, ...]] | None = None, out: str | Path = "confusion.png") -> Path:
    """Full confusion matrices of several score sets side by side (one panel per entry of ``panels``,
    scores ``(N, K)``), with lines between class ``groups`` and each panel's top-1 in its title."""
    plt = pyplot("the confusion plot")
    labels = np.asarray(labels)
    k = len(class_names)
    fig, axes = plt.subplots(1, len(panels), figsize=(1.5 + 4.6 * len(panels), 6.2), squeeze=False)
    bounds = np.cumsum([len(g) for g in groups])[:-1] - 0.5 if groups else []
    for i, (ax, (title, scores)) in enumerate(zip(axes[0], panels.items())):
        pred = np.asarray(scores).argmax(1)
        ax.imshow(_confusion_matrix(pred, labels, k), cmap="Blues", vmin=0, vmax=1)
        for b in bounds:
            ax.axhline(b, color="tab:red", lw=0.8)
            ax.axvline(b, color="tab:red", lw=0.8)
        ax.set_title(f"{title}: top-1 {100 * (pred == labels).mean():.1f}%", fontsize=10)
        ax.set_xticks(range(k), [str(c) for c in range(k)], fontsize=6)
        ax.set_xlabel("predicted class")
        if i == 0:
            ax.set_yticks(range(k), [f"{name} {c}" for c, name in enumerate(class_names)], fontsize=6)
            ax.set_ylabel("true class")
        else:
            ax.set_yticks(range(k), [str(c) for c in range(k)], fontsize=6)
    return save_figure(fig, out)


def format_report(reports: dict[str, dict], class_names: list[str] | None = None, per_class: bool = False) -> str:
    """A table of top-1 / top-5 / mean-class (and subset) accuracy per branch."""
    first = next(iter(reports.values()))
    extra = [k for k in first if k.startswith("top1_")]
    header = f"{'branch':18s} {'top-1':>7s} {'top-5':>7s} {'mean cls':>8s}" + "".join(f" {k[5:]:>14s}" for k in extra)
    lines = [header]
    for branch, r in reports.items():
        cells = "".join(f" {100 * r[k]:14.2f}" if r[k] is not None else f" {'-':>14s}" for k in extra)
        lines.append(f"{branch:18s} {100 * r['top1']:7.2f} {100 * r['top5']:7.2f} {100 * r['mean_class']:8.2f}{cells}")
    if per_class:
        r = reports.get("logits", first)
        lines.append("per-class top-1 (fused):")
        for c, v in enumerate(r["per_class"]):
            name = class_names[c] if class_names else str(c)
            lines.append(f"  {c:3d} {name:40s} {'-' if v is None else f'{100 * v:6.2f}'}")
    return "\n".join(lines)
