"""Body skeletons from RGB: MediaPipe Pose's 33 landmarks -> the NTU RGB+D 25-joint Kinect layout.

The goal is that any video gives the same body tensors as the NTU pipeline (camera-space metres, Kinect
axes and joint definitions), so that a model trained on Kinect skeletons can be run on a webcam, and a model
can be trained on exactly the skeletons it will see (``bharnet data extract-body``).

Joint correspondence ([INT], Kinect v2 joint definitions against MediaPipe's landmarks; 0-based NTU):

==============================  ==============================================================
NTU joint                       from
==============================  ==============================================================
0 spine base                    mid-hips (23, 24)
20 spine shoulder               mid-shoulders (11, 12)
1 spine mid                     spine base + 0.57 (spine shoulder - spine base) (the NTU sample
                                clip's Kinect proportion)
3 head                          mid-ears (7, 8): the centre of the head, as Kinect's head joint
2 neck                          spine shoulder + 0.33 (head - spine shoulder)
4-6 / 8-10 shoulder, elbow,     11, 13, 15 / 12, 14, 16
wrist (left / right)
7 / 11 hand                     mean of wrist, pinky and index landmarks (15, 17, 19 / 16, 18, 20)
12-15 / 16-19 hip, knee,        23, 25, 27, 31 / 24, 26, 28, 32 (foot = foot index)
ankle, foot
21 / 23 hand tip                MediaPipe Hands middle-finger tip (landmark 12) of that hand where
                                detected, else Pose's index landmark (19 / 20)
22 / 24 thumb                   Hands thumb tip (4) where detected, else Pose's thumb (21 / 22)
==============================  ==============================================================

Coordinates. Pose's world landmarks are metres about the hip centre, with image axes (x right, y down, z
away from the camera). The body is placed in the camera frame by the hip centre's pixel position and the
scale ``s`` = metres per pixel (world over image length of the shoulder and hip segments in the image
plane; median-filtered over time): ``X = (u - c_x) s``, ``Y = (v - c_y) s``, ``Z = f s`` with the focal
length ``f`` from an assumed horizontal field of view (``hfov``, default 70 degrees; Kinect v2's colour
camera has 84). Kinect's camera space has x to the sensor's left, y up, z away; so for a true camera image
``(x, y, z) -> (-x, -y, z)``. Kinect colour videos (NTU RGB+D, PKU-MMD) are mirror images: there Pose's
sides are the person's opposite sides and image x already runs along Kinect's x, so with ``mirrored=True``
the landmarks' sides are swapped and only y is flipped. Either way the skeleton is the physical one: the
person's left wrist is joint 6. Hand landmarks (pixels, relative depth scaled like x) join the body at
the Pose wrist with the same scale.

Two people. The legacy Pose solution tracks one person. With ``max_persons=2`` a second tracker runs on
the frame with the first person's box blacked out, which finds a second, non-overlapping person; person 0
is the first tracker's (whose hands are extracted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PoseResult", "pose_to_ntu", "ntu_from_video", "read_body_file", "SIDE_SWAP",
           "NUM_POSE_LANDMARKS"]

NUM_POSE_LANDMARKS = 33
_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22),
          (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
SIDE_SWAP = np.arange(NUM_POSE_LANDMARKS)
for _a, _b in _PAIRS:
    SIDE_SWAP[_a], SIDE_SWAP[_b] = _b, _a

# NTU joint -> Pose landmarks averaged (the derived joints 1, 2, 21-24 are filled in pose_to_ntu).
_DIRECT = {0: (23, 24), 20: (11, 12), 3: (7, 8), 4: (11,), 5: (13,), 6: (15,), 7: (15, 17, 19), 8: (12,), 9: (14,),
           10: (16,), 11: (16, 18, 20), 12: (23,), 13: (25,), 14: (27,), 15: (31,), 16: (24,), 17: (26,), 18: (28,),
           19: (32,), 21: (19,), 22: (21,), 23: (20,), 24: (22,)}
SPINE_MID, NECK = 0.57, 0.33
_HAND_TIP, _HAND_THUMB = 12, 4
_TIP_JOINTS = ((21, 22), (23, 24))  # (hand tip, thumb) for the left and right hand slot
_SCALE_SEGMENTS = ((11, 12), (23, 24), (11, 23), (12, 24))


@dataclass
class PoseResult:
    """One person in one frame: ``world`` ``(33, 3)`` metres about the hip centre, ``image`` ``(33, 2)`` pixels,
    ``visibility`` ``(33,)``; landmarks in MediaPipe's order and naming (sides as Pose reports them)."""

    world: np.ndarray
    image: np.ndarray
    visibility: np.ndarray

    def box(self, margin: float = 0.15) -> tuple[float, float, float, float]:
        lo, hi = self.image.min(0), self.image.max(0)
        pad = margin * (hi - lo)
        return (*(lo - pad), *(hi + pad))


def _scale(world: np.ndarray, image: np.ndarray) -> float:
    """Metres per pixel from the torso segments: their world length in the image plane over their pixel length."""
    metres = sum(np.linalg.norm(world[a, :2] - world[b, :2]) for a, b in _SCALE_SEGMENTS)
    pixels = sum(np.linalg.norm(image[a] - image[b]) for a, b in _SCALE_SEGMENTS)
    return float(metres / pixels) if pixels > 1e-6 else float("nan")


def pose_to_ntu(world: np.ndarray, image: np.ndarray, scale: float, image_size: tuple[int, int], *,
                hands: np.ndarray | None = None, detected: np.ndarray | None = None, mirrored: bool = False,
                hfov: float = 70.0) -> tuple[np.ndarray, np.ndarray]:
    """Map one person in one frame to NTU-25.

    Args:
        world: ``(33, 3)`` Pose world landmarks; ``image``: ``(33, 2)`` pixels (Pose's side naming).
        scale: metres per pixel (see the module docstring; :func:`ntu_from_video` smooths it over time).
        image_size: ``(W, H)``.
        hands: ``(2, 21, 3)`` hand landmarks in pixels, slot 0 = the person's left; ``detected`` ``(2,)``.
        mirrored: the video is a mirror image (Kinect colour streams).

    Returns:
        joints ``(25, 3)`` Kinect camera-space metres and colour pixels ``(25, 2)``.
    """
    if mirrored:
        world, image = world[SIDE_SWAP], image[SIDE_SWAP]
    w, h = image_size
    focal = (w / 2) / math.tan(math.radians(hfov) / 2)
    hip_px = (image[23] + image[24]) / 2
    root = np.array([(hip_px[0] - w / 2) * scale, (hip_px[1] - h / 2) * scale, focal * scale], np.float32)
    cam = world + root  # camera frame with image axes
    joints = np.zeros((25, 3), np.float32)
    colors = np.zeros((25, 2), np.float32)
    for j, idx in _DIRECT.items():
        joints[j] = cam[list(idx)].mean(0)
        colors[j] = image[list(idx)].mean(0)
    for j, (a, b, t) in {1: (0, 20, SPINE_MID), 2: (20, 3, NECK)}.items():
        joints[j] = joints[a] + t * (joints[b] - joints[a])
        colors[j] = colors[a] + t * (colors[b] - colors[a])
    if hands is not None and detected is not None:
        for slot, wrist in enumerate((6, 10)):
            if not detected[slot]:
                continue
            rel = (hands[slot] - hands[slot, 0]) * scale  # pixels (and pixel-scaled depth) -> metres
            for joint, lm in zip(_TIP_JOINTS[slot], (_HAND_TIP, _HAND_THUMB)):
                joints[joint] = joints[wrist] + rel[lm]
                colors[joint] = hands[slot, lm, :2]
    flip = np.array([1.0, -1.0, 1.0] if mirrored else [-1.0, -1.0, 1.0], np.float32)
    return joints * flip, colors


def _median_filter(values: np.ndarray, size: int = 9) -> np.ndarray:
    """Running median over the finite entries of ``(F,)`` (NaN where a window holds none)."""
    out = np.full_like(values, np.nan)
    half = size // 2
    for i in range(len(values)):
        win = values[max(0, i - half):i + half + 1]
        win = win[np.isfinite(win)]
        if win.size:
            out[i] = np.median(win)
    return out


def ntu_from_video(persons: list[list[PoseResult | None]], image_size: tuple[int, int], *,
                   hands: np.ndarray | None = None, detected: np.ndarray | None = None, mirrored: bool = False,
                   hfov: float = 70.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map a video's Pose results to NTU-25.

    Args:
        persons: per frame, one entry per tracked person (None = not found).
        hands / detected: ``(F, 2, 21, 3)`` / ``(F, 2)`` hands of person 0 (pixels), if extracted.

    Returns:
        joints ``(F, M, 25, 3)``, colors ``(F, M, 25, 2)`` (zero where a person is absent) and present ``(F, M)``.
    """
    frames, m = len(persons), max((len(p) for p in persons), default=1)
    joints = np.zeros((frames, m, 25, 3), np.float32)
    colors = np.zeros((frames, m, 25, 2), np.float32)
    present = np.zeros((frames, m), bool)
    for k in range(m):
        scale = np.array([_scale(p[k].world, p[k].image) if k < len(p) and p[k] is not None else np.nan
                          for p in persons], np.float64)
        scale = _median_filter(scale)
        for t, p in enumerate(persons):
            if k >= len(p) or p[k] is None or not np.isfinite(scale[t]):
                continue
            hand_args = dict(hands=hands[t], detected=detected[t]) if k == 0 and hands is not None else {}
            joints[t, k], colors[t, k] = pose_to_ntu(p[k].world, p[k].image, float(scale[t]), image_size,
                                                     mirrored=mirrored, hfov=hfov, **hand_args)
            present[t, k] = True
    return joints, colors, present


def read_body_file(path: str | Path):
    """A per-video file of ``bharnet data extract-body`` as a :class:`~bharnet.data.kinect.SkeletonSequence`, so
    that it goes through the NTU preprocessing (denoising, actor order, centring) like a ``.skeleton`` file.
    Every joint counts as tracked. The file's hands attach with :func:`bharnet.data.hands.attach_hands`."""
    from .hands import load_hands
    from .kinect import BodyTrack, SkeletonSequence
    from .sample import DataFormatError, NoPersonError

    path = Path(path)
    data = load_hands(path)
    if "body" not in data:
        raise DataFormatError(path, "no body skeletons in this file (made by extract-hands?); run "
                              "`bharnet data extract-body` on the video")
    body, colors, present = data["body"], data["body_color"], data["body_present"].astype(bool)
    if body.ndim != 4 or body.shape[2:] != (25, 3) or present.shape != body.shape[:2]:
        raise DataFormatError(path, f"body arrays have unexpected shapes {body.shape}, {present.shape}")
    nonempty = present.any(axis=1)
    position = np.cumsum(nonempty) - 1  # a video frame's index among the frames with somebody
    bodies = []
    for m in range(body.shape[1]):
        frames = np.flatnonzero(present[:, m])
        if frames.size:
            bodies.append(BodyTrack(str(m), body[frames, m], colors[frames, m],
                                    np.full((frames.size, 25), 2, np.int8), position[frames],
                                    slots=np.full(frames.size, m)))
    if not bodies:
        raise NoPersonError(path, "nobody was found in this video")
    return SkeletonSequence(name=path.stem, path=str(path), num_frames=len(present),
                            video_frames=np.flatnonzero(nonempty), bodies=bodies)
