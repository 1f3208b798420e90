"""Actions from a video: skeletons by MediaPipe (body by Pose mapped to NTU-25, hands by Hands), sliding
windows, a trained model (PyTorch checkpoint or exported ONNX file), top-k per window. The windows' inputs are
made in :mod:`bharnet.deploy.inputs`; a live camera or a file played as one is :mod:`bharnet.deploy.stream`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .inputs import ModelSpec, read_spec, roi_inputs, window_inputs

__all__ = ["Predictor", "WindowPrediction", "VideoPrediction", "NO_ACTION", "check_min_confidence", "is_no_action",
           "predict_video", "window_starts"]


class Predictor:
    """A trained model behind one call: ``predictor(batch)`` -> class probabilities.

    ``source`` is a bharnet checkpoint (PyTorch) or an ONNX file written by ``bharnet export`` (onnxruntime;
    its metadata carries the :class:`ModelSpec`).
    """

    def __init__(self, source: str | Path, threads: int | None = None) -> None:
        self.source = Path(source)
        self.backend = "onnx" if self.source.suffix == ".onnx" else "torch"
        if self.backend == "onnx":
            from .export import onnx_session

            self.session = onnx_session(self.source, threads)
            meta = self.session.get_modelmeta().custom_metadata_map
            if "bharnet_spec" not in meta:
                raise ValueError(f"{self.source}: no bharnet metadata in this ONNX file (export it with "
                                 "`bharnet export --onnx`)")
            try:
                self.spec = ModelSpec.from_json(meta["bharnet_spec"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{self.source}: unreadable bharnet metadata ({e}); export it again") from None
            self.outputs = [o.name for o in self.session.get_outputs()]
            self.provenance = None
        else:
            from ..models import load_checkpoint

            self.model = load_checkpoint(self.source).eval()
            extra = self.model.checkpoint_extra
            self.spec = read_spec(self.model, extra.get("config"), extra.get("preprocessing"))
            self.provenance = extra.get("source")

    def logits(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``batch``: stream -> ``(N, C, T, V, M)`` (``roi``: ``(N, 3, 225, 225)``) -> fused logits ``(N, K)``
        and the branches' logits."""
        if self.backend == "onnx":
            got = self.session.run(self.outputs, {k: batch[k] for k in self.spec.streams})
            return got[0], {k.removeprefix("logits_"): v for k, v in zip(self.outputs[1:], got[1:])}
        with torch.inference_mode():
            out = self.model(*[torch.from_numpy(batch[k]) for k in self.spec.streams])
        return out.logits.numpy(), {k: v.numpy() for k, v in out.branches.items()}

    def __call__(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fused class probabilities ``(N, K)`` and the branches' (softmax of :meth:`logits`)."""
        logits, branches = self.logits(batch)
        return _softmax(logits), {k: _softmax(v) for k, v in branches.items()}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


NO_ACTION = "no action"


def check_min_confidence(min_confidence: float) -> float:
    """``min_confidence`` if it is a probability, else a ValueError naming ``--min-confidence``."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"--min-confidence must be a probability in [0, 1], got {min_confidence}")
    return min_confidence


def is_no_action(top: list[tuple[str, float]], min_confidence: float) -> bool:
    """Whether a window's answer is "no action": its best class's probability is under ``min_confidence``."""
    return bool(top) and top[0][1] < check_min_confidence(min_confidence)


@dataclass
class WindowPrediction:
    start: int
    end: int
    top: list[tuple[str, float]]


@dataclass
class VideoPrediction:
    """Per-window top-k actions, the extracted skeletons and where the time went (seconds)."""

    video: Path
    windows: list[WindowPrediction]
    skeletons: dict[str, np.ndarray]
    timings: dict[str, float]

    def format(self, top_k: int = 5, min_confidence: float = 0.0) -> str:
        """The report; a window whose best class is under ``min_confidence`` (0-1) says "no action" first."""
        fps = float(self.skeletons.get("fps", 0) or 30.0)
        frames = len(self.skeletons["detected"])
        det = self.skeletons["detected"].mean(0) * 100
        present = self.skeletons["body_present"].any(1).mean() * 100
        lines = [f"{self.video}: {frames} frames ({frames / fps:.1f} s at {fps:.0f} fps); body found in {present:.0f} %"
                 f" of frames, hands {det[0]:.0f} % (left) / {det[1]:.0f} % (right)"]
        for w in self.windows:
            lines.append(f"frames {w.start:5d}-{w.end - 1:<5d} ({w.start / fps:5.1f}-{w.end / fps:5.1f} s)")
            if is_no_action(w.top, min_confidence):
                lines.append(f"    {NO_ACTION} (no class reaches {min_confidence * 100:g} %)")
            lines.extend(f"    {p * 100:5.1f} %  {name}" for name, p in w.top[:top_k])
        t = self.timings
        lines.append(f"time: extraction {t['extract']:.1f} s ({t['extract'] / frames * 1000:.0f} ms/frame), "
                     f"model {t['model'] * 1000:.0f} ms for {len(self.windows)} window(s)")
        return "\n".join(lines)


def window_starts(frames: int, window: int, stride: int) -> list[int]:
    """Starts of the sliding windows over ``frames`` (a clip shorter than ``window`` is one window; the last
    window is aligned to the clip's end so that no frame is left out)."""
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    return starts


def predict_video(video: str | Path, predictor: Predictor | list[Predictor], *, window: int = 64,
                  stride: int = 32, mirrored: bool = False, max_persons: int = 2, top_k: int = 5, detector=None,
                  progress: bool = True, hfov: float = 70.0, workers: int = 1,
                  extractor: str = "tracking") -> VideoPrediction:
    """Extract the skeletons of ``video``, slide a ``window``-frame window by ``stride`` frames and
    classify each (``window=0``: the whole clip as one window, the convention of trimmed-clip datasets).

    Several predictors (e.g. the joint and the bone model) form a score ensemble: their logits are summed,
    each model fed its own input length and modality. ``workers > 1`` extracts consecutive parts of the
    video in parallel processes (one person only; :func:`bharnet.video.extract.extract_video_parallel`).
    ``extractor``: ``"tracking"`` or ``"crops"`` (:mod:`bharnet.video`); a ``detector`` means ``"crops"``.

    Raises :class:`bharnet.data.sample.NoPersonError` when Pose finds nobody in any frame.
    """
    predictors = predictor if isinstance(predictor, list) else [predictor]
    names = predictors[0].spec.class_names
    for p in predictors[1:]:
        if len(p.spec.class_names) != len(names):
            raise ValueError(f"{p.source}: {len(p.spec.class_names)} classes, {predictors[0].source} has "
                             f"{len(names)}; an ensemble needs the same classes")
    from ..video.extract import extract_video, extract_video_parallel

    t0 = time.perf_counter()
    options = dict(mirrored=mirrored, body=True, max_persons=max_persons, hfov=hfov, extractor=extractor)
    if workers > 1 and max_persons == 1 and detector is None:
        skeletons = extract_video_parallel(video, workers, **options)
    else:
        skeletons = extract_video(video, detector, progress=progress, **options)
    t1 = time.perf_counter()
    frames = len(skeletons["detected"])
    size = frames if window <= 0 else window
    starts = window_starts(frames, size, stride)
    spans = [(s, min(s + size, frames)) for s in starts]
    batches = []
    roi = None
    for p in predictors:
        inputs = [window_inputs(skeletons, s, e, p.spec) for s, e in spans]
        batch = {k: np.stack([x[k] for x in inputs]) for k in p.spec.streams if k != "roi"}
        if "roi" in p.spec.streams:
            roi = roi if roi is not None else roi_inputs(video, skeletons, spans)
            batch["roi"] = roi
        batches.append(batch)
    t2 = time.perf_counter()
    probs = _softmax(sum(p.logits(b)[0] for p, b in zip(predictors, batches)))
    t3 = time.perf_counter()
    windows = []
    for s, p in zip(starts, probs):
        order = np.argsort(-p)[:top_k]
        windows.append(WindowPrediction(s, min(s + size, frames), [(names[k], float(p[k])) for k in order]))
    return VideoPrediction(Path(video), windows, skeletons,
                           {"extract": t1 - t0, "preprocess": t2 - t1, "model": t3 - t2})
