"""The kinematic models behind the synthetic benchmark (:mod:`bharnet.datasets.synthetic`).

* :class:`SubjectStyle`: a performer's anatomy and motion style;
* body motions: per-frame joint angles of each action's body part (:func:`body_motion`), posed into an
  NTU-25 skeleton by forward kinematics (:func:`pose_body`);
* hand shapes: MediaPipe's 21-joint hand built from finger curl, spread and thumb parameters
  (:data:`SHAPES`, :func:`hand_motion`, :func:`hand_landmarks`).

Everything is in metres in the person frame (x left, y up, z front); the camera, the projection and the
detection failures are the benchmark's (:mod:`bharnet.datasets.synthetic`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SubjectStyle", "SHAPES", "PALM_TARGETS", "BODY_MOTIONS", "body_motion", "hand_motion",
           "hand_landmarks", "pose_body", "envelope", "smoothstep", "unit"]


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
def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def envelope(phase: np.ndarray, rise: float, fall: float, ramp: float = 0.18) -> np.ndarray:
    """0 -> 1 over [rise, rise + ramp], 1 -> 0 over [fall - ramp, fall]."""
    return smoothstep((phase - rise) / ramp) * (1 - smoothstep((phase - fall + ramp) / ramp))


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


def body_motion(kind: str, phase: np.ndarray, env: np.ndarray, style: SubjectStyle) -> dict[str, np.ndarray]:
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
    elif kind in ("knee_raise", "knee_raise_r"):
        leg = "leg_l" if kind == "knee_raise" else "leg_r"
        p[leg][:, 0] = rad(85) * a * env
        p[leg][:, 2] = rad(95) * env
    elif kind == "step_forward":  # the right foot forward and back: a smaller, slower kick with a bent knee
        b = _bump(phase, 0.5, 0.3)
        p["leg_r"][:, 0] = rad(35) * a * b
        p["leg_r"][:, 2] = rad(25) * b
        p["pitch"] += rad(4) * b
    elif kind in ("squat", "half_squat"):
        depth = 1.0 if kind == "squat" else 0.5
        p["leg_l"][:, 0] = p["leg_r"][:, 0] = rad(85) * depth * a * env
        p["leg_l"][:, 2] = p["leg_r"][:, 2] = rad(110) * depth * a * env
        p["pitch"] += rad(30) * depth * env
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
        steps = np.sin(2 * np.pi * 2 * phase) * envelope(phase, 0.1, 0.9, 0.1)
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
    elif kind == "raise_high":  # the right arm raised above the head, elbow slightly bent
        p["arm_r"][:, 0] += rad(140) * a * env
        p["arm_r"][:, 1] += rad(5) * env
        p["arm_r"][:, 2] = p["arm_r"][:, 2] * (1 - env) + rad(25) * env
        p["palm_r"] = "front"
    else:
        raise ValueError(f"unknown body motion {kind!r}")
    return p


BODY_MOTIONS = ("kick", "side_kick", "knee_raise", "squat", "jump", "bow", "march", "raise_hand", "reach", "to_face",
                "knee_raise_r", "half_squat", "step_forward", "raise_high")


# ------------------------------------------------------------------------------------------- hand shapes
# A shape: curls of index, middle, ring, pinky (0 straight .. 1 fist), finger spread (0..1), thumb direction
# weights along (finger axis u, thumb side t, palm normal n), thumb curl, pinch of the thumb tip onto the
# index tip, onto the middle tip.
SHAPES: dict[str, np.ndarray] = {k: np.array(v, dtype=np.float64) for k, v in {
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
    # the fine benchmark's shapes: each differs from one above in one finger or in the thumb
    "pinch":    [0.55, 0.95, 1.00, 1.00, 0.2, 0.60, 0.70, 0.30, 0.30, 1.0, 0.0],  # OK with the others curled
    "rock":     [0.00, 1.00, 1.00, 0.00, 0.6, 0.70, 0.20, 0.80, 0.70, 0.0, 0.0],  # index and pinky
    "call":     [1.00, 1.00, 1.00, 0.00, 0.6, 0.45, 0.90, 0.00, 0.00, 0.0, 0.0],  # thumb and pinky
    "l_sign":   [0.00, 1.00, 1.00, 1.00, 0.0, 0.45, 0.90, 0.00, 0.00, 0.0, 0.0],  # point with the thumb out
}.items()}
# Where the palm faces while the gesture is held, in the torso frame (x left, y up, z front).
PALM_TARGETS = {"front": np.array([0.0, 0.0, 1.0]), "back": np.array([0.0, 0.0, -1.0])}


def hand_motion(kind: str, phase: np.ndarray, env: np.ndarray) -> np.ndarray:
    """``(T, 11)`` shape parameters of the right hand over time (relaxed outside the envelope)."""
    relaxed = SHAPES["relaxed"]
    if kind in SHAPES:
        held = np.broadcast_to(SHAPES[kind], (len(phase), relaxed.size))
    elif kind == "snap":  # two snaps: thumb and middle pinched, then the middle finger strikes the palm
        cycle = (phase * 2.0 / 0.5) % 1.0  # two snaps across the held middle of the clip
        hit = smoothstep((cycle - 0.55) / 0.12) * (1 - smoothstep((cycle - 0.85) / 0.15))
        held = (1 - hit)[:, None] * SHAPES["snap_set"] + hit[:, None] * SHAPES["snap_hit"]
    elif kind == "count":  # one, two, three, four, five: a finger more every fifth of the hold
        steps = [SHAPES[k] for k in ("point", "victory", "three", "four", "open")]
        pos = np.clip((phase - 0.25) / 0.5, 0, 0.9999) * len(steps)
        idx = pos.astype(int)
        frac = smoothstep((pos - idx - 0.7) / 0.3)  # hold each count, then switch quickly
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


def unit(v: np.ndarray) -> np.ndarray:
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


def pose_body(p: dict[str, np.ndarray], style: SubjectStyle, rng: np.random.Generator | None
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
        J[:, foot_j] = J[:, ankle_j] + seg[10] * unit(legs_front - 0.3 * legs_up)

    hands = {}
    for name, side, (sh, el, wr, hd, tip, th) in (("arm_l", 1.0, (4, 5, 6, 7, 21, 22)),
                                                  ("arm_r", -1.0, (8, 9, 10, 11, 23, 24))):
        shoulder = J[:, 20] + side * seg[4] * x_t - 0.03 * up_t
        elbow, wrist, fore, bend = _limb(shoulder, p[name], side, up_t, front_t, x_t, (seg[5], seg[6]))
        normal = side * np.cross(fore, bend)  # neutral forearm: the palm faces the body's midline
        target = p.get("palm_" + name[-1])
        if isinstance(target, str):
            goal = PALM_TARGETS[target]
            goal = goal[0] * x_t + goal[1] * up_t + goal[2] * front_t
            goal = unit(goal - np.sum(goal * fore, 1, keepdims=True) * fore)
            w = np.clip(p["arm_" + name[-1]][:, 2:3] / np.radians(100), 0, 1)  # turn as the elbow bends
            normal = unit((1 - w) * normal + w * goal + 1e-6 * bend)
        J[:, sh], J[:, el], J[:, wr] = shoulder, elbow, wrist
        thumb_dir = side * np.cross(normal, fore)
        J[:, hd] = wrist + 0.08 * style.hand_size * fore
        J[:, tip] = wrist + 0.17 * style.hand_size * fore
        J[:, th] = wrist + style.hand_size * (0.05 * fore + 0.05 * thumb_dir)
        hands[name] = (wrist, fore, normal)
    return J, hands


