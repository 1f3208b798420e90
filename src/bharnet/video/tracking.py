"""The tracking body + hand extractor, and today's crop extractor behind the same per-frame interface.

:class:`TrackingExtractor`, per frame:

1. **Pose** (MediaPipe's legacy solution in tracking mode, the only pose model in the wheel) on the frame,
   downscaled so that its longer side is at most ``pose_max_side`` pixels (the landmark model sees a 256 px
   crop either way; on 1080p NTU frames the landmarks move by a median 1.5 px at half size). Two people: a
   second tracker on the frame with the first person's previous box blacked out.
2. **Hands in tracking mode** (``static_image_mode=False``, two hands) on ONE square crop per person around
   both of its hands. The crop moves only when a hand anchor comes within ``margin`` of its edge or the
   person's size changes by a quarter (hysteresis: a crop that stays put keeps MediaPipe's hand tracks valid,
   so the palm detector runs only when a hand is lost or the crop has to move). With a Kinect ``.skeleton``
   guide the crop follows the Kinect colour joints and Pose does not run at all.
3. **One-to-one assignment** of the crop's hands to the person's left / right wrist + hand centre
   (:func:`bharnet.video.hands.assign_hands`: no hand in two slots; a hand MediaPipe calls "left" that sits
   at the right wrist goes to the right slot; near-duplicate tracks are merged first).

Pose-guided, the crop of frame ``t`` comes from the pose of frame ``t - 1`` so that Pose(t) runs in a second
thread while Hands(t) runs in this one (MediaPipe releases the GIL while its graph runs): on two cores a frame
costs about the slower of the two, not their sum. The assignment then uses Pose(t)'s wrists.

:class:`CropExtractor` is the extractor of :mod:`bharnet.video.hands` (Hands in static mode on one crop per
hand, Pose first): the reference for quality, and the fallback (``--extractor crops``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..data.hands import NUM_HAND_JOINTS
from .hands import HandDetector, fill_slots
from .pose import PoseGuide, PoseTracker, pose_anchors
from .quiet import quiet_native
from .runtime import require_mediapipe

__all__ = ["FrameResult", "TrackingExtractor", "CropExtractor", "make_extractor", "EXTRACTORS", "HandTrack"]

EXTRACTORS = ("tracking", "crops")


@dataclass
class FrameResult:
    """One frame's skeletons.

    Attributes:
        landmarks: ``(2, 21, 3)`` pixels, person 0's hands (slot 0 = the person's left).
        detected: ``(2,)`` bool; ``score``: ``(2,)`` MediaPipe's handedness score of the hand in each slot.
        anchors: ``(2, 2, 2)`` person 0's wrist and hand centre per slot, pixels (NaN: unknown).
        persons: Pose's result per tracked person (None: not found; empty with a Kinect guide).
        hands_all / detected_all: ``(M, 2, 21, 3)`` / ``(M, 2)`` every tracked person's hands.
    """

    landmarks: np.ndarray
    detected: np.ndarray
    score: np.ndarray
    anchors: np.ndarray
    persons: list = field(default_factory=list)
    hands_all: np.ndarray | None = None
    detected_all: np.ndarray | None = None


def _square(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray | None:
    """The ``side`` x ``side`` crop at ``(x0, y0)``, black where it leaves the frame (None: no overlap)."""
    h, w = rgb.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    if (sx0, sy0, sx1, sy1) == (x0, y0, x0 + side, y0 + side):
        return np.ascontiguousarray(rgb[sy0:sy1, sx0:sx1])
    crop = np.zeros((side, side, 3), np.uint8)
    crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return crop


class HandTrack:
    """MediaPipe Hands in tracking mode on one crop around one person's hands (module docstring, step 2)."""

    def __init__(self, *, crop_scale: float = 2.5, min_crop: int = 160, max_crop: int = 1080, margin: float = 0.12,
                 max_distance: float = 1.5, model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        mp = require_mediapipe()
        self.crop_scale, self.min_crop, self.max_crop, self.margin = crop_scale, min_crop, max_crop, margin
        self.max_distance = max_distance
        with quiet_native():
            self._hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=2,
                                                   model_complexity=model_complexity,
                                                   min_detection_confidence=min_detection_confidence,
                                                   min_tracking_confidence=min_tracking_confidence)
        self.box: tuple[int, int, int] | None = None  # x0, y0, side
        self.moves = 0
        self._first = True

    def close(self) -> None:
        self._hands.close()

    def reset(self) -> None:
        """Forget the tracks and the crop (a new video)."""
        self._hands.reset()
        self.box = None

    def update_box(self, anchors: np.ndarray, torso: float) -> None:
        """Move the crop for the next frame if ``anchors`` ``(2, 2, 2)`` (pixels) require it."""
        points = anchors.reshape(-1, 2)
        points = points[np.isfinite(points).all(axis=1)]
        if points.size == 0:
            return  # keep the last crop: the person may come back where they were
        size = torso if np.isfinite(torso) and torso > 0 else None
        lo, hi = points.min(axis=0), points.max(axis=0)
        extent = float((hi - lo).max())
        want = self.crop_scale * size if size else self.max_crop
        want = int(np.clip(max(want, extent + (size or 0.0)), self.min_crop, self.max_crop))
        if self.box is not None:
            x0, y0, side = self.box
            inner = self.margin * side
            inside = ((points >= (x0 + inner, y0 + inner)) & (points <= (x0 + side - inner, y0 + side - inner))).all()
            if inside and 0.8 <= want / side <= 1.25:
                return
        centre = (lo + hi) / 2
        self.box = (int(round(centre[0] - want / 2)), int(round(centre[1] - want / 2)), want)
        self.moves += 1

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Hands ``(21, 3)`` (pixels; z scaled by the crop side) with their scores, in the current crop."""
        if self.box is None:
            return []
        x0, y0, side = self.box
        crop = _square(rgb, x0, y0, side)
        if crop is None:
            return []
        if self._first:
            with quiet_native():  # the first frame is when MediaPipe logs its delegates and feedback managers
                result = self._hands.process(crop)
            self._first = False
        else:
            result = self._hands.process(crop)
        found: list[tuple[np.ndarray, float]] = []
        for lms, handed in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            xyz = np.array([(p.x, p.y, p.z) for p in lms.landmark], np.float32) * side
            xyz[:, 0] += x0
            xyz[:, 1] += y0
            # two tracks on one hand (MediaPipe does this when a track re-detects): keep the first
            if all(np.linalg.norm(xyz[:, :2].mean(0) - c[:, :2].mean(0)) > 0.1 * side for c, _ in found):
                found.append((xyz, float(handed.classification[0].score)))
        return found

    def assign(self, found: list[tuple[np.ndarray, float]], anchors: np.ndarray, torso: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        side = self.box[2] if self.box else self.max_crop
        limit = self.max_distance * (torso if np.isfinite(torso) and torso > 0 else side / self.crop_scale)
        return fill_slots(found, anchors, limit)


class TrackingExtractor:
    """Pose + tracked hands, one crop per person (module docstring).

    Args:
        mirrored: the video is a mirror image (Kinect colour streams); the slots are the person's own sides.
        min_detection_confidence: Pose's; ``hand_detection_confidence``: the palm detector's (MediaPipe's
            defaults, 0.5. On the NTU sample clip lower thresholds move the detection rates by a few frames
            either way: both at 0.3, 75.7 / 81.6 % left / right instead of 75.7 / 76.7 %; one clip is not
            evidence for a default).
        max_persons: people tracked (1 or 2); every person's hands are in :attr:`FrameResult.hands_all`,
            person 0's in :attr:`FrameResult.landmarks`.
        pose_max_side: Pose sees the frame downscaled to this longer side (0: full size).
        threaded: run Pose(t) beside Hands(t) (crop from frame t - 1); False runs them one after the other,
            the crop from frame t.
        hand options: see :class:`HandTrack`.
    """

    kind = "tracking"

    def __init__(self, *, mirrored: bool = False, max_persons: int = 1, pose_max_side: int = 960,
                 threaded: bool = True, min_detection_confidence: float = 0.5,
                 hand_detection_confidence: float = 0.5, **hand_options):
        self.mirrored, self.max_persons, self.threaded = mirrored, max_persons, threaded
        self._pose_args = (max_persons, min_detection_confidence, pose_max_side)
        self._poses: PoseTracker | None = None  # built on the first Pose-guided frame (a Kinect guide needs none)
        self.tracks = [HandTrack(min_detection_confidence=hand_detection_confidence, **hand_options)
                       for _ in range(max_persons)]
        self._pool: ThreadPoolExecutor | None = None
        self._have_boxes = False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._poses is not None:
            self._poses.close()
        for t in self.tracks:
            t.close()

    def reset(self) -> None:
        """Start afresh on a new video (MediaPipe graphs reset, crops forgotten; nothing is rebuilt)."""
        if self._poses is not None:
            self._poses.reset()
        for t in self.tracks:
            t.reset()
        self._have_boxes = False

    def warm_up(self, size: tuple[int, int]) -> None:
        """Build every MediaPipe graph and run it once on a black ``size`` = ``(W, H)`` frame, so that a live
        source does not lose its first frames to model loading (nothing is found, so nothing is tracked)."""
        black = np.zeros((size[1], size[0], 3), np.uint8)
        self._pose_frame(black)
        for t in self.tracks:
            with quiet_native():
                t._hands.process(np.zeros((256, 256, 3), np.uint8))
            t._first = False

    def _pose_frame(self, rgb: np.ndarray) -> list:
        if self._poses is None:
            self._poses = PoseTracker(*self._pose_args)
        return self._poses(rgb)

    def __call__(self, rgb: np.ndarray, guide: tuple[np.ndarray, float] | None = None) -> FrameResult:
        """``(H, W, 3)`` RGB uint8 (and with a Kinect guide its anchors ``(2, 2, 2)`` and torso length)."""
        if guide is not None:
            anchors, torso = guide
            track = self.tracks[0]
            track.update_box(anchors, torso)
            lms, det, sc = track.assign(track.detect(rgb), anchors, torso)
            return FrameResult(lms, det, sc, np.asarray(anchors, np.float32), [], lms[None], det[None])
        if self.threaded and self._have_boxes:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="bharnet-pose")
            pending = self._pool.submit(self._pose_frame, rgb)
            found = [t.detect(rgb) for t in self.tracks]
            persons = pending.result()
        else:
            persons = self._pose_frame(rgb)
            found = None
        hands_all = np.zeros((self.max_persons, 2, NUM_HAND_JOINTS, 3), np.float32)
        detected_all = np.zeros((self.max_persons, 2), bool)
        first = None
        for k, (person, track) in enumerate(zip(persons, self.tracks)):
            if person is None:
                anchors, torso = np.full((2, 2, 2), np.nan, np.float32), float("nan")
            else:
                anchors, torso = pose_anchors(person, self.mirrored)
            if found is None:  # sequential: the crop from this frame's pose
                track.update_box(anchors, torso)
                hands = track.detect(rgb)
            else:
                hands = found[k]
                track.update_box(anchors, torso)  # for the next frame
            lms, det, sc = track.assign(hands, anchors, torso)
            hands_all[k], detected_all[k] = lms, det
            if k == 0:
                first = (lms, det, sc, anchors)
        self._have_boxes = any(t.box is not None for t in self.tracks)
        lms, det, sc, anchors = first
        return FrameResult(lms, det, sc, anchors, persons, hands_all, detected_all)


class CropExtractor:
    """Today's extractor: Pose (or a Kinect guide), then Hands in static mode on one crop per hand
    (:class:`bharnet.video.hands.HandDetector`). ``detector``: an existing detector to use (not closed here)."""

    kind = "crops"

    def __init__(self, *, mirrored: bool = False, max_persons: int = 1, detector: HandDetector | None = None,
                 **detector_options):
        self.mirrored, self.max_persons = mirrored, max_persons
        self._own = detector is None
        with quiet_native():
            self.detector = detector or HandDetector(**detector_options)
        self._pose = None

    def close(self) -> None:
        if self._own:
            self.detector.close()
        if self._pose is not None:
            self._pose.close()

    def reset(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def warm_up(self, size: tuple[int, int]) -> None:
        """Build the Pose graph and run it once on a black ``size`` = ``(W, H)`` frame (see the tracking
        extractor's); the static-mode Hands detector has no state to warm."""
        if self._pose is None:
            with quiet_native():
                self._pose = PoseGuide(mirrored=self.mirrored, max_persons=self.max_persons)
        self._pose(np.zeros((size[1], size[0], 3), np.uint8))

    def __call__(self, rgb: np.ndarray, guide: tuple[np.ndarray, float] | None = None) -> FrameResult:
        if guide is not None:
            anchors, torso = guide
            persons: list = []
        else:
            if self._pose is None:
                with quiet_native():
                    self._pose = PoseGuide(mirrored=self.mirrored, max_persons=self.max_persons)
            anchors, torso = self._pose(rgb)
            persons = list(self._pose.last)
        lms, det, sc = self.detector.detect(rgb, anchors, torso)
        return FrameResult(lms, det, sc, np.asarray(anchors, np.float32), persons, lms[None], det[None])


def make_extractor(kind: str = "tracking", *, mirrored: bool = False, max_persons: int = 1,
                   detector: HandDetector | None = None, **options):
    """``"tracking"`` (:class:`TrackingExtractor`, the default) or ``"crops"`` (:class:`CropExtractor`).
    A given ``detector`` means the crop extractor with it."""
    if detector is not None:
        kind = "crops"
    if kind == "tracking":
        return TrackingExtractor(mirrored=mirrored, max_persons=max_persons, **options)
    if kind == "crops":
        return CropExtractor(mirrored=mirrored, max_persons=max_persons, detector=detector, **options)
    raise ValueError(f"extractor must be one of {EXTRACTORS}, got {kind!r}")
