"""Hand skeletons as data: the per-video hand file, and the paper's hand-centric post-processing of a sample.

A hand file (``<video>.npz``, written by ``bharnet data extract-hands``: :mod:`bharnet.video.extract`) holds a
video's raw MediaPipe detections, pixels. :func:`attach_hands` turns them into a sample's hands: linear
interpolation over missed frames per slot (held at the ends; a slot never seen stays zero), the per-frame
detection mask kept alongside, and normalisation (:func:`normalize_hands`). Padding 21 -> 25 joints happens in
the feeder.

The extraction itself (MediaPipe Pose and Hands, crops, tracking, jobs) lives in :mod:`bharnet.video`, one layer
up: it writes this file format, and nothing here imports it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils.files import atomic_path
from .sample import DataFormatError, NoPersonError, Sample, VideoError
from .transforms import prenormalize_2d

__all__ = ["NUM_HAND_JOINTS", "NORMALIZATIONS", "save_hands", "load_hands", "interpolate_missing", "normalize_hands",
           "attach_hands", "VideoError", "NoPersonError"]

NUM_HAND_JOINTS = 21
NORMALIZATIONS = ("palm", "wrist", "image", "pyskl-2d", "none")

_HAND_KEYS = {"landmarks": 4, "detected": 2, "score": 2, "anchors": 4, "person": 1, "image_size": 1}


def save_hands(path: str | Path, result: dict[str, np.ndarray]) -> None:
    """Write one video's result atomically (:func:`bharnet.utils.files.atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **result)


def load_hands(path: str | Path) -> dict[str, np.ndarray]:
    """Read a per-video hand file (no pickle), checking the arrays' presence and shapes."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no hand file (run `bharnet data extract-hands` for this video)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as e:
        raise DataFormatError(path, f"not a readable hand file ({e})") from None
    for key, ndim in _HAND_KEYS.items():
        if key not in data or data[key].ndim != ndim:
            raise DataFormatError(path, f"hand file lacks {key!r} or has the wrong shape")
    frames = data["landmarks"].shape[0]
    if data["landmarks"].shape[1:] != (2, NUM_HAND_JOINTS, 3) or data["detected"].shape != (frames, 2):
        raise DataFormatError(path, f"hand arrays have inconsistent shapes {data['landmarks'].shape}, "
                              f"{data['detected'].shape}")
    return data


# ------------------------------------------------------------------------------------ post-processing
def interpolate_missing(landmarks: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Fill undetected frames per slot: linear in time between detections, held before the first and
    after the last; a slot never detected stays zero. ``(F, 2, 21, C)``, ``(F, 2)`` -> ``(F, 2, 21, C)``."""
    out = np.zeros_like(landmarks, dtype=np.float32)
    frames = np.arange(landmarks.shape[0])
    for slot in range(landmarks.shape[1]):
        seen = np.flatnonzero(detected[:, slot])
        if seen.size == 0:
            continue
        flat = landmarks[seen, slot].reshape(seen.size, -1)
        filled = np.stack([np.interp(frames, seen, flat[:, k]) for k in range(flat.shape[1])], axis=1)
        out[:, slot] = filled.reshape(len(frames), *landmarks.shape[2:])
    return out


def normalize_hands(landmarks: np.ndarray, detected: np.ndarray, mode: str = "wrist",
                    image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Centre and scale ``(F, 2, 21, 3)`` pixel hands of one sample [INT].

    ``"palm"``: one origin per sample, the wrist of the first detection (left slot first at a tie), as
    the body is centred on its first frame, so the hands keep their trajectories and the distance
    between them. ``"wrist"`` (hand-centric): every hand of every frame has its own wrist at the origin,
    so the joints show the hand's shape and orientation only, and the trajectory is left to the body
    stream. Both divide by the median palm length (wrist to middle-finger knuckle, over detected frames),
    so that hands of near and far people have the same size. ``"image"`` keeps the first-wrist origin and
    divides by the image height; ``"none"`` keeps pixels. ``"pyskl-2d"``: pyskl's ``PreNormalize2D`` (auto
    mode, as its gesture model was trained) per hand slot: the box of the slot's detected x, y over the sample
    mapped to [-1, 1] on each axis (left unchanged when a side is under 10 px), and z, which pyskl drops, scaled
    like x so that the hand keeps its depth proportions. All-zero hands (a slot never detected) stay zero. The
    bone stream is the same under ``"palm"`` and ``"wrist"`` (bones do not see the origin).
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"hand normalization must be one of {NORMALIZATIONS}, got {mode!r}")
    seen = np.argwhere(detected)
    if seen.size == 0 or mode == "none":
        return landmarks.astype(np.float32)
    if mode == "pyskl-2d":
        return _pyskl_2d(landmarks, detected)
    if mode == "wrist":
        origin = landmarks[:, :, :1].copy()  # (F, 2, 1, 3)
    else:
        first = seen[np.lexsort((seen[:, 1], seen[:, 0]))[0]]
        origin = landmarks[first[0], first[1], 0].copy()
    origin[..., 2] = 0.0  # z is already relative to the wrist
    if mode == "image":
        if image_size is None:
            raise ValueError("hand normalization 'image' needs the image size")
        scale = float(image_size[1])
    else:
        palms = np.linalg.norm(landmarks[:, :, 9, :2] - landmarks[:, :, 0, :2], axis=-1)[detected]
        scale = float(np.median(palms)) if palms.size else 1.0
    scale = scale if scale > 1e-6 else 1.0
    out = (landmarks - origin) / scale
    present = np.abs(landmarks).sum(axis=(2, 3)) > 0  # (F, 2): all-zero hands (never seen) stay zero
    out[~present] = 0
    return out.astype(np.float32)


def _pyskl_2d(landmarks: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """``normalize_hands(mode="pyskl-2d")``: ``(F, 2, 21, 3)`` -> the same, per slot."""
    out = np.zeros(landmarks.shape, np.float32)
    for slot in range(landmarks.shape[1]):
        rows = np.flatnonzero(detected[:, slot])
        if rows.size == 0:
            continue
        xy = landmarks[rows, slot, :, :2]
        out[:, slot, :, :2] = prenormalize_2d(landmarks[:, slot, :, :2], box=xy)
        width = float(xy[..., 0].max() - xy[..., 0].min())
        scaled = width > 10 and float(xy[..., 1].max() - xy[..., 1].min()) > 10
        out[:, slot, :, 2] = landmarks[:, slot, :, 2] * (2 / width if scaled else 1)
    present = np.abs(landmarks).sum(axis=(2, 3)) > 0
    out[~present] = 0
    return out


def attach_hands(sample: Sample, hands_file: str | Path, *, normalization: str = "wrist") -> Sample:
    """Add ``hands`` ``(T, 2, 21, 3)`` and ``hand_mask`` ``(T, 2)`` to a sample, aligned through its
    ``extras["video_frame"]`` (the video frame of each body frame)."""
    data = load_hands(hands_file)
    if "video_frame" not in sample.extras:
        raise ValueError(f"sample {sample.name}: no 'video_frame' extra to align the hands with")
    video_frame = np.asarray(sample.extras["video_frame"], np.int64)
    landmarks, detected = data["landmarks"], data["detected"].astype(bool)
    frames = landmarks.shape[0]
    if video_frame.size and video_frame.max() >= frames:
        # The video is shorter than the skeleton file: frames past its end count as undetected.
        pad = int(video_frame.max()) + 1 - frames
        landmarks = np.concatenate([landmarks, np.zeros((pad, *landmarks.shape[1:]), landmarks.dtype)])
        detected = np.concatenate([detected, np.zeros((pad, 2), bool)])
    filled = interpolate_missing(landmarks, detected)
    normalised = normalize_hands(filled, detected, normalization, tuple(data["image_size"]))
    sample.hands = normalised[video_frame]
    sample.hand_mask = detected[video_frame]
    sample.meta = dict(sample.meta, hands_detected=[int(v) for v in detected[video_frame].sum(axis=0)])
    return sample
