"""Kinect v2 body tracks: the NTU RGB+D ``.skeleton`` file and the reference's choice of the two actors.

These are the first three steps of the preprocessing every DeGCN/CTR-GCN number was measured on (their
``get_raw_skes_data.py`` -> ``get_raw_denoised_data.py``); the rest (centring, the single-actor rule, splits)
is the dataset's, in :mod:`bharnet.datasets.ntu`:

1. parse; frames with no body are dropped; each body ID becomes a track;
2. denoise multi-body files: drop tracks of <= 11 frames; drop tracks whose "spread" test (x-extent >
   0.8 * y-extent) fails on >= 69.754 % of their frames, otherwise lower their motion to the motion of
   the good frames; sort by motion (sum over x, y, z of the variance pooled over frames and joints);
3. assemble two actors: actor 1 = most motion; a later track joins actor 1's slot if its frame interval
   does not overlap actor 1's, else actor 2's slot if it does not overlap that, else it is dropped;
   frames where both actors are empty are removed.

Two quirks of the reference are kept by default so that published numbers are comparable, each with a
switch: a track's frames are counted consecutively from its first appearance even when the body ID
skips frames (``exact_intervals=False``), and two intervals sharing exactly one frame count as
non-overlapping (the reference tests ``min(end) - max(start) <= 0``).

The format lives here, below the datasets, because the hand extractor reads the Kinect colour joints of a
``.skeleton`` file to guide its crops (:func:`bharnet.video.hands.ntu_guide`), and MediaPipe bodies are
turned into the same :class:`SkeletonSequence` (:func:`bharnet.data.pose.read_body_file`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sample import DataFormatError

__all__ = ["BodyTrack", "SkeletonSequence", "read_skeleton", "denoise", "assemble_actors", "NUM_JOINTS"]

NUM_JOINTS = 25
_VALUES_PER_JOINT = 12  # x y z depthX depthY colorX colorY orientationW X Y Z trackingState

# Reference denoising thresholds (get_raw_denoised_data.py).
NOISE_LENGTH = 11
NOISE_SPREAD = 0.8
NOISE_SPREAD_RATIO = 0.69754


@dataclass
class BodyTrack:
    """One Kinect body ID over a file.

    Attributes:
        body_id: the tracking ID string.
        joints: ``(n, 25, 3)`` camera-space metres.
        colors: ``(n, 25, 2)`` colour-image pixels.
        tracking: ``(n, 25)`` int8 tracking state (0 not tracked, 1 inferred, 2 tracked).
        frames: ``(n,)`` indices of the file's non-empty frames where the body appears.
        slots: ``(n,)`` the body's place in each of those frames' body lists (0 = listed first); None when
            unknown (synthetic tracks: one body).
    """

    body_id: str
    joints: np.ndarray
    colors: np.ndarray
    tracking: np.ndarray
    frames: np.ndarray
    slots: np.ndarray | None = None

    def motion(self, mask: np.ndarray | None = None) -> float:
        """Sum over x, y, z of the variance pooled over frames and joints (the reference's measure)."""
        joints = self.joints if mask is None else self.joints[mask]
        return float(np.var(joints.reshape(-1, 3).astype(np.float64), axis=0).sum())


@dataclass
class SkeletonSequence:
    """A parsed ``.skeleton`` file.

    Attributes:
        name: the sample name (file stem).
        path: where it was read from.
        num_frames: frames declared in the header (= frames of the RGB video).
        video_frames: ``(F,)`` video frame index of each non-empty frame (frames with no body are dropped).
        bodies: the tracks in order of first appearance.
    """

    name: str
    path: str
    num_frames: int
    video_frames: np.ndarray
    bodies: list[BodyTrack]



def read_skeleton(path: str | Path) -> SkeletonSequence:
    """Read one NTU RGB+D ``.skeleton`` text file (Kinect v2; CRLF or LF line endings).

    Raises:
        DataFormatError: naming the file and the 1-based line for a truncated, empty or garbage file,
            a count that is not an integer, a joint line without 12 numbers, or a non-finite value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not a text file (byte {e.start} is not ASCII)") from None
    except OSError as e:
        raise DataFormatError(path, f"cannot read: {e.strerror or e}") from None
    if not text.strip():
        raise DataFormatError(path, "empty file")
    fast = _read_fast(text)
    if fast is not None:
        num_frames, video_frames, tracks = fast
        return _sequence(path, num_frames, video_frames, tracks)
    return _read_located(path, text)


_BODY_HEADER = 10  # bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState
# isRestricted leanX leanY trackingState


def _read_fast(text: str) -> tuple[int, list[int], dict[str, dict[str, list]]] | None:
    """Parse a well-formed file from its token stream in one numeric conversion; None on any
    irregularity (the line-by-line parser then locates the problem for the error message)."""
    tokens = text.split()
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        return None
    n = len(tokens)
    num_frames = int(values[0])
    if num_frames != values[0] or num_frames < 0:
        return None
    pos = 1
    tracks: dict[str, dict[str, list]] = {}
    video_frames: list[int] = []
    block = NUM_JOINTS * _VALUES_PER_JOINT
    for frame in range(num_frames):
        if pos >= n:
            return None
        num_bodies = int(values[pos])
        if num_bodies != values[pos] or num_bodies < 0:
            return None
        pos += 1
        if num_bodies == 0:
            continue
        valid = len(video_frames)
        video_frames.append(frame)
        for slot in range(num_bodies):
            if pos + _BODY_HEADER + 1 + block > n or values[pos + _BODY_HEADER] != NUM_JOINTS:
                return None
            body_id = tokens[pos]
            start = pos + _BODY_HEADER + 1
            pos = start + block
            joints = values[start:pos].reshape(NUM_JOINTS, _VALUES_PER_JOINT)
            if not np.isfinite(joints[:, :7]).all():
                return None
            track = tracks.setdefault(body_id, dict(joints=[], colors=[], tracking=[], frames=[], slots=[]))
            track["joints"].append(joints[:, 0:3])
            track["colors"].append(joints[:, 5:7])
            track["tracking"].append(joints[:, 11])
            track["frames"].append(valid)
            track["slots"].append(slot)
    if pos != n or not video_frames:
        return None
    return num_frames, video_frames, tracks


def _sequence(path: Path, num_frames: int, video_frames: list[int], tracks: dict[str, dict[str, list]]
              ) -> SkeletonSequence:
    bodies = [BodyTrack(body_id=k, joints=np.stack(t["joints"]).astype(np.float32),
                        colors=np.stack(t["colors"]).astype(np.float32),
                        tracking=np.stack(t["tracking"]).astype(np.int8),
                        frames=np.asarray(t["frames"], dtype=np.int64), slots=np.asarray(t["slots"], dtype=np.int64))
              for k, t in tracks.items()]
    return SkeletonSequence(name=path.name.split(".")[0], path=str(path), num_frames=num_frames,
                            video_frames=np.asarray(video_frames, dtype=np.int64), bodies=bodies)


def _read_located(path: Path, text: str) -> SkeletonSequence:
    """The line-by-line parser: slower, but names the line of any problem."""
    lines = text.splitlines()

    pos = 0

    def take_int(what: str) -> int:
        nonlocal pos
        if pos >= len(lines):
            raise DataFormatError(path, f"truncated: expected {what} after the last line", line=pos + 1)
        field = lines[pos].split()
        if len(field) != 1 or not field[0].lstrip("-").isdigit():
            raise DataFormatError(path, f"expected {what} (one integer), got {lines[pos][:60]!r}", line=pos + 1)
        pos += 1
        value = int(field[0])
        if value < 0:
            raise DataFormatError(path, f"{what} is negative: {value}", line=pos)
        return value

    num_frames = take_int("the number of frames")
    tracks: dict[str, dict[str, list]] = {}
    video_frames: list[int] = []
    for frame in range(num_frames):
        num_bodies = take_int(f"the number of bodies of frame {frame + 1}")
        if num_bodies == 0:
            continue
        valid = len(video_frames)
        video_frames.append(frame)
        for slot in range(num_bodies):
            if pos >= len(lines):
                raise DataFormatError(path, f"truncated in frame {frame + 1}: missing the body header",
                                      line=pos + 1)
            body_id = lines[pos].split()[0] if lines[pos].split() else ""
            if not body_id:
                raise DataFormatError(path, "empty body header line", line=pos + 1)
            pos += 1
            num_joints = take_int("the number of joints")
            if num_joints != NUM_JOINTS:
                raise DataFormatError(path, f"expected {NUM_JOINTS} joints, got {num_joints}", line=pos)
            block = lines[pos:pos + NUM_JOINTS]
            if len(block) < NUM_JOINTS:
                raise DataFormatError(path, f"truncated in frame {frame + 1}: {len(block)} of {NUM_JOINTS} "
                                      "joint lines", line=len(lines))
            values = _parse_joint_block(path, block, pos)
            pos += NUM_JOINTS
            track = tracks.setdefault(body_id, dict(joints=[], colors=[], tracking=[], frames=[], slots=[]))
            track["joints"].append(values[:, 0:3])
            track["colors"].append(values[:, 5:7])
            track["tracking"].append(values[:, 11])
            track["frames"].append(valid)
            track["slots"].append(slot)
    if not video_frames:
        raise DataFormatError(path, f"none of the {num_frames} frames has a body")
    return _sequence(path, num_frames, video_frames, tracks)


def _parse_joint_block(path: Path, block: list[str], first: int) -> np.ndarray:
    """25 joint lines -> ``(25, 12)`` float64; locates the offending line on error."""
    try:
        values = np.array(" ".join(block).split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != NUM_JOINTS * _VALUES_PER_JOINT:
        for i, line in enumerate(block):
            fields = line.split()
            if len(fields) != _VALUES_PER_JOINT:
                raise DataFormatError(path, f"a joint line needs {_VALUES_PER_JOINT} numbers, got {len(fields)}",
                                      line=first + i + 1)
            try:
                [float(f) for f in fields]
            except ValueError:
                raise DataFormatError(path, f"not a number in joint line {line[:60]!r}", line=first + i + 1) from None
        raise DataFormatError(path, "malformed joint block", line=first + 1)  # pragma: no cover
    values = values.reshape(NUM_JOINTS, _VALUES_PER_JOINT)
    bad = ~np.isfinite(values[:, :7])
    if bad.any():
        row = int(np.nonzero(bad.any(axis=1))[0][0])
        raise DataFormatError(path, "non-finite coordinate", line=first + row + 1)
    return values



def _spread_ok(joints: np.ndarray) -> np.ndarray:
    """``(n, 25, 3)`` -> ``(n,)`` bool: the x-extent is at most 0.8 times the y-extent (a standing body)."""
    extent = joints.max(axis=1) - joints.min(axis=1)
    return extent[:, 0] <= NOISE_SPREAD * extent[:, 1]


def denoise(seq: SkeletonSequence) -> list[BodyTrack]:
    """The reference multi-body denoising; returns the surviving tracks, the most active first.

    A file with a single body ID is returned unchanged (the reference never denoises those).
    """
    bodies = list(seq.bodies)
    if len(bodies) == 1:
        return bodies
    motion = {b.body_id: b.motion() for b in bodies}
    bodies = [b for b in bodies if len(b.frames) > NOISE_LENGTH]
    if len(bodies) > 1:
        kept = []
        for i, b in enumerate(bodies):
            if len(kept) + len(bodies) - i == 1:  # the reference stops once a single body is left
                kept.append(b)
                continue
            ok = _spread_ok(b.joints)
            if ok.all():
                kept.append(b)
            elif (~ok).mean() >= NOISE_SPREAD_RATIO:
                continue
            else:
                motion[b.body_id] = min(motion[b.body_id], b.motion(ok))
                kept.append(b)
        bodies = kept
    if len(bodies) > 1:
        bodies = sorted(bodies, key=lambda b: motion[b.body_id], reverse=True)
    return bodies


def _interval(track: BodyTrack, exact: bool) -> tuple[np.ndarray, int, int]:
    frames = track.frames if exact else track.frames[0] + np.arange(len(track.frames))
    return frames, int(frames[0]), int(frames[-1])


def assemble_actors(seq: SkeletonSequence, *, exact_intervals: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Denoise and place the tracks into two actor slots.

    Returns:
        joints ``(T, 2, 25, 3)``, colors ``(T, 2, 25, 2)``, video_frame ``(T,)`` and the number of actors
        (1 or 2) found; slot 2 is zero for a single actor.
    """
    tracks = denoise(seq)
    if not tracks:
        raise DataFormatError(seq.path, f"no body lasts more than {NOISE_LENGTH} frames (nothing survives denoising)")
    num_valid = len(seq.video_frames)
    joints = np.zeros((num_valid, 2, NUM_JOINTS, 3), np.float32)
    colors = np.zeros((num_valid, 2, NUM_JOINTS, 2), np.float32)
    first, *others = tracks
    frames, start1, end1 = _interval(first, exact_intervals)
    joints[frames, 0], colors[frames, 0] = first.joints, first.colors
    start2 = end2 = 0  # the reference starts actor 2 with a virtual [0, 0] interval
    actors = 1
    for track in others:
        frames, start, end = _interval(track, exact_intervals)
        if min(end1, end) - max(start1, start) <= 0:
            joints[frames, 0], colors[frames, 0] = track.joints, track.colors
            start1, end1 = min(start, start1), max(end, end1)
        elif min(end2, end) - max(start2, start) <= 0:
            joints[frames, 1], colors[frames, 1] = track.joints, track.colors
            start2, end2 = min(start, start2), max(end, end2)
            actors = 2
    video_frame = seq.video_frames.copy()
    if len(seq.bodies) > 1:  # the reference removes empty frames only from multi-body files
        keep = joints.reshape(num_valid, -1).sum(axis=1) != 0
        joints, colors, video_frame = joints[keep], colors[keep], video_frame[keep]
    return joints, colors, video_frame, actors
