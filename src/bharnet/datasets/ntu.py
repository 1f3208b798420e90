"""NTU RGB+D 60/120: sample names, the official splits and the reference preprocessing.

The preprocessing reproduces the pipeline every DeGCN/CTR-GCN number was measured on (their
``get_raw_skes_data.py`` -> ``get_raw_denoised_data.py`` -> ``seq_transformation.py``). Steps 1-3 (parse,
denoise, assemble two actors) read the ``.skeleton`` file: :mod:`bharnet.data.kinect`, whose names are
re-exported here. Then:

4. centre: subtract joint 2 (spine mid) of actor 1 at its first non-empty frame; re-zero absent actors;
5. single-actor samples: NTU60's script zero-pads actor 2, NTU120's duplicates actor 1 (``single_actor``).

The per-joint colour-image coordinates are kept (``Sample.extras["body_color"]``, pixels of the
1920x1080 RGB video) together with the video frame of every output frame (``extras["video_frame"]``):
the hand extractor and the RGB stream need both.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..data.kinect import NUM_JOINTS, BodyTrack, SkeletonSequence, assemble_actors, denoise, read_skeleton
from ..data.sample import DataFormatError, Sample
from .agcn import agcn_bodies, agcn_normalize

__all__ = ["NORMALIZATIONS", "BodyTrack", "SkeletonSequence", "read_skeleton", "parse_name", "read_name_list",
           "denoise", "assemble_actors", "center_on_spine", "pyskl_normalize", "to_sample", "agcn_sample",
           "iter_samples", "split_of", "SPLITS", "NUM_JOINTS"]

NORMALIZATIONS = ("reference", "pyskl", "2s-agcn")  # see to_sample
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

# Official protocols (Shahroudy et al. 2016; Liu et al. 2019).
XSUB_TRAIN = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49,
                        50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93,
                        94, 95, 97, 98, 100, 103))
XVIEW_TRAIN = frozenset((2, 3))
SPLITS = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}


def parse_name(name: str) -> dict[str, int]:
    """``S001C002P003R002A013`` -> setup, camera, performer, replication, action (1-based) and label (0-based)."""
    m = _NAME.search(name)
    if m is None:
        raise ValueError(f"{name!r} is not an NTU RGB+D sample name (SsssCcccPpppRrrrAaaa)")
    s, c, p, r, a = (int(g) for g in m.groups())
    return dict(setup=s, camera=c, performer=p, replication=r, action=a, label=a - 1)



def read_name_list(path: str | Path) -> set[str]:
    """A text file with one sample name per line (e.g. the official missing-skeleton list)."""
    return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}



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
            ``"2s-agcn"`` (the 2s-AGCN / Shift-GCN pipeline, :mod:`bharnet.datasets.agcn`: its own body selection,
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
