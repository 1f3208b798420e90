"""Reader for PKU-MMD Part I (phase #1): Kinect v2 skeletons of 1076 long, untrimmed videos, 51 action classes.

Layout of the release (only the parts read here)::

    skeleton/0002-L.txt        one line per frame, 150 whitespace-separated floats
    label/0002-L.txt           one line per action instance: label,start_frame,end_frame,confidence
    cross-subject.txt          "Training videos:" + id list, "Validataion videos:" (sic) + id list
    cross-view.txt             same layout

A video id is ``NNNN-V``: the sequence number and the camera view ``V`` in ``L`` (left), ``M`` (middle),
``R`` (right).

Skeleton line: 2 persons x 25 Kinect v2 joints x (x, y, z), person-major then joint-major, i.e.
``x1 y1 z1 ... x25 y25 z25`` of the first person followed by the same for the second; the second person is
all zeros when only one body is in view (dataset README of the release and ``ECHO960/PKU-MMD`` README).

Label line: ``action_id, start_frame, end_frame, confidence``; ``action_id`` is 1-based (1..51; the official
``evaluate.py`` of ``ECHO960/PKU-MMD`` allocates 52 bins and indexes them by the raw id, 0 being background),
``confidence`` is 1 (slight) or 2 (strong recommendation). Neither README says whether frames count from 0
or 1 or whether ``end_frame`` is inclusive (the question is asked, unanswered, in issue #11 of that
repository). This module reads them as **0-based, end-exclusive** frame indices, so an instance is
``body[start:end]``, of ``end - start`` frames. Reasons: the official evaluation measures an interval's
length and overlap as ``end - start`` (``(min(e, e') - max(s, s')) / (max(e, e') - min(s, s'))``), which is
exact for half-open intervals and off by one frame for 1-based inclusive ones; and it is the reading of the
common public preprocessing scripts (``seq[start:end]``). The alternative reading would shift each clip by
one frame at its start, a negligible difference for 3-4 s actions at 30 FPS.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from ..data.sample import DataFormatError, Sample

__all__ = [
    "NUM_CLASSES", "NUM_PERSONS", "NUM_JOINTS", "NUM_COORDS", "VALUES_PER_FRAME", "VIEWS", "SPLITS",
    "SPLIT_FILES", "parse_video_id", "read_skeleton", "read_labels", "read_split", "split_of", "iter_clips",
]

NUM_CLASSES = 51
NUM_PERSONS = 2
NUM_JOINTS = 25
NUM_COORDS = 3
VALUES_PER_FRAME = NUM_PERSONS * NUM_JOINTS * NUM_COORDS  # 150
VIEWS = ("L", "M", "R")
SPLITS = ("xsub", "xview")
SPLIT_FILES = {"xsub": "cross-subject.txt", "xview": "cross-view.txt"}

_VIDEO_ID = re.compile(r"^([0-9A-Za-z]+)-([LMR])$")
_SPLIT_HEADER = re.compile(r"^\s*(?P<kind>train\w*|valid\w*|test\w*)\s+videos?\s*:(?P<rest>.*)$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")


def parse_video_id(video_id: str) -> tuple[str, str] | None:
    """Split ``"0002-L"`` into ``("0002", "L")``; None when the string is not a PKU-MMD video id."""
    m = _VIDEO_ID.match(video_id)
    return (m.group(1), m.group(2)) if m else None


def _read_text(path: str | Path) -> str:
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFormatError(path, f"not a text file (undecodable byte at offset {exc.start})", line=line) from None


def read_skeleton(path: str | Path) -> np.ndarray:
    """Read one PKU-MMD skeleton file.

    Returns:
        ``(T, 2, 25, 3)`` float32 array, ``T`` = number of lines (frames); axis 1 is the person (the second
        is all zeros when absent, as stored), axis 3 is (x, y, z) in metres, camera coordinates.

    Raises:
        DataFormatError: naming the file and the 1-based line, for an empty file, a blank line between
            frames, a line without exactly 150 values, a non-numeric value, or a value that is not finite in
            float32 (nan, inf, overflow). Trailing blank lines and CRLF line ends are accepted.
        OSError: the file cannot be read.
    """
    lines = _read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataFormatError(path, "empty skeleton file (no frames)")
    for i, line in enumerate(lines, start=1):
        n = len(line.split())
        if n != VALUES_PER_FRAME:
            problem = ("blank line between frames" if n == 0 else
                       f"expected {VALUES_PER_FRAME} values (2 persons x 25 joints x 3), got {n}")
            raise DataFormatError(path, problem, line=i)
    try:
        values = np.loadtxt(lines, dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        raise _locate_bad_value(path, lines) from None
    with np.errstate(over="ignore"):
        body = values.astype(np.float32)
    bad = ~np.isfinite(body)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        token = lines[row].split()[col]
        raise DataFormatError(path, f"non-finite value {token!r} (value {col + 1} of the frame)", line=int(row) + 1)
    return body.reshape(len(lines), NUM_PERSONS, NUM_JOINTS, NUM_COORDS)


def _locate_bad_value(path: str | Path, lines: list[str]) -> DataFormatError:
    for i, line in enumerate(lines, start=1):
        try:
            np.loadtxt([line], dtype=np.float64, comments=None)
        except ValueError:
            for col, token in enumerate(line.split(), start=1):
                try:
                    float(token)
                except ValueError:
                    return DataFormatError(path, f"non-numeric value {token!r} (value {col} of the frame)", line=i)
            return DataFormatError(path, "line cannot be parsed as numbers", line=i)
    return DataFormatError(path, "file cannot be parsed as numbers")


def read_labels(path: str | Path) -> list[tuple[int, int, int, int]]:
    """Read one PKU-MMD label file.

    Each non-blank line is ``label,start,end,confidence`` (integers; spaces around the commas, a trailing
    comma, or whitespace instead of commas are accepted).

    Returns:
        one ``(label, start, end, confidence)`` per line, in file order, with ``label`` converted to 0-based
        (0..50); ``start``/``end`` as in the file, read as 0-based, end-exclusive frame indices (the instance
        is ``body[start:end]``; see the module docstring); ``confidence`` unchanged (1 or 2 in the release).

    Raises:
        DataFormatError: naming the file and the 1-based line, for an empty file, a line without 4 integer
            fields, a label outside 1..51, a negative start, or ``start > end``.
        OSError: the file cannot be read.
    """
    out: list[tuple[int, int, int, int]] = []
    for i, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if "," in line:
            fields = [f.strip() for f in line.split(",")]
            if fields[-1] == "":
                fields.pop()  # one trailing comma
        else:
            fields = line.split()
        if len(fields) != 4:
            raise DataFormatError(path, f"expected 4 fields label,start,end,confidence, got {len(fields)}", line=i)
        for f in fields:
            if not _INT.match(f):
                raise DataFormatError(path, f"not an integer: {f!r}", line=i)
        label, start, end, confidence = (int(f) for f in fields)
        if not 1 <= label <= NUM_CLASSES:
            raise DataFormatError(path, f"action label {label} outside 1..{NUM_CLASSES}", line=i)
        if start < 0:
            raise DataFormatError(path, f"negative start frame {start}", line=i)
        if start > end:
            raise DataFormatError(path, f"start frame {start} after end frame {end}", line=i)
        out.append((label - 1, start, end, confidence))
    if not out:
        raise DataFormatError(path, "empty label file (no action instances)")
    return out


def read_split(path: str | Path) -> dict[str, list[str]]:
    """Read ``cross-subject.txt`` or ``cross-view.txt``.

    The file holds a ``Training videos:`` header and a comma-separated id list, then a ``Validataion videos:``
    header (the release's spelling; ``Validation``/``Test`` accepted too, any case) and its list. The lists may
    continue on the header line, span several lines, and use commas and/or whitespace; a trailing comma and
    repeated ids are ignored.

    Returns:
        ``{"train": [...], "test": [...]}``, ids like ``"0002-L"`` in file order.

    Raises:
        DataFormatError: a header is missing or repeated, text comes before the first header, a token is not a
            video id (with its line), a list is empty, or an id is in both lists.
    """
    parts: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    current: str | None = None
    for i, line in enumerate(_read_text(path).splitlines(), start=1):
        m = _SPLIT_HEADER.match(line)
        if m:
            current = "train" if m.group("kind").lower().startswith("train") else "test"
            if current in parts:
                raise DataFormatError(path, f"second {current!r} header {line.strip()!r}", line=i)
            parts[current], seen[current] = [], set()
            line = m.group("rest")
        tokens = [t for t in re.split(r"[,\s]+", line) if t]
        if tokens and current is None:
            raise DataFormatError(path, "video ids before the 'Training videos:' header", line=i)
        for t in tokens:
            if not _VIDEO_ID.match(t):
                raise DataFormatError(path, f"not a video id: {t!r}", line=i)
            if t not in seen[current]:
                seen[current].add(t)
                parts[current].append(t)
    for key, header in (("train", "Training videos:"), ("test", "Validataion videos:")):
        if key not in parts:
            raise DataFormatError(path, f"no {header!r} header")
        if not parts[key]:
            raise DataFormatError(path, f"empty {key} list")
    both = seen["train"] & seen["test"]
    if both:
        raise DataFormatError(path, f"{len(both)} video(s) in both lists, e.g. {min(both)}")
    return {"train": parts["train"], "test": parts["test"]}


def split_of(video_id: str, split_lists: Mapping[str, Collection[str]]) -> str | None:
    """``"train"`` or ``"test"`` for ``video_id`` under ``split_lists`` (a :func:`read_split` result);
    None when it is in neither list."""
    for part in ("train", "test"):
        if video_id in split_lists.get(part, ()):
            return part
    return None


def _report(errors: list[tuple[str, str]] | None, path: str | Path, message: str) -> None:
    if errors is None:
        warnings.warn(f"PKU-MMD: skipped {message}", RuntimeWarning, stacklevel=3)
    else:
        errors.append((str(path), message))


def iter_clips(
    skeleton_dir: str | Path,
    label_dir: str | Path,
    *,
    min_frames: int = 1,
    videos: Iterable[str] | None = None,
    errors: list[tuple[str, str]] | None = None,
    dropped: list[tuple[str, str]] | None = None,
) -> Iterator[Sample]:
    """Cut every labelled video into one :class:`Sample` per action instance.

    Videos are the ids that have both ``skeleton_dir/<id>.txt`` and ``label_dir/<id>.txt`` (a file without
    its counterpart is ignored), restricted to ``videos`` when given, in sorted order. Instance ``k`` (0-based
    row of the label file) of video ``id`` becomes

    - ``name``: ``f"{id}_{k:03d}"`` (e.g. ``0002-L_007``; unique, stable when other rows are dropped, and it
      sorts by video then by time as the label rows do),
    - ``label``: 0-based class,
    - ``body``: ``(T, 2, 25, 3)`` float32 copy of frames ``[start, min(end, T_video))``; the second person
      slot stays (zeros where absent),
    - ``meta``: ``{"video": id, "view": "L"|"M"|"R", "start": s, "end": e, "confidence": c}`` with the frame
      range actually cut (0-based, end exclusive).

    An instance whose range, clipped to the video's length, has fewer than ``min_frames`` frames is left out
    and, when ``dropped`` is a list, ``(name, reason)`` is appended to it.

    A malformed or unreadable file never stops the iteration: its video is skipped and ``(path, message)``
    is appended to ``errors`` (the message is the :class:`DataFormatError` text, ``file:line: problem``), or,
    when ``errors`` is None, a ``RuntimeWarning`` is issued. A file name that is not a video id counts as a
    malformed file.
    """
    if min_frames < 1:
        raise ValueError(f"min_frames must be >= 1, got {min_frames}")
    skeletons = {p.stem: p for p in Path(skeleton_dir).glob("*.txt") if p.is_file()}
    labels = {p.stem: p for p in Path(label_dir).glob("*.txt") if p.is_file()}
    ids = skeletons.keys() & labels.keys()
    if videos is not None:
        ids &= set(videos)
    for vid in sorted(ids):
        spath, lpath = skeletons[vid], labels[vid]
        parsed = parse_video_id(vid)
        if parsed is None:
            _report(errors, spath, f"{spath}: file name is not a PKU-MMD video id NNNN-L|M|R")
            continue
        try:
            instances = read_labels(lpath)
            body = read_skeleton(spath)
        except DataFormatError as exc:
            _report(errors, exc.path, str(exc))
            continue
        except OSError as exc:
            where = exc.filename or spath
            _report(errors, where, f"{where}: cannot read ({exc.strerror or exc})")
            continue
        num_frames = body.shape[0]
        for k, (label, start, end, confidence) in enumerate(instances):
            name = f"{vid}_{k:03d}"
            s, e = start, min(end, num_frames)
            if e - s < min_frames:
                if dropped is not None:
                    dropped.append((name, f"frames [{start}, {end}) of a {num_frames}-frame video leave "
                                          f"{max(e - s, 0)} < {min_frames} frames"))
                continue
            yield Sample(name=name, label=label, body=body[s:e].copy(),
                         meta={"video": vid, "view": parsed[1], "start": s, "end": e, "confidence": confidence})
