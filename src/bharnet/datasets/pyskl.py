"""Read and write the pyskl / mmaction2 skeleton annotation pickle, without letting the file run code.

File layout (pyskl ``tools/data``; ``mmcv.dump`` writes it with pickle protocol 2)::

    {'split': {'xsub_train': [frame_dir, ...], 'xsub_val': [...], ...},
     'annotations': [{'frame_dir': str,            # the sample id
                      'label': int,                # 0-based class
                      'keypoint': ndarray,         # [M, T, V, C]; pyskl's NTU 3D files use float16
                      'total_frames': int,         # == T
                      'keypoint_score': ndarray,   # [M, T, V], 2D (pose-estimated) data only
                      'img_shape': (h, w), 'original_shape': (h, w),   # 2D data only
                      ...}, ...]}

Older mmaction2 files are a bare list of annotations (one file per split); :func:`load` accepts those
and gives them an empty ``split``.

bharnet extension (pyskl passes unknown keys through its pipelines and never reads these):

* ``hand_keypoint``: float32 ``[2, T, 21, C]`` MediaPipe hands, slot 0 = left, slot 1 = right;
* ``hand_mask``: bool ``[T, 2]``, True where the hand was detected in that frame.

Security: a pickle names the callables that rebuild its objects, so ``pickle.load`` on a file from elsewhere
runs whatever the file asks for; :func:`load` reads through :mod:`bharnet.data.array_pickle`, which rebuilds
only numpy arrays, scalars and plain containers and refuses anything else (``os.system``, ``builtins.eval``, any
class) with ``DataFormatError(path, "refuses to load <module>.<name>: ...")`` before it is looked up.
"""
from __future__ import annotations

import io
import math
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data.array_pickle import ALLOWED_GLOBALS, RestrictedUnpickler, UnsafeObject, plain_data, read_array_pickle
from ..data.sample import DataFormatError, Sample
from ..utils.files import write_bytes_atomic

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "load", "save", "to_samples", "from_samples", "splits"]

_PROTOCOL = 4
_HAND_JOINTS = 21
# keys to_samples turns into Sample fields; everything else JSON-serialisable goes to meta
_RESERVED = frozenset({"frame_dir", "label", "keypoint", "keypoint_score", "total_frames",
                       "hand_keypoint", "hand_mask"})
_SHAPE_KEYS = ("img_shape", "original_shape")


# ---------------------------------------------------------------------------------------------- checks

def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check(data: Any, where: str) -> dict:
    """Validate the loaded structure; returns it as ``{'split': ..., 'annotations': ..., **others}``."""
    if isinstance(data, list):      # older mmaction2 layout: a bare list of annotations
        data = {"split": {}, "annotations": data}
    if not isinstance(data, dict):
        raise DataFormatError(where, f"top level is a {type(data).__name__}; a pyskl annotation file holds a "
                                     "dict with 'annotations' (and 'split'), or a list of annotations")
    if "annotations" not in data:
        raise DataFormatError(where, f"top-level dict has no 'annotations' key (keys: {sorted(map(str, data))})")
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise DataFormatError(where, f"'annotations' is a {type(anns).__name__}, not a list")
    split = data.get("split", {})
    if split is None:
        split = {}
    if not isinstance(split, dict):
        raise DataFormatError(where, f"'split' is a {type(split).__name__}, not a dict of lists of frame_dir")
    for key, names in split.items():
        if not isinstance(key, str):
            raise DataFormatError(where, f"split name {key!r} is not a str")
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise DataFormatError(where, f"split {key!r} must be a list of frame_dir strings")
    seen: dict[str, int] = {}
    for i, ann in enumerate(anns):
        _check_annotation(ann, i, where)
        name = ann["frame_dir"]
        if name in seen:
            raise DataFormatError(where, f"annotation {i}: frame_dir {name!r} repeats annotation {seen[name]}")
        seen[name] = i
    out = dict(data)
    out["split"] = split
    return out


def _check_annotation(ann: Any, i: int, where: str) -> None:
    if not isinstance(ann, dict):
        raise DataFormatError(where, f"annotation {i} is a {type(ann).__name__}, not a dict")
    if "frame_dir" not in ann:
        raise DataFormatError(where, f"annotation {i} has no 'frame_dir'")
    name = ann["frame_dir"]
    if not isinstance(name, str) or not name:
        raise DataFormatError(where, f"annotation {i}: frame_dir must be a non-empty str, got {name!r}")
    at = f"annotation {i} ({name!r})"
    for key in ("label", "keypoint"):
        if key not in ann:
            raise DataFormatError(where, f"{at} has no {key!r}")
    label = ann["label"]
    if not _is_int(label):
        raise DataFormatError(where, f"{at}: label must be an int, got {type(label).__name__} {label!r}")
    if label < 0:
        raise DataFormatError(where, f"{at}: label must be >= 0 (0-based), got {label}")
    kp = ann["keypoint"]
    if not isinstance(kp, np.ndarray):
        raise DataFormatError(where, f"{at}: keypoint must be a numpy array, got {type(kp).__name__}")
    if kp.ndim != 4:
        raise DataFormatError(where, f"{at}: keypoint must have 4 dims [M, T, V, C], got shape {kp.shape}")
    if kp.dtype.kind not in "fiu":
        raise DataFormatError(where, f"{at}: keypoint must be a real-valued array, got dtype {kp.dtype}")
    if min(kp.shape[1:]) == 0:
        raise DataFormatError(where, f"{at}: keypoint [M, T, V, C] has an empty T, V or C: {kp.shape}")
    t = kp.shape[1]
    if "total_frames" in ann:
        tf = ann["total_frames"]
        if not _is_int(tf):
            raise DataFormatError(where, f"{at}: total_frames must be an int, got {type(tf).__name__} {tf!r}")
        if tf != t:
            raise DataFormatError(where, f"{at}: total_frames is {tf} but keypoint has {t} frames ({kp.shape})")
    if ann.get("keypoint_score") is not None:
        sc = ann["keypoint_score"]
        if not isinstance(sc, np.ndarray) or sc.shape != kp.shape[:3] or sc.dtype.kind not in "fiu":
            shape = sc.shape if isinstance(sc, np.ndarray) else type(sc).__name__
            raise DataFormatError(where, f"{at}: keypoint_score must be a real array of shape [M, T, V] = "
                                         f"{kp.shape[:3]}, got {shape}")
    hk = ann.get("hand_keypoint")
    if hk is not None:
        if (not isinstance(hk, np.ndarray) or hk.ndim != 4 or hk.shape[:2] != (2, t)
                or hk.shape[2] != _HAND_JOINTS or hk.dtype.kind not in "fiu"):
            shape = hk.shape if isinstance(hk, np.ndarray) else type(hk).__name__
            raise DataFormatError(where, f"{at}: hand_keypoint must be a real array [2, T={t}, 21, C], got {shape}")
    hm = ann.get("hand_mask")
    if hm is not None:
        if hk is None:
            raise DataFormatError(where, f"{at}: hand_mask without hand_keypoint")
        if not isinstance(hm, np.ndarray) or hm.shape != (t, 2) or hm.dtype.kind not in "biu":
            shape = hm.shape if isinstance(hm, np.ndarray) else type(hm).__name__
            raise DataFormatError(where, f"{at}: hand_mask must be a bool array [T={t}, 2], got {shape}")


# ---------------------------------------------------------------------------------------------- files

def load(path: str | Path) -> dict:
    """Read a pyskl annotation pickle without running code from it.

    Returns ``{'split': {name: [frame_dir, ...]}, 'annotations': [dict, ...], ...}`` (``split`` is ``{}``
    where the file has none; other top-level keys are kept). Arrays keep the file's dtype (float16 stays
    float16). Raises :class:`DataFormatError` naming the file for anything that is not such a pickle:
    garbage, truncation, a disallowed global, object arrays, or a malformed annotation. A missing file
    raises the usual ``OSError``.
    """
    path = Path(path)
    data = read_array_pickle(path)
    return _check(data, str(path))


def save(path: str | Path, annotations: list[dict] | Mapping, split: Mapping[str, Iterable[str]] | None = None) -> None:
    """Write a pyskl annotation pickle (protocol 4) atomically (:func:`bharnet.utils.files.atomic_path`).
    ``annotations`` is a list of annotation dicts, or the whole dict from
    :func:`load` / :func:`from_samples` (whose ``split`` is used unless ``split`` is given). The data
    is checked first, and only what :func:`load` accepts is written, so a saved file always loads.
    """
    path = Path(path)
    if isinstance(annotations, Mapping):
        data = dict(annotations)
        if split is not None:
            data["split"] = split
    else:
        data = {"split": split, "annotations": annotations}
    if isinstance(data.get("split"), Mapping):
        data["split"] = {k: v if isinstance(v, (str, bytes)) or not isinstance(v, Iterable) else list(v)
                         for k, v in data["split"].items()}
    data = _check(data, str(path))
    try:
        plain_data(data)
    except UnsafeObject as e:
        raise DataFormatError(path, f"cannot save: {e}") from None
    payload = io.BytesIO()
    pickle.dump(data, payload, protocol=_PROTOCOL)
    write_bytes_atomic(path, payload.getbuffer())


# ---------------------------------------------------------------------------------------------- samples

def _jsonable(x: Any) -> tuple[bool, Any]:
    """(True, JSON-serialisable copy of x) or (False, None) where x holds arrays or other objects."""
    if x is None or isinstance(x, (bool, str)):
        return True, x
    if isinstance(x, (int, np.integer)) and not isinstance(x, np.bool_):
        return True, int(x)
    if isinstance(x, np.bool_):
        return True, bool(x)
    if isinstance(x, (float, np.floating)):
        return (True, float(x)) if math.isfinite(float(x)) else (False, None)
    if isinstance(x, (list, tuple)):
        items = [_jsonable(v) for v in x]
        return (True, [v for _, v in items]) if all(ok for ok, _ in items) else (False, None)
    if isinstance(x, dict) and all(isinstance(k, str) for k in x):
        items = {k: _jsonable(v) for k, v in x.items()}
        return (True, {k: v for k, (_, v) in items.items()}) if all(ok for ok, _ in items.values()) else (False, None)
    return False, None


def splits(data: Mapping) -> dict[str, list[str]]:
    """The file's split mapping, ``{split_name: [frame_dir, ...]}`` (``{}`` where it has none)."""
    return {k: list(v) for k, v in (data.get("split") or {}).items()}


def to_samples(data: Mapping | list, append_score: bool = True) -> list[Sample]:
    """Samples from :func:`load`'s dict (or a bare list of annotations), in file order.

    * ``body`` = ``keypoint`` [M, T, V, C] transposed to (T, M, V, C), float32;
    * ``keypoint_score`` [M, T, V] (2D data), if present, becomes an extra last coordinate, so 2D body
      joints are (x, y, score) as pyskl's ``PoseDecode`` feeds them to its GCNs; with
      ``append_score=False`` it is dropped;
    * ``hand_keypoint`` / ``hand_mask`` (bharnet extension) become ``hands`` / ``hand_mask``;
    * ``meta`` gets every other key whose value is JSON-serialisable (numpy scalars become Python
      numbers, tuples such as ``img_shape`` become lists). Array-valued and other non-JSON keys, and
      ``total_frames`` (the body's T), are dropped.
    """
    data = _check(data if isinstance(data, list) else dict(data), "<pyskl annotations>")
    out = []
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoint"], dtype=np.float32)
        sc = ann.get("keypoint_score")
        if sc is not None and append_score:
            kp = np.concatenate([kp, np.asarray(sc, dtype=np.float32)[..., None]], axis=-1)
        body = np.ascontiguousarray(kp.transpose(1, 0, 2, 3))
        hands = hand_mask = None
        if ann.get("hand_keypoint") is not None:
            hands = np.ascontiguousarray(np.asarray(ann["hand_keypoint"], dtype=np.float32).transpose(1, 0, 2, 3))
            if ann.get("hand_mask") is not None:
                hand_mask = np.asarray(ann["hand_mask"]).astype(bool)
        meta = {}
        for key, value in ann.items():
            if key in _RESERVED or not isinstance(key, str):
                continue
            ok, plain = _jsonable(value)
            if ok:
                meta[key] = plain
        out.append(Sample(name=ann["frame_dir"], label=int(ann["label"]), body=body, hands=hands,
                          hand_mask=hand_mask, meta=meta))
    return out


def from_samples(samples: Iterable[Sample], split: Mapping[str, Iterable[str]] | None = None) -> dict:
    """The pyskl dict for ``samples`` (inverse of :func:`to_samples`, ready for :func:`save`).

    Each annotation has ``frame_dir`` (the name), ``label``, ``total_frames`` and ``keypoint`` float32
    [M, T, V, C]; samples with hands add ``hand_keypoint`` float32 [2, T, 21, C] and ``hand_mask`` bool
    [T, 2]. ``meta`` entries are written as extra keys (``img_shape`` / ``original_shape`` as tuples,
    as pyskl writes them), except those that would overwrite the keys above. 2D data comes back with
    its score as the last keypoint coordinate, not as ``keypoint_score``.
    """
    anns = []
    for s in samples:
        ann: dict[str, Any] = {}
        for key, value in s.meta.items():
            if key in _RESERVED:
                continue
            ann[key] = tuple(value) if key in _SHAPE_KEYS and isinstance(value, list) else value
        ann.update(frame_dir=s.name, label=int(s.label), total_frames=s.num_frames,
                   keypoint=np.ascontiguousarray(s.body.transpose(1, 0, 2, 3), dtype=np.float32))
        if s.hands is not None:
            ann["hand_keypoint"] = np.ascontiguousarray(s.hands.transpose(1, 0, 2, 3), dtype=np.float32)
            ann["hand_mask"] = np.asarray(s.hand_mask, dtype=bool)
        anns.append(ann)
    data = {"split": {k: list(v) for k, v in (split or {}).items()}, "annotations": anns}
    return _check(data, "<from_samples>")
