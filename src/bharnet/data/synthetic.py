"""A procedural body + hand action benchmark: BHaRNet's problem in miniature, generated from a seed.

Nothing is downloaded. Every clip is rendered from a kinematic model and then passes through the same
code as a real NTU RGB+D sample, so everything downstream (store, feeder, models, engine) runs its real path:

* **Body**: an NTU-25 skeleton posed by forward kinematics (spine, arms, legs; per-frame joint angles), with
  per-subject height, limb proportions and motion style (amplitude, idle posture, sway), seen by a Kinect-like
  camera at one of three viewpoints (0, +45 and -45 degrees, NTU's cameras 1-3) with a jittered distance and
  height. The camera-space joints and their colour-image pixels form a :class:`~bharnet.data.ntu.BodyTrack`
  that goes through :func:`bharnet.data.ntu.to_sample` (the reference centring). Kinect noise is added, more on
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

The 20 classes fall in three groups (:data:`GROUPS`):

* ``body``: body-distinct actions with the same relaxed, hanging hands (kick, side kick, knee raise, squat,
  jump, bow, march in place);
* ``hand``: hand-distinct actions with identical body motion — raise the right hand in front of the shoulder
  and show OK / victory / thumbs up / fist / point / snap the fingers / count to five;
* ``mixed``: a 2 x 3 factorial of two arm motions (reach forward, hand to the face) and three hand shapes
  (index, open palm, fist): neither stream alone separates all six.

Within a group that shares the body motion, the body joints are generated from the same distributions
(tested: without noise, a subject's hand-group bodies are identical). Samples are named like NTU's
(``SsssCcccPpppRrrrAaaa``: setup 1, camera = view, performer = subject). Splits: ``xsub`` (subjects with
``id % 3 != 0`` train) and ``xview`` (cameras 2 and 3 train, camera 1 tests, as NTU's cross-view).

The store holds one actor (``M = 1``, as NW-UCLA), since every action has one performer.

>>> from bharnet.data.synthetic import generate_store
>>> generate_store("synthetic.store", seed=0, subjects=24)   # doctest: +SKIP
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .hands import interpolate_missing, normalize_hands
from .ntu import BodyTrack, SkeletonSequence, to_sample
from .sample import Sample
from .store import StoreWriter

__all__ = ["ACTIONS", "CLASS_NAMES", "GROUPS", "Action", "SubjectStyle", "render_sample", "iter_samples",
           "generate_store", "split_of", "GENERATOR_VERSION"]

GENERATOR_VERSION = 2
FPS = 30
IMAGE_SIZE = (1920, 1080)  # (width, height) of the virtual colour camera, as NTU's Kinect v2
FOCAL = 1060.0  # pixels; close to the Kinect v2 colour camera
VIEWS = {1: 0.0, 2: 45.0, 3: -45.0}  # camera -> azimuth (degrees) around the subject


# ------------------------------------------------------------------------------------------- actions
@dataclass(frozen=True)
class Action:
    """One class: a body motion and the right hand's shape (the left hand hangs relaxed)."""

    name: str
    group: str  # "body", "hand" or "mixed"
    body: str  # key of _BODY_MOTIONS
    hand: str  # key of _HAND_MOTIONS


ACTIONS: tuple[Action, ...] = (
    Action("kick forward", "body", "kick", "relaxed"),
    Action("side kick", "body", "side_kick", "relaxed"),
    Action("knee raise (left)", "body", "knee_raise", "relaxed"),
    Action("squat down", "body", "squat", "relaxed"),
    Action("jump up", "body", "jump", "relaxed"),
    Action("bow", "body", "bow", "relaxed"),
    Action("march in place", "body", "march", "relaxed"),
    Action("make ok sign", "hand", "raise_hand", "ok"),
    Action("make victory sign", "hand", "raise_hand", "victory"),
    Action("thumb up", "hand", "raise_hand", "thumb_up"),
    Action("show fist", "hand", "raise_hand", "fist"),
    Action("point up (number one)", "hand", "raise_hand", "point"),
    Action("snap fingers", "hand", "raise_hand", "snap"),
    Action("count to five", "hand", "raise_hand", "count"),
    Action("point forward", "mixed", "reach", "point"),
    Action("stop sign (palm forward)", "mixed", "reach", "open"),
    Action("punch forward", "mixed", "reach", "fist"),
    Action("shush (finger to lips)", "mixed", "to_face", "point"),
    Action("cover mouth (palm)", "mixed", "to_face", "open"),
    Action("thinking (fist to chin)", "mixed", "to_face", "fist"),
)
CLASS_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
GROUPS: dict[str, tuple[int, ...]] = {
    g: tuple(i for i, a in enumerate(ACTIONS) if a.group == g) for g in ("body", "hand", "mixed")}


# ------------------------------------------------------------------------------------------- subjects
@dataclass(frozen=True)
class SubjectStyle:
    """Per-subject anatomy and motion style, drawn from the seed and the subject id."""

    height: float  # metres
    proportions: np.ndarray  # (12,) multiplicative jitter of the segment lengths
    hand_size: float  # multiplies the hand model's lengths
    amplitude: float  # multiplies the action angles
    idle_elevation: float  # arm hanging angle (radians)
    idle_elbow: float
    sway: float  # metres of body sway
    finger_bias: np.ndarray  # (4,) added to every finger curl (some people never fully stretch)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SubjectStyle:
        return cls(height=float(rng.uniform(1.5, 1.9)), proportions=rng.normal(1.0, 0.04, 12).clip(0.88, 1.12),
                   hand_size=float(rng.normal(1.0, 0.06)), amplitude=float(rng.uniform(0.85, 1.15)),
                   idle_elevation=float(rng.uniform(0.05, 0.25)), idle_elbow=float(rng.uniform(0.1, 0.45)),
                   sway=float(rng.uniform(0.005, 0.025)), finger_bias=rng.uniform(-0.05, 0.12, 4))


# ------------------------------------------------------------------------------------------- time profiles
def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _envelope(phase: np.ndarray, rise: float, fall: float, ramp: float = 0.18) -> np.ndarray:
    """0 -> 1 over [rise, rise + ramp], 1 -> 0 over [fall - ramp, fall]."""
    return _smoothstep((phase - rise) / ramp) * (1 - _smoothstep((phase - fall + ramp) / ramp))


def _bump(phase: np.ndarray, center: float, width: float) -> np.ndarray:
    """A smooth 0 -> 1 -> 0 bump of half-width ``width``."""
    x = np.clip((phase - center) / width, -1.0, 1.0)
    return 0.5 * (1 + np.cos(np.pi * x))


# ------------------------------------------------------------------------------------------- body motions
# Each returns per-frame angles (radians) for the pose below; ``env`` is the action's hold envelope.
# Arms: (elevation from hanging, azimuth from the sagittal plane outwards, elbow flexion, inward rotation).
# Legs: (hip flexion, hip abduction, knee flexion). Torso: pitch (bow). Root: extra height (jump).
# The body-group actions leave the arms hanging (as the hand-group actions leave the legs still), so that
# what tells them apart is the legs and the torso; the hands still follow the torso (squat, jump, bow).
def _idle(T: int, style: SubjectStyle) -> dict[str, np.ndarray]:
    z = np.zeros(T)
    arm = np.stack([z + style.idle_elevation, z + 0.15, z + style.idle_elbow, z], 1)
    return {"arm_l": arm.copy(), "arm_r": arm.copy(), "leg_l": np.zeros((T, 3)), "leg_r": np.zeros((T, 3)),
            "pitch": z.copy(), "jump": z.copy(), "palm_r": None}


def _body_motion(kind: str, phase: np.ndarray, env: np.ndarray, style: SubjectStyle) -> dict[str, np.ndarray]:
    T, a = len(phase), style.amplitude
    p = _idle(T, style)
    rad = math.radians
    if kind == "kick":
        b = _bump(phase, 0.5, 0.22)
        p["leg_r"][:, 0] = rad(75) * a * b
        p["leg_r"][:, 2] = rad(70) * _bump(phase, 0.4, 0.15)
    elif kind == "side_kick":
        b = _bump(phase, 0.5, 0.22)
        p["leg_r"][:, 1] = rad(60) * a * b
        p["leg_r"][:, 2] = rad(30) * _bump(phase, 0.4, 0.15)
        p["pitch"] += rad(8) * b
    elif kind == "knee_raise":
        p["leg_l"][:, 0] = rad(85) * a * env
        p["leg_l"][:, 2] = rad(95) * env
    elif kind == "squat":
        p["leg_l"][:, 0] = p["leg_r"][:, 0] = rad(85) * a * env
        p["leg_l"][:, 2] = p["leg_r"][:, 2] = rad(110) * a * env
        p["pitch"] += rad(30) * env
    elif kind == "jump":
        crouch = _bump(phase, 0.3, 0.12) + _bump(phase, 0.72, 0.12)
        for leg in ("leg_l", "leg_r"):
            p[leg][:, 0] = rad(45) * crouch
            p[leg][:, 2] = rad(80) * crouch
        p["pitch"] += rad(20) * crouch
        p["jump"] = 0.28 * a * _bump(phase, 0.51, 0.1)
    elif kind == "bow":
        p["pitch"] = rad(55) * a * env
    elif kind == "march":
        steps = np.sin(2 * np.pi * 2 * phase) * _envelope(phase, 0.1, 0.9, 0.1)
        p["leg_l"][:, 0], p["leg_r"][:, 0] = rad(55) * a * steps.clip(0), rad(55) * a * (-steps).clip(0)
        p["leg_l"][:, 2], p["leg_r"][:, 2] = rad(75) * steps.clip(0), rad(75) * (-steps).clip(0)
    elif kind == "raise_hand":  # the right hand held in front of the shoulder, palm to the front
        p["arm_r"][:, 0] += rad(30) * a * env
        p["arm_r"][:, 1] += rad(10) * env
        p["arm_r"][:, 2] += rad(115) * env
        p["palm_r"] = "front"
    elif kind == "reach":  # the right arm stretched forward at shoulder height
        p["arm_r"][:, 0] += rad(80) * a * env
        p["arm_r"][:, 1] -= rad(10) * env
        p["arm_r"][:, 2] *= 1 - env
        p["palm_r"] = "front"
    elif kind == "to_face":  # the right hand brought to the mouth
        p["arm_r"][:, 0] += rad(25) * a * env
        p["arm_r"][:, 1] -= rad(25) * env
        p["arm_r"][:, 2] += rad(130) * env
        p["arm_r"][:, 3] = rad(35) * env
        p["palm_r"] = "back"
    else:
        raise ValueError(f"unknown body motion {kind!r}")
    return p


# ------------------------------------------------------------------------------------------- hand shapes
# A shape: curls of index, middle, ring, pinky (0 straight .. 1 fist), finger spread (0..1), thumb direction
# weights along (finger axis u, thumb side t, palm normal n), thumb curl, pinch of the thumb tip onto the
# index tip, onto the middle tip.
_SHAPES: dict[str, np.ndarray] = {k: np.array(v, dtype=np.float64) for k, v in {
    "relaxed":  [0.35, 0.40, 0.45, 0.50, 0.3, 0.60, 0.70, 0.30, 0.30, 0.0, 0.0],
    "open":     [0.00, 0.00, 0.00, 0.00, 1.0, 0.45, 0.90, 0.00, 0.00, 0.0, 0.0],
    "fist":     [1.00, 1.00, 1.00, 1.00, 0.0, 0.70, 0.20, 0.80, 0.70, 0.0, 0.0],
    "point":    [0.00, 1.00, 1.00, 1.00, 0.0, 0.70, 0.20, 0.80, 0.70, 0.0, 0.0],
    "victory":  [0.00, 0.00, 1.00, 1.00, 1.0, 0.70, 0.20, 0.80, 0.70, 0.0, 0.0],
    "three":    [0.00, 0.00, 0.00, 1.00, 0.8, 0.70, 0.20, 0.80, 0.70, 0.0, 0.0],
    "four":     [0.00, 0.00, 0.00, 0.00, 0.8, 0.70, 0.20, 0.80, 0.70, 0.0, 0.0],
    "thumb_up": [1.00, 1.00, 1.00, 1.00, 0.0, 0.20, 1.00, 0.00, 0.00, 0.0, 0.0],
    "ok":       [0.55, 0.10, 0.15, 0.20, 0.6, 0.60, 0.70, 0.30, 0.30, 1.0, 0.0],
    "snap_set": [0.30, 0.50, 0.90, 0.90, 0.2, 0.60, 0.70, 0.30, 0.30, 0.0, 1.0],
    "snap_hit": [0.30, 1.00, 0.90, 0.90, 0.2, 0.50, 0.80, 0.30, 0.10, 0.0, 0.0],
}.items()}
# Where the palm faces while the gesture is held, in the torso frame (x left, y up, z front).
_PALM_TARGETS = {"front": np.array([0.0, 0.0, 1.0]), "back": np.array([0.0, 0.0, -1.0])}


def _hand_motion(kind: str, phase: np.ndarray, env: np.ndarray) -> np.ndarray:
    """``(T, 11)`` shape parameters of the right hand over time (relaxed outside the envelope)."""
    relaxed = _SHAPES["relaxed"]
    if kind in _SHAPES:
        held = np.broadcast_to(_SHAPES[kind], (len(phase), relaxed.size))
    elif kind == "snap":  # two snaps: thumb and middle pinched, then the middle finger strikes the palm
        cycle = (phase * 2.0 / 0.5) % 1.0  # two snaps across the held middle of the clip
        hit = _smoothstep((cycle - 0.55) / 0.12) * (1 - _smoothstep((cycle - 0.85) / 0.15))
        held = (1 - hit)[:, None] * _SHAPES["snap_set"] + hit[:, None] * _SHAPES["snap_hit"]
    elif kind == "count":  # one, two, three, four, five: a finger more every fifth of the hold
        steps = [_SHAPES[k] for k in ("point", "victory", "three", "four", "open")]
        pos = np.clip((phase - 0.25) / 0.5, 0, 0.9999) * len(steps)
        idx = pos.astype(int)
        frac = _smoothstep((pos - idx - 0.7) / 0.3)  # hold each count, then switch quickly
        nxt = np.minimum(idx + 1, len(steps) - 1)
        table = np.stack(steps)
        held = (1 - frac)[:, None] * table[idx] + frac[:, None] * table[nxt]
    else:
        raise ValueError(f"unknown hand motion {kind!r}")
    return (1 - env)[:, None] * relaxed + env[:, None] * held


# Base of each finger in the palm frame (u: along the fingers, t: toward the thumb), metres, and its
# phalanx lengths; MediaPipe order index, middle, ring, pinky.
_FINGER_BASES = np.array([[0.085, 0.025], [0.090, 0.002], [0.084, -0.019], [0.075, -0.038]])
_FINGER_LENGTHS = np.array([[0.040, 0.025, 0.020], [0.045, 0.028, 0.022], [0.042, 0.026, 0.021],
                            [0.033, 0.019, 0.018]])
_FINGER_SPREAD = np.radians([9.0, 1.0, -8.0, -16.0])  # at spread 1
_FLEX = np.radians([85.0, 100.0, 70.0])  # MCP, PIP, DIP at curl 1
_THUMB_BASE = np.array([0.022, 0.022])
_THUMB_LENGTHS = np.array([0.045, 0.032, 0.027])


def hand_landmarks(shape: np.ndarray, size: float = 1.0) -> np.ndarray:
    """``(T, 11)`` shape parameters -> ``(T, 21, 3)`` MediaPipe joints in the hand frame ``(u, t, n)``
    (u: wrist to the fingers, t: toward the thumb, n: out of the palm), metres, wrist at the origin."""
    T = shape.shape[0]
    out = np.zeros((T, 21, 3))
    u, t, n = np.eye(3)
    for f in range(4):
        curl = shape[:, f]
        spread = _FINGER_SPREAD[f] * shape[:, 4]
        d0 = np.cos(spread)[:, None] * u + np.sin(spread)[:, None] * t  # (T, 3)
        joint = np.broadcast_to(_FINGER_BASES[f, 0] * u + _FINGER_BASES[f, 1] * t, (T, 3)).copy()
        out[:, 5 + 4 * f] = joint
        angle = np.zeros(T)
        for k in range(3):
            angle = angle + _FLEX[k] * curl
            direction = np.cos(angle)[:, None] * d0 + np.sin(angle)[:, None] * n
            joint = joint + _FINGER_LENGTHS[f, k] * direction
            out[:, 6 + 4 * f + k] = joint
    # Thumb: metacarpal direction from the weights, phalanges curling across the palm.
    base = _THUMB_BASE[0] * u + _THUMB_BASE[1] * t
    d = shape[:, 5:6] * u + shape[:, 6:7] * t + shape[:, 7:8] * n
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    across = (-t + n) - (d @ (-t + n))[:, None] * d  # the part of (-t + n) normal to d
    across /= np.maximum(np.linalg.norm(across, axis=1, keepdims=True), 1e-9)
    out[:, 1] = base
    joint = base + _THUMB_LENGTHS[0] * d
    out[:, 2] = joint
    bend = np.zeros(T)
    for k in (1, 2):
        bend = bend + np.radians(50.0) * shape[:, 8]
        direction = np.cos(bend)[:, None] * d + np.sin(bend)[:, None] * across
        joint = joint + _THUMB_LENGTHS[k] * direction
        out[:, 2 + k] = joint
    # Pinches (OK sign, snap): pull the thumb chain onto the index or middle fingertip.
    for weight, tip in ((shape[:, 9], 8), (shape[:, 10], 12)):
        if not np.any(weight > 0):
            continue
        target = out[:, tip]
        bow = 0.012 * (t + 0.5 * n)
        chain = [base + s * (target - base) + (math.sin(math.pi * s) * bow) for s in (0.45, 0.75, 1.0)]
        for k, point in enumerate(chain):
            out[:, 2 + k] = (1 - weight)[:, None] * out[:, 2 + k] + weight[:, None] * point
    return out * size


# ------------------------------------------------------------------------------------------- skeleton
# Segment lengths for a 1.70 m person (metres), jittered per subject by SubjectStyle.proportions.
_SEGMENTS = np.array([0.26, 0.22, 0.08, 0.14,   # spine base->mid, mid->shoulder centre, ->neck, neck->head
                      0.18, 0.29, 0.26,         # shoulder half-width, upper arm, forearm
                      0.09, 0.44, 0.43,         # hip half-width, thigh, shin
                      0.14, 0.07])              # foot, ankle height


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _limb(start: np.ndarray, angles: np.ndarray, side: float, up: np.ndarray, front: np.ndarray,
          out_axis: np.ndarray, lengths: tuple[float, float], knee: bool = False) -> tuple[np.ndarray, ...]:
    """A two-segment limb. ``angles`` ``(T, 4)``: elevation from hanging, azimuth outwards, bend, inward
    rotation of the bend plane. Returns (middle joint, end joint, end direction, bend direction)."""
    el, az, bend, rot = (angles[:, k:k + 1] for k in range(4))
    outward = side * out_axis
    horizontal = np.cos(az) * front + np.sin(az) * outward
    d = np.sin(el) * horizontal - np.cos(el) * up
    b = np.cos(el) * horizontal + np.sin(el) * up  # normal to d, toward the front/up
    b = np.cos(rot) * b + side * np.sin(rot) * np.cross(d, b)
    mid = start + lengths[0] * d
    sign = -1.0 if knee else 1.0  # knees bend backwards, elbows forwards
    d2 = np.cos(bend) * d + sign * np.sin(bend) * b
    b2 = -np.sin(bend) * d + sign * np.cos(bend) * b
    return mid, mid + lengths[1] * d2, d2, b2


def _pose_body(p: dict[str, np.ndarray], style: SubjectStyle, rng: np.random.Generator | None
               ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Joint angles -> ``(T, 25, 3)`` NTU joints in the person frame (x left, y up, z front), plus each
    hand's (wrist, finger axis, palm normal)."""
    T = len(p["pitch"])
    seg = _SEGMENTS * style.proportions * (style.height / 1.70)
    J = np.zeros((T, 25, 3))
    x, y, z = np.eye(3)
    pitch = p["pitch"][:, None]
    up_t = np.cos(pitch) * y + np.sin(pitch) * z  # torso axis, leaning forwards with the bow
    front_t = -np.sin(pitch) * y + np.cos(pitch) * z
    legs_up, legs_front = np.broadcast_to(y, (T, 3)), np.broadcast_to(z, (T, 3))
    x_t = np.broadcast_to(x, (T, 3))

    hips = {}
    for name, side in (("leg_l", 1.0), ("leg_r", -1.0)):
        hips[name] = side * seg[7] * x_t - 0.05 * y  # relative to the pelvis
    legs = {}
    for name, side in (("leg_l", 1.0), ("leg_r", -1.0)):
        angles = np.concatenate([p[name][:, :1], p[name][:, 1:2], p[name][:, 2:3], np.zeros((T, 1))], 1)
        knee, ankle, shin, _ = _limb(hips[name], angles, side, legs_up, legs_front, x_t, (seg[8], seg[9]), knee=True)
        legs[name] = (knee, ankle)
    # The pelvis height keeps the lower ankle on the floor (plus the ankle height), then the jump lifts it.
    lowest = np.minimum(legs["leg_l"][1][:, 1], legs["leg_r"][1][:, 1])
    root = (-lowest + seg[11] + p["jump"])[:, None] * y
    if rng is not None:
        sway = rng.normal(0, 1, (2,))
        tt = np.linspace(0, 1, T)[:, None]
        root = root + style.sway * (np.sin(2 * np.pi * (tt * 0.7 + sway[0])) * x
                                    + np.sin(2 * np.pi * (tt * 0.5 + sway[1])) * z)
    J[:, 0] = root
    J[:, 1] = root + seg[0] * up_t
    J[:, 20] = J[:, 1] + seg[1] * up_t
    J[:, 2] = J[:, 20] + seg[2] * up_t
    J[:, 3] = J[:, 2] + seg[3] * up_t
    for name, (hip, knee_j, ankle_j, foot_j) in (("leg_l", (12, 13, 14, 15)), ("leg_r", (16, 17, 18, 19))):
        knee, ankle = legs[name]
        J[:, hip], J[:, knee_j], J[:, ankle_j] = root + hips[name], root + knee, root + ankle
        J[:, foot_j] = J[:, ankle_j] + seg[10] * _unit(legs_front - 0.3 * legs_up)

    hands = {}
    for name, side, (sh, el, wr, hd, tip, th) in (("arm_l", 1.0, (4, 5, 6, 7, 21, 22)),
                                                  ("arm_r", -1.0, (8, 9, 10, 11, 23, 24))):
        shoulder = J[:, 20] + side * seg[4] * x_t - 0.03 * up_t
        elbow, wrist, fore, bend = _limb(shoulder, p[name], side, up_t, front_t, x_t, (seg[5], seg[6]))
        normal = side * np.cross(fore, bend)  # neutral forearm: the palm faces the body's midline
        target = p.get("palm_" + name[-1])
        if isinstance(target, str):
            goal = _PALM_TARGETS[target]
            goal = goal[0] * x_t + goal[1] * up_t + goal[2] * front_t
            goal = _unit(goal - np.sum(goal * fore, 1, keepdims=True) * fore)
            w = np.clip(p["arm_" + name[-1]][:, 2:3] / np.radians(100), 0, 1)  # turn as the elbow bends
            normal = _unit((1 - w) * normal + w * goal + 1e-6 * bend)
        J[:, sh], J[:, el], J[:, wr] = shoulder, elbow, wrist
        thumb_dir = side * np.cross(normal, fore)
        J[:, hd] = wrist + 0.08 * style.hand_size * fore
        J[:, tip] = wrist + 0.17 * style.hand_size * fore
        J[:, th] = wrist + style.hand_size * (0.05 * fore + 0.05 * thumb_dir)
        hands[name] = (wrist, fore, normal)
    return J, hands


# ------------------------------------------------------------------------------------------- camera
def _camera(view: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera rotation ``(3, 3)`` (rows: camera x left, y up, z forward) and camera position."""
    azimuth = math.radians(VIEWS[view] + rng.uniform(-5, 5))
    distance, height = rng.uniform(2.6, 3.6), rng.uniform(0.8, 1.3)
    position = np.array([distance * math.sin(azimuth), height, distance * math.cos(azimuth)])
    target = np.array([0.0, 0.9, 0.0])
    forward = _unit(target - position)
    left = _unit(np.cross([0.0, 1.0, 0.0], forward))
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


def _detect_hands(pixels: np.ndarray, palm_px: np.ndarray, rates: tuple[float, float],
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Raw MediaPipe-like detections from true hands ``(T, 2, 21, 3)`` (pixels): missed frames (zeros),
    jitter, rare outliers and short slot swaps. Returns landmarks and the detection mask ``(T, 2)``."""
    T = pixels.shape[0]
    out = pixels.copy()
    scale = palm_px[:, :, None, None]  # noise in proportion to the hand's size in the image
    out += rng.normal(0, 0.035, out.shape) * scale + rng.normal(0, 0.06, (T, 2, 1, 3)) * scale
    outliers = rng.random((T, 2)) < 0.01
    out[outliers] += rng.normal(0, 1.5, (int(outliers.sum()), 1, 3)) * scale[outliers]
    detected = ~np.stack([_missed(T, rates[0], rng), _missed(T, rates[1], rng)], 1)
    if rng.random() < 0.3:  # the two hands swapped for a few frames
        start = int(rng.integers(0, max(T - 3, 1)))
        stop = min(T, start + int(rng.integers(2, 8)))
        out[start:stop] = out[start:stop, ::-1].copy()
        detected[start:stop] = detected[start:stop, ::-1].copy()
    out[~detected] = 0
    return out.astype(np.float32), detected


# ------------------------------------------------------------------------------------------- samples
def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, key)])


def render_sample(label: int, subject: int, view: int, repetition: int = 1, *, seed: int = 0,
                  noise: bool = True) -> Sample:
    """Render one clip as a :class:`Sample` (body ``(T, 1, 25, 3)``, hands ``(T, 2, 21, 3)``, mask,
    ``body_color`` and ``video_frame`` extras), through the real NTU and hand post-processing.

    Everything is a function of ``(seed, label, subject, view, repetition)``; the subject's anatomy and style
    of ``(seed, subject)``. ``noise=False`` switches off the Kinect noise, hand detection failures and the
    body sway (for tests); the tempo and timing draws stay.
    """
    if not 0 <= label < len(ACTIONS):
        raise ValueError(f"label must be in [0, {len(ACTIONS)}), got {label}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {sorted(VIEWS)}, got {view}")
    action = ACTIONS[label]
    style = SubjectStyle.draw(_rng(seed, 1, subject))
    # The timing depends on the body motion, not the class: classes sharing a body motion share its draws.
    timing = _rng(seed, 2, subject, view, repetition, _body_index(action.body))
    noise_rng = _rng(seed, 3, label, subject, view, repetition)

    duration = 2.2 * timing.uniform(0.75, 1.35)
    core = max(int(round(duration * FPS)), 24)
    pre, post = (int(v) for v in timing.integers(2, 10, 2))
    T = pre + core + post
    t = np.clip((np.arange(T) - pre) / (core - 1), 0, 1)
    phase = t ** timing.uniform(0.8, 1.25)  # a monotone time warp
    rise, fall = timing.uniform(0.12, 0.22), timing.uniform(0.78, 0.88)
    env = _envelope(phase, rise, fall)

    pose = _body_motion(action.body, phase, env, style)
    right = _hand_motion(action.hand, phase, env)
    right[:, :4] = np.clip(right[:, :4] + style.finger_bias * (1 - right[:, :4]), 0, 1)
    left = np.broadcast_to(_SHAPES["relaxed"], right.shape).copy()
    joints, hand_frames = _pose_body(pose, style, noise_rng if noise else None)
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
        rates = [0.12 if r else 0.30 for r in raised]
        if view != 1:
            far = 1 if VIEWS[view] > 0 else 0  # the camera on the left sees the right hand turned away
            rates[far] += 0.1
        landmarks, detected = _detect_hands(raw, palm_px, (rates[0], rates[1]), noise_rng)
    else:
        landmarks, detected = raw.astype(np.float32), np.ones((T, 2), bool)
    video_frame = sample.extras["video_frame"].astype(np.int64)
    filled = interpolate_missing(landmarks, detected)
    sample.hands = normalize_hands(filled, detected, "palm")[video_frame]
    sample.hand_mask = detected[video_frame]
    sample.meta = dict(sample.meta, group=action.group, hands_detected=[int(v) for v in sample.hand_mask.sum(0)])
    return sample


_BODY_KINDS = ("kick", "side_kick", "knee_raise", "squat", "jump", "bow", "march", "raise_hand", "reach", "to_face")


def _body_index(kind: str) -> int:
    return _BODY_KINDS.index(kind)


def split_of(name: str, protocol: str) -> str:
    """``xsub``: performers with ``id % 3 != 0`` train; ``xview``: cameras 2 and 3 train, camera 1 tests."""
    subject, camera = int(name[9:12]), int(name[5:8])
    if protocol == "xsub":
        return "train" if subject % 3 != 0 else "test"
    if protocol == "xview":
        return "train" if camera != 1 else "test"
    raise ValueError(f"unknown protocol {protocol!r} for the synthetic benchmark (xsub, xview)")


def iter_samples(*, seed: int = 0, subjects: int = 24, repetitions: int = 1, classes: tuple[int, ...] | None = None
                 ) -> Iterator[Sample]:
    """Every (class, subject, view, repetition) clip, in a fixed order."""
    for subject in range(1, subjects + 1):
        for view in VIEWS:
            for repetition in range(1, repetitions + 1):
                for label in (classes if classes is not None else range(len(ACTIONS))):
                    yield render_sample(label, subject, view, repetition, seed=seed)


def generate_store(out: str | Path, *, seed: int = 0, subjects: int = 24, repetitions: int = 1,
                   overwrite: bool = False, progress: bool = True) -> Path:
    """Render the benchmark into a dataset store with the ``xsub`` and ``xview`` protocols.

    ``subjects`` x 3 views x ``repetitions`` x 20 classes clips (1,440 by default, a few seconds per hundred).
    """
    if subjects < 3:
        raise ValueError(f"subjects must be at least 3 (the xsub split holds out every third), got {subjects}")
    total = subjects * len(VIEWS) * repetitions * len(ACTIONS)
    info = {"dataset": "synthetic", "generator_version": GENERATOR_VERSION, "seed": int(seed),
            "subjects": int(subjects), "repetitions": int(repetitions), "class_names": list(CLASS_NAMES),
            "groups": {k: list(v) for k, v in GROUPS.items()}}
    samples = iter_samples(seed=seed, subjects=subjects, repetitions=repetitions)
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, total=total, desc="generating clips", unit="clip", dynamic_ncols=True)
    protocols = ("xsub", "xview")
    with StoreWriter(out, splits=protocols, num_classes=len(ACTIONS), info=info, overwrite=overwrite) as writer:
        for sample in samples:
            writer.add(sample, {p: split_of(sample.name, p) for p in protocols})
    return Path(out)
