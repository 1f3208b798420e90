"""The 2s-AGCN / Shift-GCN preprocessing of NTU RGB+D (their ``data_gen/ntu_gendata.py`` + ``preprocess.py``).

Models released by 2s-AGCN, MS-G3D and Shift-GCN were trained on skeletons prepared this way, which differs from
the CTR-GCN/DeGCN pipeline of :mod:`bharnet.datasets.ntu` at every step:

1. bodies are taken by their place in each frame's list (up to 4), not by tracking ID, and the two with the
   most "energy" (the sum over x, y, z of the standard deviation over the non-empty frames and joints) are
   kept, with no denoising; frames with no body stay in the sequence (as zeros);
2. the sequence is zero-padded (or cut) to 300 frames; a body whose first frame is empty has its non-empty
   frames moved to the front; a body that stops before the end is repeated from its start to fill the rest
   ("short sequences repeated");
3. every frame is centred on body 0's spine-middle joint (joint 2, 1-based) of the same frame; joints that
   are exactly zero stay zero;
4. one rotation for the whole sequence takes body 0's spine base -> spine middle of frame 0 onto +z, then a
   second takes its right shoulder - left shoulder onto +x (the second does not keep the first axis).

The colour-image coordinates and the video frame of every output frame follow the same moves (the video frame
of body 0), so that hands extracted from the RGB video stay aligned.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["AGCN_FRAMES", "agcn_energy", "agcn_bodies", "agcn_normalize", "agcn_rotation"]

AGCN_FRAMES = 300
_JOINTS = 25  # Kinect v2
_MAX_LISTED = 4  # bodies read per frame (Kinect lists at most 6; the release reads 4)


def agcn_energy(body: np.ndarray) -> float:
    """``(T, V, 3)``: sum over the three coordinates of the std over non-empty frames and all joints."""
    valid = body[body.sum(axis=(1, 2)) != 0]
    return float(sum(valid[..., k].std() for k in range(3))) if len(valid) else 0.0


def agcn_bodies(seq, num_bodies: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 1 on ``seq``, a parsed file (:class:`bharnet.datasets.ntu.SkeletonSequence`; not imported, as the NTU
    reader builds its 2s-AGCN samples from these steps: :func:`bharnet.datasets.ntu.agcn_sample`).

    Returns ``(T_file, num_bodies, 25, 3)`` joints and ``(T_file, num_bodies, 25, 2)`` colour pixels by list
    place, the ``num_bodies`` most energetic of the first four, and the order in which they were chosen."""
    frames = seq.num_frames
    joints = np.zeros((_MAX_LISTED, frames, _JOINTS, 3), np.float64)
    colors = np.zeros((_MAX_LISTED, frames, _JOINTS, 2), np.float32)
    for track in seq.bodies:
        if track.slots is None:
            raise ValueError(f"{seq.path}: the 2s-AGCN preprocessing needs each body's place in its frames' lists "
                             "(read the file with bharnet.datasets.ntu.read_skeleton)")
        keep = track.slots < _MAX_LISTED
        file_frames = seq.video_frames[track.frames[keep]]
        joints[track.slots[keep], file_frames] = track.joints[keep]
        colors[track.slots[keep], file_frames] = track.colors[keep]
    energy = np.array([agcn_energy(b) for b in joints])
    order = np.argsort(energy, kind="stable")[::-1][:num_bodies]
    return joints[order].transpose(1, 0, 2, 3), colors[order].transpose(1, 0, 2, 3), order


def agcn_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """The release's rotation about ``axis`` by ``angle`` (radians): the identity when either is ~0
    (so an antiparallel pair is left alone, as the release leaves it)."""
    if np.abs(axis).sum() < 1e-6 or abs(angle) < 1e-6:
        return np.eye(3)
    k = np.asarray(axis, np.float64) / math.sqrt(float(np.dot(axis, axis)))
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    if np.abs(a).sum() < 1e-6 or np.abs(b).sum() < 1e-6:
        return 0.0
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return float(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0)))


def agcn_normalize(joints: np.ndarray, frames: int = AGCN_FRAMES, z_bone: tuple[int, int] = (0, 1),
                   x_bone: tuple[int, int] = (4, 8)) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2-4 on ``(T, M, V, 3)`` joints (metres): returns ``(frames, M, V, 3)`` float32 and, per output frame
    and body, the input frame it came from ``(frames, M)`` (-1: none). ``z_bone`` / ``x_bone``: the (from, to)
    joints (0-based) of body 0 in frame 0 turned onto +z / +x (NTU: spine base -> spine middle, left -> right
    shoulder)."""
    t_in, m = joints.shape[:2]
    s = np.zeros((m, frames, *joints.shape[2:]), np.float32)
    source = np.full((m, frames), -1, np.int64)
    n = min(t_in, frames)
    s[:, :n] = joints[:n].transpose(1, 0, 2, 3)
    source[:, :n] = np.arange(n)
    for p in range(m):  # pad
        person = s[p]
        if person.sum() == 0:
            continue
        if person[0].sum() == 0:  # move the non-empty frames to the front
            keep = person.sum(axis=(1, 2)) != 0
            moved, moved_source = person[keep].copy(), source[p, keep].copy()
            person[:] = 0
            source[p] = -1
            person[:len(moved)], source[p, :len(moved)] = moved, moved_source
        for f in range(1, frames):
            if person[f].sum() == 0 and person[f:].sum() == 0:  # repeat the sequence so far to the end
                rest = frames - f
                reps = int(math.ceil(rest / f))
                person[f:] = np.concatenate([person[:f]] * reps)[:rest]
                source[p, f:] = np.concatenate([source[p, :f]] * reps)[:rest]
                break
    if s.sum() == 0:
        return s.transpose(1, 0, 2, 3), source.T
    center = s[0][:, 1:2].copy()  # (frames, 1, 3): body 0's spine middle, frame by frame
    for p in range(m):
        if s[p].sum() == 0:
            continue
        mask = (s[p].sum(-1) != 0)[..., None]
        s[p] = (s[p] - center) * mask
    for (start, end), target in ((z_bone, np.array([0.0, 0.0, 1.0])), (x_bone, np.array([1.0, 0.0, 0.0]))):
        v = s[0, 0, end].astype(np.float64) - s[0, 0, start]
        matrix = agcn_rotation(np.cross(v, target), _angle(v, target))
        for p in range(m):
            if s[p].sum() != 0:
                s[p] = (s[p].astype(np.float64) @ matrix.T).astype(np.float32)
    return s.transpose(1, 0, 2, 3), source.T
