"""PyTorch datasets over a :class:`~bharnet.data.store.DatasetStore`.

:class:`SkeletonDataset` yields dicts ready for the models::

    body       (C, window, V, M) float32          hand       (C, window, 25, 2) float32 (if "hand" in streams)
    hand_mask  (window, 2) float32, 1 = detected   label      int64
    index      int64 (position in the store)      name       str
    roi        (3, 225, 225) float32 (if "roi" in streams: BHaRNet-M's ST-ROI image, ImageNet-normalised)

Four sampling rules:

* ``"crop_resize"`` (NTU/PKU, DeGCN/CTR-GCN ``feeder_ntu``): valid-frame crop (random ratio in
  ``p_interval`` for training, centre crop for testing), linear resize to ``window`` frames, random
  rotation (training), then the modality (bone / motion). The crop window and rotation are drawn once
  per sample and applied to the body AND the hands, so the two streams stay aligned in time and space.
* ``"fixed"`` (the 2s-AGCN / Shift-GCN feeder): the stored frames unchanged, cut or zero-padded to ``window``
  (their stores hold 300 preprocessed frames: ``prepare --normalization 2s-agcn``); no augmentation.
* ``"uniform"`` (pyskl's ``UniformSample``, its ST-GCN++ and gesture configs): ``window`` frames, one from each
  of ``window`` equal segments of the valid frames (a random one in training, pyskl's fixed-seed one in testing);
  no rotation (pyskl's configs have none). Pair it with ``prepare --normalization pyskl`` / ``--hand-normalization
  pyskl-2d``.
* ``"ucla"`` (CTR-GCN ``feeder_ucla``): centre on joint 2 of the first frame, random view rotation
  (+-60 degrees about x and y) and scale (0.5-1.5) in training, per-clip min-max scaling to [-1, 1], then
  ``window`` sorted random frames drawn with repetition (training) or evenly spaced frames (testing).

Randomness: with ``seed`` set, each item's augmentation is drawn from a generator seeded by
``(seed, epoch, item)`` (:meth:`SkeletonDataset.set_epoch`), so it does not depend on the process, the
worker or the order in which items are read: a resumed run, a run on several processes and a run with any
number of workers see the same augmentations. Without ``seed``, torch's generator seeds each item
(``torch.randint``), so a seeded DataLoader replays the same augmentations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..graphs import get_layout
from .store import DatasetStore
from .transforms import (
    apply_modality,
    crop_resize,
    draw_crop,
    draw_rotation,
    minmax_normalize,
    random_indices_with_replacement,
    rotate,
    rotation_matrix,
    uniform_indices,
    uniform_sample_indices,
    valid_length,
    zero_missing_hands,
)

__all__ = ["SkeletonDataset", "WindowPipeline", "body_layout_for", "HAND_JOINTS_PADDED", "HAND_MISSING", "SAMPLINGS",
           "TRAIN_P_INTERVAL", "TEST_P_INTERVAL"]

HAND_JOINTS_PADDED = 25
HAND_MISSING = ("interpolate", "zero")
SAMPLINGS = ("crop_resize", "ucla", "fixed", "uniform")


def _fit_frames(x: np.ndarray, window: int) -> np.ndarray:
    """``(C, T, V, M)`` cut or zero-padded to ``window`` frames, without resampling."""
    if x.shape[1] >= window:
        return np.ascontiguousarray(x[:, :window], dtype=np.float32)
    pad = np.zeros((x.shape[0], window - x.shape[1], *x.shape[2:]), np.float32)
    return np.concatenate([x.astype(np.float32), pad], 1)
_BODY_LAYOUTS = {25: "ntu_rgbd", 20: "nw_ucla"}


def body_layout_for(num_joints: int) -> str:
    try:
        return _BODY_LAYOUTS[num_joints]
    except KeyError:
        raise ValueError(f"no built-in body layout with {num_joints} joints; pass body_layout=") from None


TRAIN_P_INTERVAL = (0.5, 1.0)  # random crop ratio range in training (DeGCN / CTR-GCN feeder_ntu)
TEST_P_INTERVAL = (0.95,)  # the centre crop of evaluation, and of predict


@dataclass(frozen=True)
class WindowPipeline:
    """One sample's steps after reading, shared by training, evaluation and ``bharnet predict``: :meth:`sample`
    (the sampling rule of the module docstring, to ``window`` frames, and the random rotation in training with
    ``crop_resize``), then :meth:`finish` (zeroing undetected hand frames with ``hand_missing="zero"``; the
    modality).

    Arrays in and out are keyed ``"body"`` / ``"hand"`` ``(C, T, V, M)`` and ``"mask"`` ``(1, T, 1, 2)`` (the
    hand detection mask), each optional; the valid frames are the body's, or the first array's without a body.
    ``p_interval`` defaults to :data:`TRAIN_P_INTERVAL` in training and :data:`TEST_P_INTERVAL` otherwise.
    """

    window: int
    sampling: str = "crop_resize"
    train: bool = False
    p_interval: tuple[float, ...] | None = None
    rotation: float = 0.3
    modality: str = "joint"
    hand_missing: str = "interpolate"
    body_layout: str = "ntu_rgbd"
    hand_layout: str = "mediapipe_hand"

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.hand_missing not in HAND_MISSING:
            raise ValueError(f"hand_missing must be one of {HAND_MISSING}, got {self.hand_missing!r}")
        apply_modality(np.zeros((3, 2, 1, 1), np.float32), self.modality, ((0, 0),))  # validates the name
        default = TRAIN_P_INTERVAL if self.train else TEST_P_INTERVAL
        object.__setattr__(self, "window", int(self.window))
        object.__setattr__(self, "p_interval", tuple(self.p_interval) if self.p_interval is not None else default)
        object.__setattr__(self, "rotation", float(self.rotation) if self.train else 0.0)
        object.__setattr__(self, "_pairs", {"body": get_layout(self.body_layout).bone_pairs(),
                                            "hand": get_layout(self.hand_layout).bone_pairs()})

    def sample(self, arrays: dict[str, np.ndarray], rng: np.random.Generator | None = None
               ) -> dict[str, np.ndarray]:
        """The sampling rule alone: ``(C, T, ...)`` -> ``(C, window, ...)``, body, hands and mask alike."""
        if self.train and rng is None:
            raise ValueError("a training pipeline needs the sample's random generator")
        if self.sampling == "crop_resize":
            return self._crop_resize(arrays, rng)
        if self.sampling == "ucla":
            return self._ucla(arrays, rng)
        if self.sampling == "uniform":  # pyskl's UniformSample over the valid frames, body and hands alike
            taken = uniform_sample_indices(self._valid(arrays), self.window, rng=rng)
            return {k: v[:, taken] for k, v in arrays.items()}
        # "fixed": the stored frames as they are (2s-AGCN / Shift-GCN stores: 300 frames)
        return {k: _fit_frames(v, self.window) for k, v in arrays.items()}

    def finish(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Frames already chosen: undetected hand frames zeroed (``hand_missing="zero"``), then the modality of
        body and hands; the mask passes through."""
        out = dict(arrays)
        if self.hand_missing == "zero" and "mask" in out and "hand" in out:
            out["hand"] = zero_missing_hands(out["hand"], out["mask"])
        for key in ("body", "hand"):
            if key in out:
                out[key] = apply_modality(out[key], self.modality, self._pairs[key])
        return out

    def _crop_resize(self, arrays: dict[str, np.ndarray], rng: np.random.Generator | None) -> dict:
        crop = draw_crop(self._valid(arrays), self.window, self.p_interval, rng)
        out = {k: crop_resize(v, crop) for k, v in arrays.items()}
        if "mask" in out:
            out["mask"] = (out["mask"] >= 0.5).astype(np.float32)
        if self.rotation > 0:
            matrix = rotation_matrix(draw_rotation(rng, self.rotation))
            for key in ("body", "hand"):
                if key in out:
                    out[key] = rotate(out[key], matrix)
        return out

    def _ucla(self, arrays: dict[str, np.ndarray], rng: np.random.Generator | None) -> dict:
        body = arrays["body"]
        body = body - body[:, :1, 1:2, :1]  # joint 2 of the first frame
        if self.train:
            agx, agy = math.radians(int(rng.integers(-60, 61))), math.radians(int(rng.integers(-60, 61)))
            scale = rng.uniform(0.5, 1.5)
            rx = np.array([[1, 0, 0], [0, math.cos(agx), math.sin(agx)], [0, -math.sin(agx), math.cos(agx)]])
            ry = np.array([[math.cos(agy), 0, -math.sin(agy)], [0, 1, 0], [math.sin(agy), 0, math.cos(agy)]])
            # the reference multiplies row vectors on the right: x' = x @ (Ry @ Rx @ sI)
            body = rotate(body, (ry @ rx * scale).T.astype(np.float32))
        body = minmax_normalize(body)
        length = body.shape[1]
        idx = random_indices_with_replacement(length, self.window, rng) if self.train else \
            uniform_indices(length, self.window)
        out = {"body": np.ascontiguousarray(body[:, idx], dtype=np.float32)}
        for key in ("hand", "mask"):
            if key in arrays:
                out[key] = np.ascontiguousarray(arrays[key][:, idx])
        return out

    @staticmethod
    def _valid(arrays: dict[str, np.ndarray]) -> int:
        reference = arrays.get("body", next(iter(arrays.values())))
        return valid_length(reference) or reference.shape[1]  # an all-zero clip: the whole clip, not a failure


class SkeletonDataset(Dataset):
    """Training / test samples of one split of a store.

    Args:
        store: a store path or an open :class:`DatasetStore`.
        protocol: split protocol (``"xsub"``, ``"xview"``, ``"xset"``) or ``"all"``.
        split: ``"train"``, ``"test"`` or ``"all"``.
        window: frames per sample fed to the model (64 for DeGCN).
        train: augment (random crop, rotation); defaults to ``split == "train"``.
        p_interval: crop ratios; default ``(0.5, 1.0)`` in training, ``(0.95,)`` otherwise.
        rotation: max rotation angle (radians) in training for ``crop_resize``; 0 disables.
        modality: ``joint``, ``bone``, ``joint_motion`` or ``bone_motion`` (applied to every stream).
        streams: ``("body",)``, ``("hand",)`` or ``("body", "hand")``; ``"roi"`` adds the ST-ROI images.
        sampling: ``"crop_resize"``, ``"ucla"``, ``"fixed"`` or ``"uniform"``.
        repeat: the dataset is seen ``repeat`` times per epoch (CTR-GCN's NW-UCLA ``repeat``).
        seed: per-item augmentation seeds derived from ``(seed, epoch, item)``; None: from torch's generator.
        hand_missing: ``"interpolate"``: undetected hand frames carry the store's interpolated landmarks
            (the default); ``"zero"``: they are zeroed after the crop, so the model sees which frames were
            not detected (:data:`HAND_MISSING`).
    """

    def __init__(self, store: str | Path | DatasetStore, *, protocol: str = "all", split: str = "all",
                 window: int = 64, train: bool | None = None, p_interval: tuple[float, ...] | None = None,
                 rotation: float = 0.3, modality: str = "joint", streams: tuple[str, ...] = ("body",),
                 sampling: str = "crop_resize", body_layout: str | None = None,
                 hand_layout: str = "mediapipe_hand", repeat: int = 1, seed: int | None = None,
                 hand_missing: str = "interpolate"):
        self.store = store if isinstance(store, DatasetStore) else DatasetStore(store)
        self.indices = self.store.split(protocol, split) if protocol != "all" else np.arange(len(self.store))
        self.train = (split == "train") if train is None else bool(train)
        self.streams = tuple(streams)
        unknown = set(self.streams) - {"body", "hand", "roi"}
        if unknown or not self.streams:
            raise ValueError(f"streams must be a non-empty subset of ('body', 'hand', 'roi'), got {streams!r}")
        if "hand" in self.streams and "hands" not in self.store.fields:
            raise ValueError(f"{self.store.path} has no hand data (fields: {', '.join(self.store.fields)}); "
                             "extract hands first (`bharnet data extract-hands`) or use streams=('body',)")
        self.roi = None
        if "roi" in self.streams:  # BHaRNet-M's ST-ROI images (bharnet data extract-roi)
            from .roi import load_roi

            self.roi = load_roi(self.store)
        shape = self.store.manifest["files"]["body"]["shape"]
        self.body_layout = get_layout(body_layout or body_layout_for(shape[2]))
        self.hand_layout = get_layout(hand_layout)
        self.pipeline = WindowPipeline(window, sampling, self.train, p_interval, rotation, modality, hand_missing,
                                       self.body_layout.name, self.hand_layout.name)
        self.repeat = int(repeat)
        self.seed = seed
        self.epoch = 0
        if len(self.indices) == 0:
            raise ValueError(f"{self.store.path}: split {protocol}/{split} is empty")

    # the sampling settings are the pipeline's
    window = property(lambda self: self.pipeline.window)
    p_interval = property(lambda self: self.pipeline.p_interval)
    rotation = property(lambda self: self.pipeline.rotation)
    sampling = property(lambda self: self.pipeline.sampling)
    hand_missing = property(lambda self: self.pipeline.hand_missing)
    modality = property(lambda self: self.pipeline.modality)

    @property
    def labels(self) -> np.ndarray:
        return self.store.labels[self.indices]

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.store.names[self.indices]]

    def __len__(self) -> int:
        return len(self.indices) * self.repeat

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, item: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch, item])
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))

    def __getitem__(self, item: int) -> dict:
        index = int(self.indices[item % len(self.indices)])
        body = np.ascontiguousarray(self.store.frames("body", index).transpose(3, 0, 2, 1), dtype=np.float32)
        arrays = {"body": body}
        if "hand" in self.streams:
            hands = self.store.frames("hands", index).transpose(3, 0, 2, 1)  # (C, T, 21, 2)
            pad = HAND_JOINTS_PADDED - hands.shape[2]
            arrays["hand"] = np.pad(hands, ((0, 0), (0, 0), (0, pad), (0, 0))).astype(np.float32)
            arrays["mask"] = self.store.frames("hand_mask", index).astype(np.float32)[None, :, None, :]  # (1, T, 1, 2)
        arrays = self.pipeline.sample(arrays, self._rng(item) if self.train else None)
        # the body is read for its valid frames even when it is not a stream; only the streams get a modality
        arrays = self.pipeline.finish({k: v for k, v in arrays.items() if k in self.streams or k == "mask"})
        out = {"label": torch.tensor(int(self.store.labels[index])), "index": torch.tensor(index),
               "name": str(self.store.names[index])}
        for key in ("body", "hand"):
            if key in self.streams:
                out[key] = torch.from_numpy(arrays[key])
        if "mask" in arrays:
            out["hand_mask"] = torch.from_numpy(np.ascontiguousarray(arrays["mask"][0, :, 0, :]))
        if self.roi is not None:
            from .roi import normalize_roi

            out["roi"] = torch.from_numpy(normalize_roi(np.asarray(self.roi[index])))
        return out
