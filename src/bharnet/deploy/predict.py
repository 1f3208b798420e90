"""Actions from a video: skeletons by MediaPipe (body by Pose mapped to NTU-25, hands by Hands), sliding
windows, a trained model (PyTorch checkpoint or exported ONNX file), top-k per window.

Every window is preprocessed as a test sample of the dataset store (:mod:`bharnet.data.feeder`): the body
is centred on the spine of its first frame (the NTU reference centring), the hands are interpolated over
missed frames and palm-normalised from the window's first detection, the window is centre-cropped to 95 %
and resized to the model's input length, and the model's modality (joint / bone / motion) is applied.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.feeder import HAND_JOINTS_PADDED, WindowPipeline
from ..data.hands import interpolate_missing, normalize_hands
from ..data.transforms import (
    prenormalize_2d,
    uniform_sample_indices,
)
from ..datasets.agcn import agcn_energy, agcn_normalize
from ..datasets.ntu import center_on_spine, pyskl_normalize

__all__ = ["ModelSpec", "Predictor", "WindowPrediction", "VideoPrediction", "window_inputs", "roi_inputs",
           "predict_video", "window_starts", "read_spec", "skeleton_inputs", "StreamStep", "stream"]


@dataclass
class ModelSpec:
    """What a model expects: input streams, per-stream shape ``(C, T, V, M)`` (``roi``: ``(3, 225, 225)``),
    modality, classes."""

    streams: dict[str, tuple[int, ...]]
    modality: str = "joint"
    class_names: list[str] = field(default_factory=list)
    hand_normalization: str = "palm"
    hand_missing: str = "interpolate"
    body_normalization: str = "reference"  # or "2s-agcn" (bharnet.datasets.agcn; Shift-GCN), "pyskl" (PreNormalize3D)
    sampling: str = "crop_resize"  # or "uniform": pyskl's UniformSample (test mode) of T frames
    body_layout: str = "ntu_rgbd"
    hand_layout: str = "mediapipe_hand"

    def to_json(self) -> str:
        return json.dumps({k: (v if k != "streams" else {s: list(x) for s, x in v.items()})
                           for k, v in self.__dict__.items()})

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        data = json.loads(text)
        data["streams"] = {s: tuple(x) for s, x in data["streams"].items()}
        return cls(**data)


def _class_names(config: dict, num_classes: int) -> list[str]:
    from ..datasets.classes import class_names

    try:
        return class_names((config.get("eval") or {}).get("class_names"), num_classes)
    except (KeyError, ValueError):
        return [str(k) for k in range(num_classes)]


def _preprocessing(config: dict, preprocessing: dict | None) -> dict[str, str]:
    """The preprocessing a model was trained with: from its checkpoint (``preprocessing``), else from its training
    config (``sampling``) and store's manifest (hand and body normalisation), else the defaults."""
    data = config.get("data") or {}
    out = {"hand_normalization": "palm", "hand_missing": data.get("hand_missing", "interpolate"),
           "body_normalization": "reference", "sampling": "uniform" if data.get("sampling") == "uniform" else
           "crop_resize"}
    if preprocessing:
        return {k: str(preprocessing.get(k, v)) for k, v in out.items()}
    store = data.get("store")
    if store:
        try:
            from ..data.store import DatasetStore

            training = DatasetStore(store)
            out["hand_normalization"] = training.hand_normalization
            body = (training.manifest.get("info") or {}).get("normalization")  # prepare ntu --normalization
            if body in ("reference", "pyskl", "2s-agcn"):
                out["body_normalization"] = body
        except Exception:  # an older checkpoint whose store is gone: the default, as before
            pass
    return out


def read_spec(model: torch.nn.Module, config: dict | None = None, preprocessing: dict | None = None) -> ModelSpec:
    """A model's :class:`ModelSpec` from the model and its training config (checkpoint ``extra["config"]``) and
    preprocessing (``extra["preprocessing"]``)."""
    from ..models.inputs import input_spec

    config = config or {}
    streams = input_spec(model)
    kwargs = (getattr(model, "bharnet_config", None) or {}).get("kwargs", {})
    num_classes = _num_classes(model)
    return ModelSpec(streams=streams, modality=(config.get("data") or {}).get("modality", "joint"),
                     class_names=_class_names(config, num_classes), **_preprocessing(config, preprocessing),
                     body_layout=kwargs.get("body_layout", kwargs.get("layout", "ntu_rgbd")) if "body" in streams
                     else "ntu_rgbd", hand_layout=kwargs.get("hand_layout", "mediapipe_hand"))


def _num_classes(model: torch.nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return last[-1].out_features


def test_pipeline(spec: ModelSpec) -> WindowPipeline:
    """The test feeder's steps for the model that ``spec`` describes (its window, sampling, modality, hand misses,
    layouts): every input ``predict`` makes goes through them, as the model's test set did."""
    return WindowPipeline(next(iter(spec.streams.values()))[1], spec.sampling, modality=spec.modality,
                          hand_missing=spec.hand_missing, body_layout=spec.body_layout, hand_layout=spec.hand_layout)


def window_inputs(skeletons: dict[str, np.ndarray], start: int, end: int, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Model inputs ``(C, T, V, M)`` for video frames ``[start, end)`` of an extraction result
    (:func:`bharnet.video.extract.extract_video` with ``body=True``), prepared as the model's training data was:
    the test feeder's centre crop resized to T (``body_normalization="reference"``), the 2s-AGCN pipeline
    (``"2s-agcn"``: persons by energy, repeated to T frames, per-frame centring, the two rotations), or pyskl's
    (``"pyskl"``: ``PreNormalize3D`` on the window, then ``UniformSample`` of T frames, its test-mode seed)."""
    arrays: dict[str, np.ndarray] = {}  # the "roi" stream needs the video frames: see roi_inputs
    frames = None  # 2s-agcn: the window frame behind every model frame
    if "body" in spec.streams:
        _, t, v, m = spec.streams["body"]
        body = np.zeros((end - start, m, v, 3), np.float32)
        got = skeletons["body"][start:end, :m]
        body[:, :got.shape[1]] = got
        if spec.body_normalization == "2s-agcn":
            order = np.argsort([agcn_energy(body[:, p]) for p in range(m)], kind="stable")[::-1]
            body, source = agcn_normalize(body[:, order], frames=t)
            frames = source[:, 0]
        elif spec.body_normalization == "pyskl":  # PreNormalize3D, then UniformSample of T frames
            body, keep, _ = pyskl_normalize(body)
            if len(keep) == 0:  # nobody in the window
                body, keep = np.zeros((1, m, v, 3), np.float32), np.array([-1])
            taken = uniform_sample_indices(len(keep), t)
            body, frames = body[taken], keep[taken]
        else:
            body = center_on_spine(body)
        arrays["body"] = np.ascontiguousarray(body.transpose(3, 0, 2, 1))  # (C, T, V, M)
    if "hand" in spec.streams and spec.hand_normalization == "pyskl-2d" and spec.streams["hand"][3] == 1:
        # one hand: pyskl's gesture pipeline
        return {"hand": _pyskl_gesture_input(skeletons, start, end, spec)}
    if "hand" in spec.streams:
        lms, det = skeletons["landmarks"][start:end], skeletons["detected"][start:end].astype(bool)
        hands = normalize_hands(interpolate_missing(lms, det), det, spec.hand_normalization,
                                tuple(skeletons["image_size"]))  # (T, 2, 21, 3)
        mask = det.astype(np.float32)
        if frames is not None:  # the body's frames, repeated as the body was
            taken = np.clip(frames, 0, None)
            hands, mask = hands[taken] * (frames >= 0)[:, None, None, None], mask[taken] * (frames >= 0)[:, None]
        hands = hands.transpose(3, 0, 2, 1)  # (C, T, 21, 2)
        arrays["hand"] = np.pad(hands, ((0, 0), (0, 0), (0, HAND_JOINTS_PADDED - hands.shape[2]), (0, 0)))
        arrays["mask"] = mask[None, :, None, :]  # (1, T, 1, 2)
    pipeline = test_pipeline(spec)
    # the 2s-agcn and pyskl bodies chose their frames above (as their stores hold them); the others are sampled
    # as the test feeder samples a stored clip
    arrays = pipeline.finish(arrays if frames is not None else pipeline.sample(arrays))
    arrays.pop("mask", None)
    return {k: np.asarray(x, np.float32) for k, x in arrays.items()}


def _pyskl_gesture_input(skeletons: dict[str, np.ndarray], start: int, end: int, spec: ModelSpec) -> np.ndarray:
    """pyskl's gesture test pipeline on the better-detected hand of frames ``[start, end)``: its detected frames'
    2-D pixels, ``PreNormalize2D`` (auto), ``UniformSample`` of T frames -> ``(2, T, 21, 1)`` (zeros if no hand)."""
    c, t, v, _ = spec.streams["hand"]
    det = skeletons["detected"][start:end].astype(bool)
    slot = int(det.sum(0).argmax())
    seen = np.flatnonzero(det[:, slot])
    if seen.size == 0:
        return np.zeros((c, t, v, 1), np.float32)
    keypoint = prenormalize_2d(skeletons["landmarks"][start:end][seen, slot, :v, :c])  # (F, V, C)
    clip = keypoint[uniform_sample_indices(len(seen), t)]  # (T, V, C)
    return np.ascontiguousarray(clip.transpose(2, 0, 1)[..., None])


def skeleton_inputs(path: str | Path, spec: ModelSpec) -> tuple[dict[str, np.ndarray], dict]:
    """Model inputs ``(C, T, V, M)`` from a Kinect ``.skeleton`` file (NTU RGB+D), prepared as the model's
    training data was (its body normalisation; the test crop for the reference one), and the sample's meta.
    Body-only models: a ``.skeleton`` file has no hands."""
    from ..datasets import ntu

    if set(spec.streams) != {"body"}:
        raise ValueError(f"--skeleton feeds body-only models; this one takes {', '.join(spec.streams)} (give a video)")
    sample = ntu.to_sample(ntu.read_skeleton(path), normalization=spec.body_normalization)
    _, t, v, m = spec.streams["body"]
    body = sample.body[:, :m]
    if body.shape[1] < m:
        body = np.concatenate([body, np.zeros((body.shape[0], m - body.shape[1], *body.shape[2:]), body.dtype)], 1)
    x = np.ascontiguousarray(body.transpose(3, 0, 2, 1), dtype=np.float32)  # (C, T, V, M)
    pipeline = test_pipeline(spec)
    if spec.body_normalization == "pyskl":  # its frames are the kept ones already (PreNormalize3D)
        x = x[:, uniform_sample_indices(x.shape[1], t)]
    elif spec.body_normalization != "2s-agcn":  # (2s-agcn: its 300 frames, as its store holds them)
        x = pipeline.sample({"body": x})["body"]
    return {"body": pipeline.finish({"body": x})["body"].astype(np.float32)}, sample.meta


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


def roi_inputs(video: str | Path, skeletons: dict[str, np.ndarray], windows: list[tuple[int, int]]) -> np.ndarray:
    """BHaRNet-M's ST-ROI image ``(N, 3, 225, 225)`` of each window ``[start, end)``, read from the video."""
    from ..data.roi import roi_frame_indices, st_roi_image
    from ..video.roi import read_frames

    picks = [[start + p for p in roi_frame_indices(end - start)] for start, end in windows]
    wanted = sorted({t for pick in picks for t in pick})
    frames = dict(zip(wanted, read_frames(Path(video), wanted)))
    colors = skeletons["body_color"]
    return np.stack([st_roi_image([frames[t] for t in pick], colors[pick]) for pick in picks])


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


@dataclass
class StreamStep:
    """One label of a stream: at ``frame`` (the window's last source frame), with the time spent (seconds).

    ``extract_per_frame``: mean extraction time per extracted frame over the window; ``model``: the model call;
    ``latency``: from the newest frame's arrival to its label; ``dropped``: source frames dropped so far
    because extraction fell behind a live source; ``every``: one source frame in ``every`` is extracted
    (``--fps``); ``skipped``: labels skipped so far because the model was still busy with the previous one."""

    frame: int
    top: list[tuple[str, float]]
    extract_per_frame: float
    model: float
    latency: float
    fps: float = 30.0
    dropped: int = 0
    every: int = 1
    skipped: int = 0

    @property
    def realtime_factor(self) -> float:
        """Seconds of video per second of work: > 1 keeps up with the source."""
        per_source_frame = self.extract_per_frame / self.every
        return (1 / self.fps) / per_source_frame if per_source_frame > 0 else float("inf")


def stream(source: str | int, predictor: Predictor, *, window: int = 64, stride: int = 16, mirrored: bool = False,
           max_persons: int = 1, top_k: int = 3, max_frames: int | None = None, detector=None, hfov: float = 70.0,
           extractor: str = "tracking", fps: float | None = None, realtime: bool | None = None,
           queue_size: int = 4):
    """Label a live camera or a video file as it plays. Yields a :class:`StreamStep` per label.

    Frames are decoded in their own thread; each (or, with ``fps``, every k-th: ``k = round(source fps /
    fps)``) is extracted; every ``stride`` source frames the last ``window`` source frames' skeletons go to the
    model in another thread, while extraction goes on (a label is skipped, and counted, when the model is
    still busy). The window is resized to the model's length as the test feeder does, so ``--fps`` changes
    the sampling, not the time span.

    ``realtime``: frames arrive at the source's rate and, when extraction falls behind, the oldest waiting
    ones are dropped (``queue_size`` frames are buffered) rather than the stream falling behind; the default
    for a camera. For a file, ``realtime=True`` plays it as a camera would deliver it (how to measure whether
    a machine keeps up); otherwise every frame is processed, as fast as the machine goes.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from ..data.pose import ntu_from_video
    from ..video import FrameReader, make_extractor
    from ..video.reader import open_video

    camera = isinstance(source, int) or str(source).isdigit()
    realtime = camera if realtime is None else realtime
    cap = open_video(source)
    src_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
    every = max(1, round(src_fps / fps)) if fps else 1
    slots = max(1, -(-window // every))  # extracted frames per window
    # the graphs are built and run once before the first frame is taken: a live source would otherwise
    # drop the frames that arrive while the models load
    ext = make_extractor(extractor, mirrored=mirrored, max_persons=max_persons, detector=detector)
    try:
        ext.warm_up((int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 640), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 480)))
    except BaseException:
        ext.close()
        cap.release()
        raise
    reader = FrameReader(cap, maxsize=queue_size, drop=realtime, name=source, step=every,
                         max_frames=-(-max_frames // every) if max_frames else None,  # source frames -> read
                         realtime_fps=src_fps if realtime and not camera else 0.0)
    persons, lms, det, cost = (deque(maxlen=slots) for _ in range(4))
    pool = ThreadPoolExecutor(1, thread_name_prefix="bharnet-model")
    pending = None
    skipped = 0
    size = None
    last_label = -stride

    def run_model(inputs: dict, arrived: float, frame: int, per_frame: float) -> StreamStep:
        t2 = time.perf_counter()
        probs, _ = predictor({k: v[None] for k, v in inputs.items()})
        t3 = time.perf_counter()
        order = np.argsort(-probs[0])[:top_k]
        top = [(predictor.spec.class_names[k], float(probs[0, k])) for k in order]
        return StreamStep(frame, top, per_frame, t3 - t2, t3 - arrived, src_fps, reader.dropped, every, skipped)

    try:
        for index, rgb in reader:
            arrived = time.perf_counter()
            size = (rgb.shape[1], rgb.shape[0])
            res = ext(rgb)
            persons.append(list(res.persons))
            lms.append(res.landmarks)
            det.append(res.detected)
            cost.append(time.perf_counter() - arrived)
            if pending is not None and pending.done():
                yield pending.result()
                pending = None
            if len(persons) < slots or index - last_label < stride:
                continue
            last_label = index
            if pending is not None:  # the model is still on the previous window
                if realtime:  # live: skip this label rather than fall behind
                    skipped += 1
                    continue
                yield pending.result()  # a file: every label, in order
                pending = None
            joints, _, present = ntu_from_video(list(persons), size, hands=np.stack(lms), detected=np.stack(det),
                                                mirrored=mirrored, hfov=hfov)
            if not present.any():
                yield StreamStep(index, [], float(np.mean(cost)), 0.0, time.perf_counter() - arrived, src_fps,
                                 reader.dropped, every, skipped)
                continue
            skel = {"body": joints, "landmarks": np.stack(lms), "detected": np.stack(det),
                    "image_size": np.asarray(size)}
            inputs = window_inputs(skel, 0, len(persons), predictor.spec)
            pending = pool.submit(run_model, inputs, arrived, index, float(np.mean(cost)))
        if pending is not None:
            yield pending.result()
    finally:
        reader.close()
        pool.shutdown(wait=True)
        ext.close()
