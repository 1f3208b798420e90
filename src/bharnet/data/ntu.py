"""NTU RGB+D 60/120: the raw ``.skeleton`` reader and the reference preprocessing.

The preprocessing reproduces the pipeline every DeGCN/CTR-GCN number was measured on (their
``get_raw_skes_data.py`` -> ``get_raw_denoised_data.py`` -> ``seq_transformation.py``):

1. parse; frames with no body are dropped; each body ID becomes a track;
2. denoise multi-body files: drop tracks of <= 11 frames; drop tracks whose "spread" test (x-extent >
   0.8 * y-extent) fails on >= 69.754 % of their frames, otherwise lower their motion to the motion of
   the good frames; sort by motion (sum over x, y, z of the variance pooled over frames and joints);
3. assemble two actors: actor 1 = most motion; a later track joins actor 1's slot if its frame interval
   does not overlap actor 1's, else actor 2's slot if it does not overlap that, else it is dropped;
   frames where both actors are empty are removed;
4. centre: subtract joint 2 (spine mid) of actor 1 at its first non-empty frame; re-zero absent actors;
5. single-actor samples: NTU60's script zero-pads actor 2, NTU120's duplicates actor 1 (``single_actor``).

Two quirks of the reference are kept by default so that published numbers are comparable, each with a
switch: a track's frames are counted consecutively from its first appearance even when the body ID
skips frames (``exact_intervals=False``), and two intervals sharing exactly one frame count as
non-overlapping (the reference tests ``min(end) - max(start) <= 0``).

The per-joint colour-image coordinates are kept (``Sample.extras["body_color"]``, pixels of the
1920x1080 RGB video) together with the video frame of every output frame (``extras["video_frame"]``):
the hand extractor and the RGB stream need both.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .agcn import agcn_bodies, agcn_normalize
from .sample import DataFormatError, Sample

__all__ = ["NORMALIZATIONS", "BodyTrack", "SkeletonSequence", "read_skeleton", "parse_name", "read_name_list",
           "denoise", "assemble_actors", "center_on_spine", "pyskl_normalize", "to_sample", "agcn_sample",
           "iter_samples", "split_of", "SPLITS", "NUM_JOINTS"]

NUM_JOINTS = 25
NORMALIZATIONS = ("reference", "pyskl", "2s-agcn")  # see to_sample
_VALUES_PER_JOINT = 12  # x y z depthX depthY colorX colorY orientationW X Y Z trackingState
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

# Official protocols (Shahroudy et al. 2016; Liu et al. 2019).
XSUB_TRAIN = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49,
                        50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93,
                        94, 95, 97, 98, 100, 103))
XVIEW_TRAIN = frozenset((2, 3))
SPLITS = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}

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


def parse_name(name: str) -> dict[str, int]:
    """``S001C002P003R002A013`` -> setup, camera, performer, replication, action (1-based) and label (0-based)."""
    m = _NAME.search(name)
    if m is None:
        raise ValueError(f"{name!r} is not an NTU RGB+D sample name (SsssCcccPpppRrrrAaaa)")
    s, c, p, r, a = (int(g) for g in m.groups())
    return dict(setup=s, camera=c, performer=p, replication=r, action=a, label=a - 1)


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


def read_name_list(path: str | Path) -> set[str]:
    """A text file with one sample name per line (e.g. the official missing-skeleton list)."""
    return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}


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


def center_on_spine(joints: np.ndarray) -> np.ndarray:
    """``(T, M, 25, 3)``: subtract joint 2 (spine mid) of actor 1 at its first non-empty frame; absent
    actors (all-zero frames) stay zero."""
    present = joints.reshape(*joints.shape[:2], -1).sum(axis=2) != 0  # (T, M), the reference's test
    nonzero = np.flatnonzero((joints[:, 0] != 0).any(axis=(1, 2)))
    if nonzero.size == 0:
        return joints.copy()
    out = joints - joints[nonzero[0], 0, 1]
    out[~present] = 0
    return out


def _rotation_to(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3x3 rotation taking direction ``a`` onto direction ``b`` (Rodrigues)."""
    a = a / (np.linalg.norm(a) + 1e-12)
    b = b / (np.linalg.norm(b) + 1e-12)
    v, c = np.cross(a, b), float(np.dot(a, b))
    s = np.linalg.norm(v)
    if s < 1e-8:
        if c > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0])  # 180 degrees
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    angle = np.arctan2(s, c)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def pyskl_normalize(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pyskl/2s-AGCN alternative (``PreNormalize3D``) on ``(T, M, 25, 3)``.

    The person with more non-empty frames goes first, and only the frames where that person is present
    are kept; every joint is translated by joint 2 (spine mid) of the main body in the first kept frame
    (all-zero joints stay zero); then the whole sequence is rotated so that the bone spine base -> spine
    mid of that frame is parallel to +z, and then, about the axis perpendicular to the shoulders and +x,
    so that right shoulder - left shoulder is parallel to +x. As in pyskl, the second rotation does not
    keep the spine on +z.

    Returns:
        the normalised joints ``(T', M, 25, 3)``, the kept frame indices ``(T',)`` and the person order.
    """
    present = (joints != 0).any(axis=(2, 3))  # (T, M)
    order = np.argsort(-present.sum(axis=0), kind="stable")
    joints, present = joints[:, order], present[:, order]
    keep = np.flatnonzero(present[:, 0])
    joints = joints[keep].astype(np.float64)
    if joints.shape[0] == 0:
        return joints.astype(np.float32), keep, order
    mask = (joints != 0).any(axis=-1, keepdims=True)
    out = (joints - joints[0, 0, 1]) * mask
    main = out[0, 0]
    r1 = _rotation_to(main[1] - main[0], np.array([0.0, 0.0, 1.0]))
    out = out @ r1.T
    main = out[0, 0]
    r2 = _rotation_to(main[8] - main[4], np.array([1.0, 0.0, 0.0]))
    out = out @ r2.T
    return out.astype(np.float32), keep, order


def to_sample(seq: SkeletonSequence, *, single_actor: str = "zeros", normalization: str = "reference",
              exact_intervals: bool = False) -> Sample:
    """Preprocess a parsed file into a :class:`Sample` with body ``(T, 2, 25, 3)``.

    Args:
        single_actor: ``"zeros"`` (the NTU60 script) or ``"duplicate"`` (the NTU120 script) fills actor 2
            of a single-actor sample.
        normalization: ``"reference"`` (CTR-GCN/DeGCN centring), ``"pyskl"`` (:func:`pyskl_normalize`;
            the colour coordinates and video frames follow its frame selection and person order) or
            ``"2s-agcn"`` (the 2s-AGCN / Shift-GCN pipeline, :mod:`bharnet.data.agcn`: its own body selection,
            300 frames; ``single_actor`` and ``exact_intervals`` do not apply).
        exact_intervals: place every track at the frames where it really appears (instead of the
            reference's consecutive count from its first appearance).
    """
    if single_actor not in ("zeros", "duplicate"):
        raise ValueError(f"single_actor must be 'zeros' or 'duplicate', got {single_actor!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalization == "2s-agcn":
        return agcn_sample(seq)
    joints, colors, video_frame, actors = assemble_actors(seq, exact_intervals=exact_intervals)
    if normalization == "reference":
        joints = center_on_spine(joints)
    else:
        joints, keep, order = pyskl_normalize(joints)
        colors, video_frame = colors[keep][:, order], video_frame[keep]
    if actors == 1 and single_actor == "duplicate":
        joints[:, 1], colors[:, 1] = joints[:, 0], colors[:, 0]
    info = parse_name(seq.name)
    meta = dict(info, actors=actors, video_frames=seq.num_frames)
    return Sample(name=seq.name, label=info["label"], body=joints, meta=meta,
                  extras=dict(body_color=colors, video_frame=video_frame.astype(np.int32)))


def agcn_sample(seq: SkeletonSequence) -> Sample:
    """A parsed ``.skeleton`` file (or an ``extract-body`` file) through the whole 2s-AGCN preprocessing: body
    ``(300, 2, 25, 3)``, with ``body_color`` and ``video_frame`` extras aligned to the output frames."""
    joints, colors, order = agcn_bodies(seq)
    body, source = agcn_normalize(joints)
    taken = np.clip(source, 0, None)
    colors = np.stack([colors[taken[:, p], p] * (source[:, p] >= 0)[:, None, None] for p in range(body.shape[1])],
                      1).astype(np.float32)
    info = parse_name(seq.name)
    actors = int((np.abs(joints).sum(axis=(0, 2, 3)) > 0).sum())
    meta = dict(info, actors=actors, video_frames=seq.num_frames, preprocessing="2s-agcn",
                bodies=[int(b) for b in order])
    return Sample(name=seq.name, label=info["label"], body=body, meta=meta,
                  extras=dict(body_color=colors, video_frame=taken[:, 0].astype(np.int32)))


def split_of(name: str, protocol: str) -> str:
    """``"train"`` or ``"test"`` for an NTU sample name under ``xsub``, ``xview`` (NTU60) or ``xset`` (NTU120).

    One ``xsub`` rule serves both datasets: NTU120's training subjects restricted to NTU60's 40
    performers are exactly NTU60's training subjects.
    """
    info = parse_name(name)
    if protocol == "xsub":
        return "train" if info["performer"] in XSUB_TRAIN else "test"
    if protocol == "xview":
        return "train" if info["camera"] in XVIEW_TRAIN else "test"
    if protocol == "xset":
        return "train" if info["setup"] % 2 == 0 else "test"
    raise ValueError(f"unknown NTU protocol {protocol!r}; choose from xsub, xview, xset")


def iter_samples(paths: Iterable[str | Path], *, errors: list[tuple[str, str]] | None = None,
                 **kwargs) -> Iterator[Sample]:
    """Read and preprocess files one by one; a malformed file is appended to ``errors`` as
    ``(path, message)`` and skipped (raised when ``errors`` is None)."""
    for path in paths:
        try:
            yield to_sample(read_skeleton(path), **kwargs)
        except DataFormatError as e:
            if errors is None:
                raise
            errors.append((str(path), str(e)))
