"""Skeleton transforms of the DeGCN/CTR-GCN feeder, split into "draw the random parameters" and "apply
them", so that a sample's body and hands get the SAME crop and the SAME rotation.

Every array here is ``(C, T, V, M)`` float32, the per-sample layout of the models' input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["valid_length", "CropWindow", "draw_crop", "crop_resize", "draw_rotation", "rotation_matrix",
           "rotate", "to_bone", "to_motion", "apply_modality", "MODALITIES", "uniform_indices",
           "random_indices_with_replacement", "minmax_normalize", "zero_missing_hands", "prenormalize_2d",
           "uniform_sample_indices"]

MODALITIES = ("joint", "bone", "joint_motion", "bone_motion")


def valid_length(x: np.ndarray) -> int:
    """Number of frames whose coordinates do not sum to zero, as the reference feeder counts them
    (it assumes the non-empty frames come first, followed by zero padding)."""
    return int((x.sum(axis=(0, 2, 3)) != 0).sum())


@dataclass(frozen=True)
class CropWindow:
    """Frames ``begin:begin + length`` of the source, resized to ``size`` frames."""

    begin: int
    length: int
    size: int


def draw_crop(valid: int, size: int, p_interval: tuple[float, ...], rng: np.random.Generator | None = None,
              min_length: int = 64) -> CropWindow:
    """The reference ``valid_crop_resize`` window.

    One value in ``p_interval`` (test, e.g. ``(0.95,)``): a centre crop dropping ``int((1 - p) * valid / 2)``
    frames at each end. Two values (train, e.g. ``(0.5, 1)``): ``p ~ U(p0, p1)``, length
    ``min(max(floor(valid * p), min_length), valid)`` at a uniformly random start. ``min_length`` is 64 in the
    reference whatever the window size.
    """
    if valid <= 0:
        raise ValueError("cannot crop a sequence with no valid frame")
    if len(p_interval) == 1:
        bias = int((1 - p_interval[0]) * valid / 2)
        return CropWindow(bias, max(valid - 2 * bias, 1), size)
    if rng is None:
        raise ValueError("a random crop (two p_interval values) needs a random generator")
    p = rng.random() * (p_interval[1] - p_interval[0]) + p_interval[0]
    length = int(min(max(int(np.floor(valid * p)), min_length), valid))
    begin = int(rng.integers(0, valid - length + 1))
    return CropWindow(begin, length, size)


def _linear_resize_weights(length: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of 1-D linear interpolation with ``align_corners=False`` (as
    ``torch.nn.functional.interpolate``)."""
    scale = length / size
    src = np.maximum((np.arange(size) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), length - 1)
    i1 = np.minimum(i0 + 1, length - 1)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, w1


def crop_resize(x: np.ndarray, window: CropWindow) -> np.ndarray:
    """``(C, T, V, M)`` -> ``(C, window.size, V, M)``: crop, then resize along time by linear interpolation."""
    seg = x[:, window.begin:window.begin + window.length]
    i0, i1, w1 = _linear_resize_weights(seg.shape[1], window.size)
    w1 = w1[None, :, None, None]
    return (seg[:, i0] * (1 - w1) + seg[:, i1] * w1).astype(np.float32)


def draw_rotation(rng: np.random.Generator, max_angle: float = 0.3) -> np.ndarray:
    """Angles about x, y, z drawn from ``U(-max_angle, max_angle)`` radians."""
    return rng.uniform(-max_angle, max_angle, size=3)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """``R = Rz @ Ry @ Rx`` with the reference feeder's sign conventions."""
    (cx, cy, cz), (sx, sy, sz) = np.cos(angles), np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def rotate(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 3x3 rotation to the first three channels of ``(C, T, V, M)``."""
    out = x.copy()
    out[:3] = np.einsum("ij,jtvm->itvm", matrix, x[:3])
    return out


def to_bone(x: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Bone of joint ``v`` = joint ``v`` minus its parent (0-based ``pairs``); a root's bone is zero."""
    child = np.fromiter((a for a, _ in pairs), np.int64)
    parent = np.fromiter((b for _, b in pairs), np.int64)
    out = np.zeros_like(x)
    out[:, :, child] = x[:, :, child] - x[:, :, parent]
    return out


def to_motion(x: np.ndarray) -> np.ndarray:
    """``x[t + 1] - x[t]``, the last frame zero."""
    out = np.zeros_like(x)
    out[:, :-1] = x[:, 1:] - x[:, :-1]
    return out


def apply_modality(x: np.ndarray, modality: str, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    if modality.startswith("bone"):
        x = to_bone(x, pairs)
    if modality.endswith("motion"):
        x = to_motion(x)
    return x


def uniform_indices(length: int, size: int) -> np.ndarray:
    """``size`` frame indices spread evenly over ``length`` (``linspace``, truncated), the NW-UCLA test rule."""
    return np.linspace(0, length - 1, size).astype(np.int64)


def random_indices_with_replacement(length: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """The CTR-GCN NW-UCLA training rule: ``size`` sorted frame indices drawn without replacement from
    the frame list repeated 100 times, i.e. a random, ordered choice in which short clips repeat frames."""
    pool = np.tile(np.arange(length), 100)
    return np.sort(rng.choice(pool, size=size, replace=False))


def minmax_normalize(x: np.ndarray) -> np.ndarray:
    """Scale each of the first three channels of ``(C, T, V, M)`` to ``[-1, 1]`` over the whole clip
    (the CTR-GCN NW-UCLA feeder does this after centring)."""
    out = x.copy()
    flat = x[:3].reshape(3, -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    out[:3] = ((x[:3] - lo[:, None, None, None]) / span[:, None, None, None]) * 2 - 1
    return out


def zero_missing_hands(hand: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(C, T, V, 2)`` hands with the frames whose detection ``mask`` ``(1, T, 1, 2)`` is below 0.5 set to zero."""
    return (hand * (mask >= 0.5)).astype(np.float32)


def prenormalize_2d(keypoint: np.ndarray, box: np.ndarray | None = None) -> np.ndarray:
    """pyskl's ``PreNormalize2D(mode='auto')`` without scores: ``(..., 2)`` pixel keypoints of a clip centred on
    the clip's bounding box and scaled to [-1, 1] per axis, when both sides of the box exceed 10 (pixels);
    otherwise unchanged (so keypoints already in [0, 1] pass through, as in pyskl's webcam demo). ``box``: the
    keypoints that define the box (default: ``keypoint``; e.g. only the frames where a hand was detected)."""
    out = keypoint.astype(np.float32).copy()
    ref = out if box is None else np.asarray(box, np.float32)
    (x_min, x_max), (y_min, y_max) = (ref[..., 0].min(), ref[..., 0].max()), (ref[..., 1].min(), ref[..., 1].max())
    if (x_max - x_min) > 10 and (y_max - y_min) > 10:
        out[..., 0] = (out[..., 0] - (x_max + x_min) / 2) / (x_max - x_min) * 2
        out[..., 1] = (out[..., 1] - (y_max + y_min) / 2) / (y_max - y_min) * 2
    return out


def uniform_sample_indices(num_frames: int, clip_len: int, seed: int = 255,
                           rng: np.random.Generator | None = None) -> np.ndarray:
    """pyskl's ``UniformSample`` (one clip, ``p_interval=1``): ``clip_len`` frame indices into ``num_frames``
    frames, one from each of ``clip_len`` equal segments, repeated cyclically when the clip is shorter. Without
    ``rng``: its test mode, with its fixed seed (the clip starts at frame 0). With ``rng``: its training mode (a
    short clip starts at a random frame), drawn from ``rng``."""
    if num_frames < 1:
        raise ValueError("cannot sample frames from an empty clip")
    if rng is None:
        state = np.random.RandomState(seed)  # the same stream as pyskl's np.random.seed(seed)
        state.rand()  # the interval ratio: always 1 here
        state.randint(1)  # the offset: always 0 here
        choice, integers, start = state.choice, state.randint, 0
    else:
        choice, integers = rng.choice, rng.integers
        start = int(rng.integers(num_frames)) if num_frames < clip_len else 0
    if num_frames < clip_len:
        inds = np.arange(start, start + clip_len)
    elif num_frames < 2 * clip_len:
        chosen = choice(clip_len + 1, num_frames - clip_len, replace=False)
        offset = np.zeros(clip_len + 1, dtype=np.int64)
        offset[chosen] = 1
        inds = np.arange(clip_len) + np.cumsum(offset)[:-1]
    else:
        bids = np.array([i * num_frames // clip_len for i in range(clip_len + 1)])
        inds = bids[:clip_len] + integers(np.diff(bids))
    return np.mod(inds, num_frames).astype(np.int64)
