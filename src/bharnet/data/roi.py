"""BHaRNet-M's ST-ROI images: how one is built from a clip (:func:`st_roi_image`), and how a store keeps them.

:func:`st_roi_image` builds MMNet's image: 5 frames (interval ``floor(n / 6)``, frames ``1..5 x interval``,
:func:`roi_frame_indices`) side by side, each a column of 5 square patches centred on the body parts
:data:`ROI_JOINTS` (two people: each patch split into two half-width patches, side by side), 480 x 480 for
96-pixel patches, resized to 225 x 225, ImageNet-normalised (:func:`normalize_roi`). The parts are NTU joints
(0-based) 3 head, 11 right hand, 7 left hand, 18 right ankle, 14 left ankle in MMNet's row order; the model's
part weights (:func:`bharnet.models.rgb.body_part_weights`) use the same joints, so rows and weights agree.

The training images as stored, one per sample of a store, in ``<store>/roi/``::

    images.npy   (N, 225, 225, 3) uint8, in store order (a memory-mapped .npy)
    done.npy     (N,) bool: images written so far (a rerun continues from here)
    info.json    the store's sample count and names' digest; written when every image is done

They are made from the samples' RGB videos by ``bharnet data extract-roi`` (:mod:`bharnet.video.roi`);
:class:`bharnet.data.feeder.SkeletonDataset` serves them as the ``roi`` stream (:func:`load_roi`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .sample import DataFormatError
from .store import DatasetStore

__all__ = ["load_roi", "names_digest", "st_roi_image", "normalize_roi", "roi_frame_indices", "ROI_JOINTS",
           "ROI_SIZE", "IMAGENET_MEAN", "IMAGENET_STD"]

ROI_JOINTS = (3, 11, 7, 18, 14)
ROI_SIZE = 225
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def names_digest(names) -> str:
    """A short digest of a store's sample names: the images belong to this version of the store."""
    return hashlib.sha256("\n".join(str(n) for n in names).encode()).hexdigest()[:16]


def load_roi(store: DatasetStore) -> np.ndarray:
    """The store's ST-ROI images ``(N, 225, 225, 3)`` uint8 (memory-mapped), checked against the store."""
    folder = Path(store.path) / "roi"
    info_path = folder / "info.json"
    if not info_path.is_file():
        raise DataFormatError(folder, "no complete ST-ROI images for this store; run `bharnet data extract-roi "
                              f"{store.path} --videos <folder>` (a rerun finishes an interrupted one)")
    info = json.loads(info_path.read_text())
    if info.get("samples") != len(store) or info.get("names") != names_digest(store.names):
        raise DataFormatError(folder, "the ST-ROI images were made for another version of this store; delete the "
                              "roi folder and run extract-roi again")
    return np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)


def roi_frame_indices(num_frames: int, count: int = 5) -> list[int]:
    """MMNet's frames: interval ``floor(n / (count + 1))``, frames ``interval * 1 .. interval * count``."""
    interval = max(num_frames // (count + 1), 1)
    return [min(interval * (i + 1), num_frames - 1) for i in range(count)]


def _patch(frame: np.ndarray, center: np.ndarray, height: int, width: int) -> np.ndarray:
    """A ``height x width`` crop centred on ``center`` (x, y); outside the frame is black."""
    h, w = frame.shape[:2]
    out = np.zeros((height, width, 3), frame.dtype)
    if not np.isfinite(center).all() or not center.any():
        return out
    x0, y0 = int(round(center[0] - width / 2)), int(round(center[1] - height / 2))
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + width, w), min(y0 + height, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    return out


def st_roi_image(frames: list[np.ndarray], colors: np.ndarray, *, patch: int | None = None,
                 size: int = ROI_SIZE, normalize: bool = True) -> np.ndarray:
    """The ST-ROI image from the picked frames (:func:`roi_frame_indices`), left to right.

    Args:
        frames: RGB frames ``(H, W, 3)`` uint8 (MMNet: 5).
        colors: ``(len(frames), M, 25, 2)`` body joints in pixels in those frames (zeros: absent).
        patch: patch side in pixels (default 96 at 1080-pixel frames, scaled with the height).

    Returns:
        ``(3, size, size)`` float32 (ImageNet-normalised) or, with ``normalize=False``, ``(size, size, 3)`` uint8.
    """
    import cv2

    if not frames or len(frames) != len(colors):
        raise ValueError(f"need one colour-coordinate set per frame, got {len(frames)} frames, {len(colors)} sets")
    patch = patch or max(16, int(round(96 * frames[0].shape[0] / 1080)))
    present = np.abs(colors).sum(axis=(2, 3)) > 0  # (F, M)
    two = bool(present[:, 1].any()) if colors.shape[1] > 1 else False
    columns = []
    for frame, joints in zip(frames, colors):
        rows = []
        for joint in ROI_JOINTS:
            if two:
                rows.append(np.concatenate([_patch(frame, joints[m, joint], patch, patch // 2) for m in range(2)],
                                           axis=1))
            else:
                rows.append(_patch(frame, joints[0, joint], patch, patch))
        columns.append(np.concatenate(rows, axis=0))
    image = cv2.resize(np.concatenate(columns, axis=1), (size, size), interpolation=cv2.INTER_LINEAR)
    return normalize_roi(image) if normalize else image


def normalize_roi(image: np.ndarray) -> np.ndarray:
    """``(S, S, 3)`` uint8 RGB -> ``(3, S, S)`` float32 with ImageNet's mean and std."""
    x = image.astype(np.float32) / 255.0
    x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
