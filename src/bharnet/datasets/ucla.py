"""Northwestern-UCLA Multiview Action 3D in the CTR-GCN json layout.

Each ``all_sqe/aAA_sSS_eEE_vVV.json`` holds ``{"file_name", "skeletons": [T][20][3], "label": 1..10}``
(action, subject, episode, view in the name; the label field is already the 1-based class index, the
action numbers themselves skip 7 and 10). One person, 20 Kinect v1 joints, metres.

Protocol (CTR-GCN/DeGCN): cross-view, train on views 1 and 2, test on view 3. The official test list
(``val_label.json``, 464 entries) is exactly the view-3 files; :func:`read_test_list` reads it so a
conversion can check the split against it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..data.sample import DataFormatError, Sample

__all__ = ["read_sequence", "parse_name", "split_of", "read_test_list", "iter_samples", "NUM_JOINTS",
           "NUM_CLASSES", "SPLITS"]

NUM_JOINTS = 20
NUM_CLASSES = 10
SPLITS = ("xview",)
TRAIN_VIEWS = frozenset((1, 2))
_NAME = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")


def parse_name(name: str) -> dict[str, int]:
    """``a01_s02_e03_v01`` -> action, subject, episode, view."""
    m = _NAME.search(name)
    if m is None:
        raise ValueError(f"{name!r} is not an NW-UCLA sample name (aAA_sSS_eEE_vVV)")
    a, s, e, v = (int(g) for g in m.groups())
    return dict(action=a, subject=s, episode=e, view=v)


def split_of(name: str, protocol: str = "xview") -> str:
    if protocol != "xview":
        raise ValueError(f"NW-UCLA has one protocol, 'xview'; got {protocol!r}")
    return "train" if parse_name(name)["view"] in TRAIN_VIEWS else "test"


def read_sequence(path: str | Path) -> Sample:
    """One json file -> Sample with body ``(T, 1, 20, 3)`` and a 0-based label.

    Raises:
        DataFormatError: naming the file, for invalid json, missing keys, a ragged or wrongly shaped
            skeleton list, non-finite values or a label outside 1..10.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid json ({e.msg})", line=e.lineno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(path, f"cannot read: {e}") from None
    if not isinstance(record, dict) or "skeletons" not in record or "label" not in record:
        raise DataFormatError(path, "expected an object with 'skeletons' and 'label'")
    try:
        joints = np.asarray(record["skeletons"], dtype=np.float32)
    except (ValueError, TypeError):
        raise DataFormatError(path, "'skeletons' is not a regular [T][20][3] array of numbers") from None
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or joints.shape[0] == 0:
        raise DataFormatError(path, f"'skeletons' must have shape [T>0][{NUM_JOINTS}][3], got {list(joints.shape)}")
    if not np.isfinite(joints).all():
        raise DataFormatError(path, "'skeletons' holds non-finite values")
    label = record["label"]
    if not isinstance(label, int) or not 1 <= label <= NUM_CLASSES:
        raise DataFormatError(path, f"'label' must be an integer in 1..{NUM_CLASSES}, got {label!r}")
    name = str(record.get("file_name") or path.stem)
    meta = parse_name(name) if _NAME.search(name) else {}
    return Sample(name=name, label=label - 1, body=joints[:, None], meta=meta)


def read_test_list(path: str | Path) -> list[str]:
    """The official test list (``val_label.json``: a list of ``{file_name, length, label}``)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
        return [str(e["file_name"]) for e in entries]
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise DataFormatError(path, f"not a list of {{file_name, length, label}} objects ({e})") from None


def iter_samples(paths: Iterable[str | Path], *, errors: list[tuple[str, str]] | None = None) -> Iterator[Sample]:
    """Read files one by one; a malformed one goes to ``errors`` as ``(path, message)`` (raised if None)."""
    for path in paths:
        try:
            yield read_sequence(path)
        except DataFormatError as e:
            if errors is None:
                raise
            errors.append((str(path), str(e)))
