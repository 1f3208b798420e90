"""Hand skeletons from RGB video with MediaPipe Hands on crops: the guides and the crop detector.

MediaPipe's palm detector finds no hand in a full 1080p NTU frame (the person is too small), so Hands
runs on square crops centred on the body's hands, located by a *guide*:

* the Kinect colour-image coordinates of the most active actor's wrists and hands (NTU ``.skeleton``;
  actor 1 after the reference denoising), or
* MediaPipe Pose's wrists and index knuckles (any video without Kinect data; Pose ``model_complexity=1``,
  the only pose model shipped in the wheel).

The crop side scales with the person's size in the image (``crop_scale`` x the torso length in pixels,
clamped to [160, 720]; 2.5 found the most hands on the NTU sample clip among 2.0-4.5). All hands found in a
frame's crops are pooled, duplicates merged, and assigned to two slots, 0 = the person's left hand, 1 =
right, by the cheapest one-to-one matching between hands and the guide's wrists + hand centres (so one
hand never fills both slots), filling as many slots as possible; a hand farther than ``max_distance`` x
torso length from its guide is rejected. The tolerance is wide (1.5) because Kinect marks occluded hands
as "inferred" and places them off by up to a forearm. The slot order is the body's, which is more
stable than MediaPipe's mirrored handedness label.


The tracking extractor (:mod:`bharnet.video.tracking`) uses the same guides and slot assignment; extraction
jobs are :mod:`bharnet.video.extract`, the sample-level post-processing :mod:`bharnet.data.hands`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.hands import NUM_HAND_JOINTS
from ..data.sample import NoPersonError
from .runtime import require_mediapipe

__all__ = ["Guide", "ntu_guide", "HandDetector", "fill_slots", "assign_hands"]

# 0-based NTU joints: (wrist, hand) for the person's left and right.
_NTU_HAND_JOINTS = ((6, 7), (10, 11))
_NTU_TORSO = (0, 20)  # spine base, spine shoulder


@dataclass
class Guide:
    """Where to look for the hands in every video frame.

    Attributes:
        anchors: ``(F, 2, 2, 2)`` pixels, ``[frame, slot (left, right), (wrist, hand centre), (x, y)]``;
            NaN where the person is absent.
        scale: ``(F,)`` torso length in pixels (NaN where absent).
        source: ``"kinect"`` or ``"pose"``.
    """

    anchors: np.ndarray
    scale: np.ndarray
    source: str


def ntu_guide(skeleton_path: str | Path, num_video_frames: int | None = None) -> Guide:
    """Guide from an NTU ``.skeleton`` file: the colour coordinates of actor 1 (the most active body)."""
    from ..data.kinect import assemble_actors, read_skeleton

    seq = read_skeleton(skeleton_path)
    _, colors, video_frame, _ = assemble_actors(seq)
    frames = num_video_frames or seq.num_frames
    anchors = np.full((frames, 2, 2, 2), np.nan, np.float32)
    scale = np.full(frames, np.nan, np.float32)
    actor = colors[:, 0]  # (T, 25, 2)
    present = np.abs(actor).sum(axis=(1, 2)) > 0
    keep = present & (video_frame < frames)
    vf = video_frame[keep]
    for slot, (wrist, hand) in enumerate(_NTU_HAND_JOINTS):
        anchors[vf, slot, 0] = actor[keep, wrist]
        anchors[vf, slot, 1] = actor[keep, hand]
    scale[vf] = np.linalg.norm(actor[keep, _NTU_TORSO[0]] - actor[keep, _NTU_TORSO[1]], axis=-1)
    if not keep.any():
        raise NoPersonError(skeleton_path, "no body in the skeleton file")
    return Guide(anchors, scale, "kinect")


class HandDetector:
    """MediaPipe Hands on guide-centred crops of a frame (see the module docstring)."""

    def __init__(self, crop_scale: float = 2.5, min_crop: int = 160, max_crop: int = 720,
                 max_distance: float = 1.5, both_hands_crop: bool = False, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5):
        mp = require_mediapipe()
        self.crop_scale, self.min_crop, self.max_crop = crop_scale, min_crop, max_crop
        self.max_distance = max_distance
        self.both_hands_crop = both_hands_crop
        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                               model_complexity=model_complexity,
                                               min_detection_confidence=min_detection_confidence)

    def close(self) -> None:
        self._hands.close()

    def crop_size(self, torso: float) -> int:
        if not np.isfinite(torso) or torso <= 0:
            return self.max_crop
        return int(np.clip(round(self.crop_scale * torso), self.min_crop, self.max_crop))

    def _detect_crop(self, rgb: np.ndarray, center: np.ndarray, size: int) -> list[tuple[np.ndarray, float]]:
        import cv2

        h, w = rgb.shape[:2]
        x0, y0 = int(round(center[0] - size / 2)), int(round(center[1] - size / 2))
        # Copy the overlap into a black square so that crops at the image border keep their size.
        crop = np.zeros((size, size, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
        if sx1 <= sx0 or sy1 <= sy0:
            return []
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
        result = self._hands.process(cv2.resize(crop, (size, size)) if crop.shape[0] != size else crop)
        found = []
        for lms, handed in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            xyz = np.array([(p.x, p.y, p.z) for p in lms.landmark], np.float32) * size
            xyz[:, 0] += x0
            xyz[:, 1] += y0
            found.append((xyz, float(handed.classification[0].score)))
        return found

    def detect(self, rgb: np.ndarray, anchors: np.ndarray, torso: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One frame: ``(H, W, 3)`` RGB uint8, anchors ``(2, 2, 2)`` -> landmarks ``(2, 21, 3)`` pixels,
        detected ``(2,)`` bool, score ``(2,)``."""
        landmarks = np.zeros((2, NUM_HAND_JOINTS, 3), np.float32)
        detected = np.zeros(2, bool)
        score = np.zeros(2, np.float32)
        if not np.isfinite(anchors).any():
            return landmarks, detected, score
        size = self.crop_size(torso)
        crops = [(anchors[slot, 1], size) for slot in range(2) if np.isfinite(anchors[slot, 1]).all()]
        if self.both_hands_crop:
            # One more crop holding both hands: a hand whose guide is off (an "inferred" Kinect joint) is
            # often found there when its own crop misses it.
            valid = anchors[np.isfinite(anchors).all(axis=(1, 2))].reshape(-1, 2)
            lo, hi = valid.min(axis=0), valid.max(axis=0)
            crops.append(((lo + hi) / 2, int(max(size, (hi - lo).max() + size / 2))))
        candidates: list[tuple[np.ndarray, float]] = []
        for centre, side in crops:
            for xyz, s in self._detect_crop(rgb, centre, side):
                # The same hand seen from two crops: keep one.
                if all(np.linalg.norm(xyz[:, :2].mean(0) - c[:, :2].mean(0)) > 0.1 * size for c, _ in candidates):
                    candidates.append((xyz, s))
        if not candidates:
            return landmarks, detected, score
        limit = self.max_distance * (torso if np.isfinite(torso) and torso > 0 else size / self.crop_scale)
        return fill_slots(candidates, anchors, limit)


def fill_slots(candidates: list[tuple[np.ndarray, float]], anchors: np.ndarray, limit: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hands ``(21, 3)`` with their scores -> landmarks ``(2, 21, 3)``, detected ``(2,)``, score ``(2,)`` per
    slot, by :func:`assign_hands` (one-to-one, within ``limit`` pixels of the slot's anchors)."""
    landmarks = np.zeros((2, NUM_HAND_JOINTS, 3), np.float32)
    detected = np.zeros(2, bool)
    score = np.zeros(2, np.float32)
    if not candidates or not np.isfinite(anchors).any():
        return landmarks, detected, score
    choice = assign_hands([xyz for xyz, _ in candidates], anchors, limit)
    for slot, k in enumerate(choice):
        if k >= 0:
            landmarks[slot], score[slot], detected[slot] = candidates[k][0], candidates[k][1], True
    return landmarks, detected, score


def assign_hands(candidates: list[np.ndarray], anchors: np.ndarray, limit: float) -> tuple[int, int]:
    """Match detected hands to the two slots.

    Args:
        candidates: hands ``(21, >=2)`` in pixels.
        anchors: ``(2, 2, 2)`` guide wrist and hand centre per slot (NaN = unknown).
        limit: the largest accepted distance (mean of wrist-to-wrist and knuckle-to-hand-centre).

    Returns:
        the candidate index for the left and the right slot, -1 for none. Among the one-to-one matchings
        within ``limit``, the one filling the most slots wins, then the one with the least total distance.
    """
    cost = np.full((2, len(candidates)), np.inf)
    for slot in range(2):
        if not np.isfinite(anchors[slot]).all():
            continue
        for k, xyz in enumerate(candidates):
            d = 0.5 * (np.linalg.norm(xyz[0, :2] - anchors[slot, 0]) + np.linalg.norm(xyz[9, :2] - anchors[slot, 1]))
            cost[slot, k] = d if d <= limit else np.inf
    best, best_key = (-1, -1), (0, 0.0)
    for a in range(-1, len(candidates)):
        for b in range(-1, len(candidates)):
            if a == b and a >= 0:
                continue
            total = (cost[0, a] if a >= 0 else 0.0) + (cost[1, b] if b >= 0 else 0.0)
            if not np.isfinite(total):
                continue
            key = (-((a >= 0) + (b >= 0)), total)
            if key < best_key:
                best, best_key = (a, b), key
    return best
