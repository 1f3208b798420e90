"""A procedural body + hand action benchmark: BHaRNet's problem in miniature, generated from a seed.

Nothing is downloaded. Every clip is rendered from a kinematic model (:mod:`bharnet.datasets.kinematics`) and then
passes through the same code as a real NTU RGB+D sample, so everything downstream (store, feeder, models,
engine) runs its real path:

* **Body**: an NTU-25 skeleton posed by forward kinematics (spine, arms, legs; per-frame joint angles), with
  per-subject height, limb proportions and motion style (amplitude, idle posture, sway), seen by a Kinect-like
  camera at one of three viewpoints (0, +45 and -45 degrees, NTU's cameras 1-3) with a jittered distance and
  height. The camera-space joints and their colour-image pixels form a :class:`~bharnet.datasets.ntu.BodyTrack`
  that goes through :func:`bharnet.datasets.ntu.to_sample` (the reference centring). Kinect noise is added, more on
  the hand, hand-tip and thumb joints: Kinect cannot resolve the fingers [INT: its hand-tip and thumb joints
  follow the hand's orientation but not its finger configuration, as in NTU, where they are several cm noisy].
* **Hands**: MediaPipe's 21-joint hands built from finger curl, spread and thumb parameters (hand shapes are
  morphed continuously), attached at the body's wrists and oriented by the forearm, projected to pixels with a
  MediaPipe-like relative depth. Detection failures follow MediaPipe's habits: bursts of missed frames
  (more for a hanging hand and for the hand turned away from the camera), slots swapped for a few frames,
  pixel jitter and rare gross outliers. The raw detections then go through
  :func:`bharnet.data.hands.interpolate_missing` and :func:`bharnet.data.hands.normalize_hands`, exactly as
  :func:`bharnet.data.hands.attach_hands` treats real extractions.
* **Time**: each clip has its own tempo (about 1.7-3 s at 30 fps), idle frames before and after, and a
  monotone time warp.

Two benchmarks (:data:`BENCHMARKS`), each with three class groups:

* ``body``: body-distinct actions with the same relaxed, hanging hands;
* ``hand``: hand-distinct actions with identical body motion: the right hand raised in front of the
  shoulder, showing a shape;
* ``mixed``: a factorial of arm motions and hand shapes: neither stream alone separates them.

``"fine"`` (the default, the demo's) is built to be hard the way NTU's fine-grained classes are: 35 classes
(10 body, 13 hand, 12 mixed) whose hand shapes come in confusable families differing in one finger or the
thumb (OK / pinch, point / L / victory / three / four, rock / call, fist / thumb up), performers who
form a shape their own way (a per-clip deviation of every finger from the canonical shape), hand shapes
seen blurred toward the relaxed hand [INT: MediaPipe's landmarks of a hand 16 px across, as on NTU's 1080p
frames, are a compromise between the image and its prior], misses near the rates measured on the real NTU
clip (75 % / 81 % of frames found there, 75 % / 78 % over the benchmark; short bursts plus a long occlusion now
and then), and only 15 performers (10 train under ``xsub``). ``"basic"`` is the first benchmark (20 classes,
canonical shapes, 24 performers; with ``hand_normalization="palm"`` its clips are generator version 2's,
unchanged), on which a fused model reaches 100 %.

Within a group that shares the body motion, the body joints are generated from the same distributions
(tested: without noise, a subject's hand-group bodies are identical). Samples are named like NTU's
(``SsssCcccPpppRrrrAaaa``: setup 1, camera = view, performer = subject). Splits: ``xsub`` (subjects with
``id % 3 != 0`` train) and ``xview`` (cameras 2 and 3 train, camera 1 tests, as NTU's cross-view).

The store holds one actor (``M = 1``, as NW-UCLA), since every action has one performer.

>>> from bharnet.datasets.synthetic import generate_store
>>> generate_store("synthetic.store", seed=0)   # doctest: +SKIP
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..data.hands import interpolate_missing, normalize_hands
from ..data.sample import Sample
from ..data.store import StoreWriter
from .kinematics import (
    BODY_MOTIONS,
    SHAPES,
    SubjectStyle,
    body_motion,
    envelope,
    hand_landmarks,
    hand_motion,
    pose_body,
    unit,
)
from .ntu import BodyTrack, SkeletonSequence, to_sample
from .synthetic_actions import (
    ACTIONS,
    BENCHMARKS,
    CLASS_NAMES,
    DEFAULT_BENCHMARK,
    GROUPS,
    Action,
    Benchmark,
    get_benchmark,
)

__all__ = ["ACTIONS", "CLASS_NAMES", "GROUPS", "Action", "Benchmark", "BENCHMARKS", "DEFAULT_BENCHMARK",
           "get_benchmark", "SubjectStyle", "render_sample", "iter_samples", "generate_store", "split_of",
           "GENERATOR_VERSION"]

GENERATOR_VERSION = 3
FPS = 30
IMAGE_SIZE = (1920, 1080)  # (width, height) of the virtual colour camera, as NTU's Kinect v2
FOCAL = 1060.0  # pixels; close to the Kinect v2 colour camera
VIEWS = {1: 0.0, 2: 45.0, 3: -45.0}  # camera -> azimuth (degrees) around the subject


# ------------------------------------------------------------------------------------------- camera
def _camera(view: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera rotation ``(3, 3)`` (rows: camera x left, y up, z forward) and camera position."""
    azimuth = math.radians(VIEWS[view] + rng.uniform(-5, 5))
    distance, height = rng.uniform(2.6, 3.6), rng.uniform(0.8, 1.3)
    position = np.array([distance * math.sin(azimuth), height, distance * math.cos(azimuth)])
    target = np.array([0.0, 0.9, 0.0])
    forward = unit(target - position)
    left = unit(np.cross([0.0, 1.0, 0.0], forward))
    up = np.cross(forward, left)
    return np.stack([left, up, forward]), position


def _project(points: np.ndarray) -> np.ndarray:
    """Camera-space ``(..., 3)`` -> pixels ``(..., 2)`` of the 1920x1080 colour image."""
    zc = np.maximum(points[..., 2], 0.1)
    u = IMAGE_SIZE[0] / 2 - FOCAL * points[..., 0] / zc
    v = IMAGE_SIZE[1] / 2 - FOCAL * points[..., 1] / zc
    return np.stack([u, v], -1)


# ------------------------------------------------------------------------------------------- detection
def _missed(T: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``(T,)`` bool bursts of missed detections with mean ``rate`` (a two-state Markov chain)."""
    stay = 0.65  # P(miss | missed the frame before): misses come in bursts
    enter = rate * (1 - stay) / max(1 - rate, 1e-6)
    out = np.zeros(T, bool)
    state = rng.random() < rate
    for k in range(T):
        out[k] = state
        state = rng.random() < (stay if state else enter)
    return out


def _occluded(T: int, rng: np.random.Generator) -> np.ndarray:
    """``(T,)`` bool: one long dropout of 10-30 frames (a hand behind the body or an object)."""
    out = np.zeros(T, bool)
    length = min(T, int(rng.integers(10, 31)))
    start = int(rng.integers(0, T - length + 1))
    out[start:start + length] = True
    return out


def _detect_hands(pixels: np.ndarray, palm_px: np.ndarray, rates: tuple[float, float], bench: Benchmark,
                  rng: np.random.Generator, extra: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Raw MediaPipe-like detections from true hands ``(T, 2, 21, 3)`` (pixels): missed frames (zeros),
    jitter, rare outliers and short slot swaps. Returns landmarks and the detection mask ``(T, 2)``.
    ``extra`` draws what the basic benchmark does not have (its clips stay those of generator version 2)."""
    T = pixels.shape[0]
    out = pixels.copy()
    scale = palm_px[:, :, None, None]  # noise in proportion to the hand's size in the image
    out += rng.normal(0, 0.035, out.shape) * scale + rng.normal(0, 0.06, (T, 2, 1, 3)) * scale
    outliers = rng.random((T, 2)) < 0.01
    out[outliers] += rng.normal(0, 1.5, (int(outliers.sum()), 1, 3)) * scale[outliers]
    missed = np.stack([_missed(T, rates[0], rng), _missed(T, rates[1], rng)], 1)
    if bench.occlusion > 0:
        for slot in range(2):
            if extra.random() < bench.occlusion:
                missed[:, slot] |= _occluded(T, extra)
    detected = ~missed
    if rng.random() < bench.swap:  # the two hands swapped for a few frames
        start = int(rng.integers(0, max(T - 3, 1)))
        stop = min(T, start + int(rng.integers(2, 8)))
        out[start:stop] = out[start:stop, ::-1].copy()
        detected[start:stop] = detected[start:stop, ::-1].copy()
    out[~detected] = 0
    return out.astype(np.float32), detected


def _performed(shape: np.ndarray, env: np.ndarray, bench: Benchmark, rng: np.random.Generator) -> np.ndarray:
    """The shape parameters ``(T, 11)`` as this performer forms them in this clip and as the detector sees
    them: each finger's curl and the spread off the canonical value by a per-clip deviation, then the
    whole held shape blurred toward the relaxed hand."""
    if bench.execution <= 0 and bench.blur[1] <= 0:
        return shape
    relaxed = SHAPES["relaxed"]
    deviation = np.zeros(shape.shape[1])
    deviation[:5] = rng.normal(0, bench.execution, 5)
    deviation[5:8] = rng.normal(0, bench.execution / 2, 3)  # the thumb's direction
    blur = rng.uniform(*bench.blur)
    held = env[:, None]
    out = shape + held * deviation
    out = out + blur * held * (relaxed - out)
    out[:, :5] = np.clip(out[:, :5], 0, 1)
    return out


# ------------------------------------------------------------------------------------------- samples
def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, key)])


def render_sample(label: int, subject: int, view: int, repetition: int = 1, *, seed: int = 0,
                  noise: bool = True, benchmark: str | Benchmark = DEFAULT_BENCHMARK,
                  hand_normalization: str = "wrist") -> Sample:
    """Render one clip as a :class:`Sample` (body ``(T, 1, 25, 3)``, hands ``(T, 2, 21, 3)``, mask,
    ``body_color`` and ``video_frame`` extras), through the real NTU and hand post-processing
    (``hand_normalization``: see :func:`bharnet.data.hands.normalize_hands`).

    Everything is a function of ``(seed, label, subject, view, repetition)``; the subject's anatomy and style
    of ``(seed, subject)``. ``noise=False`` switches off the Kinect noise, hand detection failures, the
    performer's deviations from the canonical hand shape and the body sway (for tests); the tempo and timing
    draws stay.
    """
    bench = get_benchmark(benchmark)
    actions = bench.actions
    if not 0 <= label < len(actions):
        raise ValueError(f"label must be in [0, {len(actions)}), got {label}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {sorted(VIEWS)}, got {view}")
    action = actions[label]
    style = SubjectStyle.draw(_rng(seed, 1, subject))
    # The timing depends on the body motion, not the class: classes sharing a body motion share its draws.
    timing = _rng(seed, 2, subject, view, repetition, BODY_MOTIONS.index(action.body))
    noise_rng = _rng(seed, 3, label, subject, view, repetition)
    extra_rng = _rng(seed, 4, label, subject, view, repetition)

    duration = 2.2 * timing.uniform(0.75, 1.35)
    core = max(int(round(duration * FPS)), 24)
    pre, post = (int(v) for v in timing.integers(2, 10, 2))
    T = pre + core + post
    t = np.clip((np.arange(T) - pre) / (core - 1), 0, 1)
    phase = t ** timing.uniform(0.8, 1.25)  # a monotone time warp
    rise, fall = timing.uniform(0.12, 0.22), timing.uniform(0.78, 0.88)
    env = envelope(phase, rise, fall)

    pose = body_motion(action.body, phase, env, style)
    right = hand_motion(action.hand, phase, env)
    right[:, :4] = np.clip(right[:, :4] + style.finger_bias * (1 - right[:, :4]), 0, 1)
    if noise:
        right = _performed(right, env, bench, extra_rng)
    left = np.broadcast_to(SHAPES["relaxed"], right.shape).copy()
    joints, hand_frames = pose_body(pose, style, noise_rng if noise else None)
    if action.hand == "thumb_up":
        # The fist turns about the forearm so that the thumb points up. Only the hand model turns: the Kinect
        # hand joints do not see the roll (the body motion stays that of the other hand-group classes).
        wrist, fore, normal = hand_frames["arm_r"]
        roll = (math.pi / 2 * env)[:, None]
        hand_frames["arm_r"] = (wrist, fore, np.cos(roll) * normal - np.sin(roll) * np.cross(fore, normal))

    # The person faces the world's +z at the origin; the camera looks at them.
    rotation, position = _camera(view, timing)
    cam_joints = (joints - position) @ rotation.T
    hands_world = []
    for name, shape in (("arm_l", left), ("arm_r", right)):
        wrist, fore, normal = hand_frames[name]
        side = 1.0 if name == "arm_l" else -1.0
        thumb = side * np.cross(normal, fore)
        local = hand_landmarks(shape, style.hand_size)  # (T, 21, 3) in (u, t, n)
        frame = np.stack([fore, thumb, normal], 1)  # (T, 3, 3): rows u, t, n in the world
        hands_world.append(wrist[:, None] + np.einsum("tjk,tkd->tjd", local, frame))
    cam_hands = (np.stack(hands_world, 1) - position) @ rotation.T  # (T, 2, 21, 3)

    if noise:
        cam_joints = cam_joints + noise_rng.normal(0, 0.008, cam_joints.shape)
        cam_joints[:, [6, 7, 10, 11, 21, 22, 23, 24]] += noise_rng.normal(0, 0.02, (T, 8, 3))
    colors = _project(cam_joints)
    tracking = np.full((T, 25), 2, np.int8)
    track = BodyTrack(body_id="1", joints=cam_joints.astype(np.float32), colors=colors.astype(np.float32),
                      tracking=tracking, frames=np.arange(T))
    name = f"S001C{view:03d}P{subject:03d}R{repetition:03d}A{label + 1:03d}"
    seq = SkeletonSequence(name=name, path=f"<synthetic {name}>", num_frames=T, video_frames=np.arange(T),
                           bodies=[track])
    sample = to_sample(seq, single_actor="zeros")
    sample.body = sample.body[:, :1]
    sample.extras["body_color"] = sample.extras["body_color"][:, :1]

    # MediaPipe-like detections in pixels (z: depth relative to the wrist, in pixels at the wrist's depth).
    pixels = _project(cam_hands)
    depth = cam_hands[..., 2]
    rel_z = (depth - depth[:, :, :1]) * FOCAL / np.maximum(depth[:, :, :1], 0.1)
    raw = np.concatenate([pixels, rel_z[..., None]], -1)
    palm_px = np.linalg.norm(raw[:, :, 9, :2] - raw[:, :, 0, :2], axis=-1)
    if noise:
        # A hanging hand is found less often; so is the hand on the far side of a turned body.
        raised = np.array([pose["arm_l"][:, 0].mean(), pose["arm_r"][:, 0].mean()]) > math.radians(20)
        rates = [bench.miss_rates[0] if r else bench.miss_rates[1] for r in raised]
        if view != 1:
            far = 1 if VIEWS[view] > 0 else 0  # the camera on the left sees the right hand turned away
            rates[far] += bench.far_side
        landmarks, detected = _detect_hands(raw, palm_px, (rates[0], rates[1]), bench, noise_rng, extra_rng)
    else:
        landmarks, detected = raw.astype(np.float32), np.ones((T, 2), bool)
    video_frame = sample.extras["video_frame"].astype(np.int64)
    filled = interpolate_missing(landmarks, detected)
    sample.hands = normalize_hands(filled, detected, hand_normalization)[video_frame]
    sample.hand_mask = detected[video_frame]
    sample.meta = dict(sample.meta, group=action.group, hands_detected=[int(v) for v in sample.hand_mask.sum(0)])
    return sample


def split_of(name: str, protocol: str) -> str:
    """``xsub``: performers with ``id % 3 != 0`` train; ``xview``: cameras 2 and 3 train, camera 1 tests."""
    subject, camera = int(name[9:12]), int(name[5:8])
    if protocol == "xsub":
        return "train" if subject % 3 != 0 else "test"
    if protocol == "xview":
        return "train" if camera != 1 else "test"
    raise ValueError(f"unknown protocol {protocol!r} for the synthetic benchmark (xsub, xview)")


def iter_samples(*, seed: int = 0, subjects: int | None = None, repetitions: int = 1,
                 classes: tuple[int, ...] | None = None, benchmark: str | Benchmark = DEFAULT_BENCHMARK,
                 hand_normalization: str = "wrist") -> Iterator[Sample]:
    """Every (class, subject, view, repetition) clip, in a fixed order."""
    bench = get_benchmark(benchmark)
    for subject in range(1, (subjects or bench.subjects) + 1):
        for view in VIEWS:
            for repetition in range(1, repetitions + 1):
                for label in (classes if classes is not None else range(len(bench.actions))):
                    yield render_sample(label, subject, view, repetition, seed=seed, benchmark=bench,
                                        hand_normalization=hand_normalization)


def generate_store(out: str | Path, *, seed: int = 0, subjects: int | None = None, repetitions: int = 1,
                   benchmark: str | Benchmark = DEFAULT_BENCHMARK, hand_normalization: str = "wrist",
                   overwrite: bool = False, progress: bool = True) -> Path:
    """Render a benchmark into a dataset store with the ``xsub`` and ``xview`` protocols.

    ``subjects`` (default: the benchmark's, 15 for ``fine``) x 3 views x ``repetitions`` x classes clips
    (1,575 for ``fine``, 1,440 for ``basic``; a few seconds per hundred).
    """
    bench = get_benchmark(benchmark)
    subjects = bench.subjects if subjects is None else int(subjects)
    if subjects < 3:
        raise ValueError(f"subjects must be at least 3 (the xsub split holds out every third), got {subjects}")
    normalize_hands(np.zeros((1, 2, 21, 3)), np.zeros((1, 2), bool), hand_normalization)  # validates the name
    total = subjects * len(VIEWS) * repetitions * len(bench.actions)
    info = {"dataset": "synthetic", "benchmark": bench.name, "generator_version": GENERATOR_VERSION,
            "seed": int(seed), "subjects": subjects, "repetitions": int(repetitions),
            "hand_options": {"normalization": hand_normalization}, "class_names": list(bench.class_names),
            "groups": {k: list(v) for k, v in bench.groups.items()}}
    samples = iter_samples(seed=seed, subjects=subjects, repetitions=repetitions, benchmark=bench,
                           hand_normalization=hand_normalization)
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, total=total, desc="generating clips", unit="clip", dynamic_ncols=True)
    protocols = ("xsub", "xview")
    with StoreWriter(out, splits=protocols, num_classes=len(bench.actions), info=info, overwrite=overwrite) as writer:
        for sample in samples:
            writer.add(sample, {p: split_of(sample.name, p) for p in protocols})
    return Path(out)
