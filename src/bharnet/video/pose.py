"""MediaPipe Pose on video frames: the tracker for one or two people, and the hand anchors it gives.

The legacy Pose solution tracks one person. With ``max_persons=2`` a second tracker runs on the frame with the
first person's box blacked out, which finds a second, non-overlapping person; person 0 is the first tracker's.
Frames can be downscaled first (``max_side``): the landmark model sees a 256 px crop of the person either way.
The mapping of Pose's landmarks to the NTU-25 layout is :mod:`bharnet.data.pose`.
"""
from __future__ import annotations

import numpy as np

from ..data.pose import PoseResult
from .quiet import quiet_native
from .runtime import require_mediapipe

__all__ = ["PoseTracker", "PoseGuide", "pose_anchors"]


class PoseTracker:
    """MediaPipe Pose (``model_complexity=1``, tracking) on video frames, for up to two people (module docstring).

    ``max_side``: frames are downscaled so that their longer side is at most this (0: full size); the
    landmarks are returned in the full frame's pixels. On 1080p NTU frames half size moves them by a median
    1.5 px and saves a fifth of Pose's time. ``search_every``: while the second tracker finds nobody, it looks
    again only every this many frames (a tracker that has lost its person runs the person detector on every
    call; on a one-person video that cost a third of the extraction time). A second person who appears is
    then found up to ``search_every - 1`` frames late; 1 looks on every frame."""

    def __init__(self, max_persons: int = 1, min_detection_confidence: float = 0.5, max_side: int = 0,
                 search_every: int = 4):
        if max_persons not in (1, 2):
            raise ValueError(f"max_persons must be 1 or 2, got {max_persons}")
        if search_every < 1:
            raise ValueError(f"search_every must be >= 1, got {search_every}")
        mp = require_mediapipe()
        self.max_side, self.search_every = max_side, search_every
        self._absent = [0] * max_persons  # frames since the second tracker last found someone
        with quiet_native():
            self._trackers = [mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                                     min_detection_confidence=min_detection_confidence)
                              for _ in range(max_persons)]
        self._first = True

    def __call__(self, rgb: np.ndarray) -> list[PoseResult | None]:
        """``(H, W, 3)`` RGB uint8 -> one result (or None) per tracker."""
        import cv2

        h, w = rgb.shape[:2]
        factor = min(1.0, self.max_side / max(h, w)) if self.max_side else 1.0
        frame = rgb if factor == 1.0 else cv2.resize(rgb, (round(w * factor), round(h * factor)),
                                                     interpolation=cv2.INTER_AREA)
        out: list[PoseResult | None] = []
        with quiet_native() if self._first else _Unchanged():
            for k, tracker in enumerate(self._trackers):
                if k > 0 and self._absent[k] % self.search_every:  # nobody there lately: look every few frames
                    self._absent[k] += 1
                    out.append(None)
                    continue
                if k > 0 and out[0] is not None:  # hide person 0 from the next tracker
                    x0, y0, x1, y1 = (int(round(v * factor)) for v in out[0].box())
                    frame = frame.copy()
                    frame[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0
                result = tracker.process(frame)
                if result.pose_landmarks is None:
                    self._absent[k] += 1
                    out.append(None)
                    continue
                self._absent[k] = 0
                lms = result.pose_landmarks.landmark
                out.append(PoseResult(
                    world=np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], np.float32),
                    image=np.array([(p.x * w, p.y * h) for p in lms], np.float32),
                    visibility=np.array([p.visibility for p in lms], np.float32)))
        self._first = False
        return out

    def reset(self) -> None:
        """Forget the tracked people (a new video)."""
        for tracker in self._trackers:
            tracker.reset()
        self._absent = [0] * len(self._trackers)

    def close(self) -> None:
        for tracker in self._trackers:
            tracker.close()


class _Unchanged:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class PoseGuide:
    """MediaPipe Pose (``model_complexity=1``) per frame -> wrist and hand-centre anchors of person 0.

    The frame's Pose results (every tracked person) stay in :attr:`last`, so that the body skeleton can be
    built from the same detections (:mod:`bharnet.data.pose`)."""

    # Pose landmarks: 11/12 shoulders, 15/16 wrists, 19/20 index knuckles, 23/24 hips (left, right).
    def __init__(self, min_detection_confidence: float = 0.5, mirrored: bool = False, max_persons: int = 1):
        """``mirrored``: the video is a mirror image (Kinect v2 colour streams are: NTU RGB+D, PKU-MMD).
        Pose names sides as in a true camera image, so on a mirrored video its "left" is the person's
        right; with ``mirrored=True`` the slots are swapped back to the person's own left and right, the
        convention of the Kinect skeletons. ``max_persons``: 1 or 2 people tracked (hands: person 0's)."""
        self.mirrored = mirrored
        self.tracker = PoseTracker(max_persons, min_detection_confidence)
        self.last: list = []

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """``(H, W, 3)`` RGB -> anchors ``(2, 2, 2)`` and torso length in pixels (NaN when nobody is found)."""
        self.last = self.tracker(rgb)
        if self.last[0] is None:
            return np.full((2, 2, 2), np.nan, np.float32), float("nan")
        return pose_anchors(self.last[0], self.mirrored)

    def close(self) -> None:
        self.tracker.close()


def pose_anchors(person, mirrored: bool = False) -> tuple[np.ndarray, float]:
    """A Pose result's hand anchors ``(2, 2, 2)`` (slot = the person's left / right; wrist, hand centre = mid
    wrist-index knuckle; pixels) and torso length in pixels (mid-shoulders to mid-hips)."""
    p = person.image
    anchors = np.stack([np.stack([p[15], (p[15] + p[19]) / 2]), np.stack([p[16], (p[16] + p[20]) / 2])])
    if mirrored:
        anchors = anchors[::-1].copy()
    torso = float(np.linalg.norm((p[11] + p[12]) / 2 - (p[23] + p[24]) / 2))
    return anchors.astype(np.float32), torso
