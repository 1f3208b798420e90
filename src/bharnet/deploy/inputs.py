"""What a trained model is fed, and how ``predict`` makes it: the model's :class:`ModelSpec` (input streams and
shapes, modality, classes, and the preprocessing its training data had), and the inputs of one window of an
extracted video (:func:`window_inputs`), of a Kinect ``.skeleton`` file (:func:`skeleton_inputs`) and of
BHaRNet-M's ST-ROI images (:func:`roi_inputs`).

Every window is preprocessed as a test sample of the dataset store: the body as ``prepare`` normalised it (the
NTU reference centring on the spine of the first frame, or the 2s-AGCN / pyskl pipelines), the hands
interpolated over missed frames and normalised as the store's, then the feeder's test pipeline
(:class:`bharnet.data.feeder.WindowPipeline`: the centre crop to 95 % resized to the model's length, or pyskl's
uniform sampling; the hand misses; the modality).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.feeder import HAND_JOINTS_PADDED, WindowPipeline
from ..data.hands import interpolate_missing, normalize_hands
from ..data.transforms import prenormalize_2d, uniform_sample_indices
from ..datasets.agcn import agcn_energy, agcn_normalize
from ..datasets.ntu import center_on_spine, pyskl_normalize

__all__ = ["ModelSpec", "read_spec", "test_pipeline", "window_inputs", "skeleton_inputs", "roi_inputs"]


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


def roi_inputs(video: str | Path, skeletons: dict[str, np.ndarray], windows: list[tuple[int, int]]) -> np.ndarray:
    """BHaRNet-M's ST-ROI image ``(N, 3, 225, 225)`` of each window ``[start, end)``, read from the video."""
    from ..data.roi import roi_frame_indices, st_roi_image
    from ..video.roi import read_frames

    picks = [[start + p for p in roi_frame_indices(end - start)] for start, end in windows]
    wanted = sorted({t for pick in picks for t in pick})
    frames = dict(zip(wanted, read_frames(Path(video), wanted)))
    colors = skeletons["body_color"]
    return np.stack([st_roi_image([frames[t] for t in pick], colors[pick]) for pick in picks])
