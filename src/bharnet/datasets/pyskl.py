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

Security. A pickle names the callables that rebuild its objects, so ``pickle.load`` on a file from
elsewhere runs whatever the file asks for. :func:`load` unpickles with :class:`RestrictedUnpickler`,
which resolves only the handful of names that numpy arrays need (see ``ALLOWED_GLOBALS``), and hands
back guarded stand-ins rather than the numpy callables themselves:

* arrays are rebuilt only through ``_reconstruct(ndarray, (0,), b'b')`` followed by their state, or
  ``_frombuffer`` (protocol 5); ``numpy.ndarray`` resolves to a marker that cannot be called, so the
  array constructor (which takes arbitrary buffers, offsets and strides) is out of reach;
* every dtype an array or scalar is built with must be a plain bool / integer / float / complex /
  bytes / str / datetime dtype and equal, flags included, to a freshly made dtype of the same
  spelling. ``dtype.__setstate__`` accepts any flags, and a float64 dtype whose flags claim it holds
  Python objects makes numpy read the array's bytes as object pointers; so object, structured and
  tampered dtypes are refused, and arrays get the fresh dtype, not the one from the file;
* ``_codecs.encode`` (how protocols 0-2 spell ``bytes``) only turns a str into latin-1 bytes, and
  ``builtins.bytes`` (how they spell ``b''``) only makes the empty bytes.

Anything else (``os.system``, ``builtins.eval``, any class) is refused with
``DataFormatError(path, "refuses to load <module>.<name>: ...")`` before it is looked up.
"""
from __future__ import annotations

import io
import math
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bharnet.data.sample import DataFormatError, Sample

from ..utils.files import write_bytes_atomic

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "load", "save", "to_samples", "from_samples", "splits"]

# (module, name) pairs a pyskl pickle may name. numpy 1.x writes numpy.core.*, numpy 2.x numpy._core.*;
# Python 3 writes protocol <= 2 builtins as __builtin__ (fix_imports).
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "bytes"), ("__builtin__", "bytes"),
})

_PROTOCOL = 4
_SAFE_KINDS = "biufcmMSU"   # bool, int, uint, float, complex, timedelta, datetime, bytes, str
_HAND_JOINTS = 21
# keys to_samples turns into Sample fields; everything else JSON-serialisable goes to meta
_RESERVED = frozenset({"frame_dir", "label", "keypoint", "keypoint_score", "total_frames",
                       "hand_keypoint", "hand_mask"})
_SHAPE_KEYS = ("img_shape", "original_shape")

# numpy's own rebuild functions, found through pickling itself so that no private module is imported
_np_reconstruct = np.zeros(1).__reduce__()[0]
_np_scalar = np.float32(0).__reduce__()[0]


class _Refused(Exception):
    """Raised inside unpickling; load() turns it into a DataFormatError naming the file."""


def _safe_dtype(dt: Any, what: str) -> np.dtype:
    """A fresh copy of ``dt`` if it is a plain, untampered dtype, else _Refused."""
    if not isinstance(dt, np.dtype):
        raise _Refused(f"{what}: expected a numpy dtype, got {type(dt).__name__}")
    if dt.kind == "O":
        raise _Refused(f"{what}: refuses object dtype arrays (their elements are arbitrary pickled objects)")
    if dt.kind not in _SAFE_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise _Refused(f"{what}: refuses dtype {dt!r}; only plain numeric, bool, bytes and str dtypes load")
    try:
        fresh = np.dtype(dt.str)
    except TypeError as e:
        raise _Refused(f"{what}: refuses tampered dtype ({e})") from None
    if (fresh != dt or fresh.itemsize != dt.itemsize or fresh.alignment != dt.alignment
            or fresh.flags != dt.flags):
        raise _Refused(f"{what}: refuses tampered dtype {dt.str!r} (flags {dt.flags}, itemsize {dt.itemsize} "
                       f"differ from a fresh dtype's flags {fresh.flags}, itemsize {fresh.itemsize})")
    return np.dtype(dt.str, align=False, copy=True)


def _raw_bytes(raw: Any, what: str) -> bytes:
    if isinstance(raw, str):        # Python 2 str, decoded as latin-1
        return raw.encode("latin-1")
    if isinstance(raw, (bytes, bytearray, pickle.PickleBuffer)):
        return bytes(raw)
    raise _Refused(f"{what}: array data must be bytes, got {type(raw).__name__} (object arrays are refused)")


class _GuardedArray(np.ndarray):
    """The array ``_reconstruct`` makes while unpickling: its ``__setstate__`` checks dtype and data first.
    load() turns every one back into a plain ndarray."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refused("array state must be a 4- or 5-tuple")
        version, (shape, dtype, fortran, raw) = (state[0], state[1:]) if len(state) == 5 else (1, state)
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise _Refused(f"array shape must be a tuple of non-negative ints, got {shape!r}")
        dtype = _safe_dtype(dtype, "array")
        data = _raw_bytes(raw, "array")
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise _Refused(f"array data holds {len(data)} bytes, shape {shape} of {dtype} needs "
                           f"{math.prod(shape) * dtype.itemsize}")
        super().__setstate__((version, shape, dtype, bool(fortran), data))


class _Guard:
    """A callable stand-in for an allowed global. It cannot be given state (pickle's BUILD) or attributes,
    so a file cannot rewire it."""

    __slots__ = ("_name", "_call")

    def __init__(self, name: str, call: Any):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_call", call)

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)

    def __setattr__(self, key: str, value: Any) -> None:
        raise _Refused(f"refuses to set attributes on {self._name}")

    def __setstate__(self, state: Any) -> None:
        raise _Refused(f"refuses to give state to {self._name}")

    def __repr__(self) -> str:
        return f"<guarded {self._name}>"


def _ndarray_marker(*args: Any) -> Any:
    raise _Refused("refuses to call numpy.ndarray directly; arrays are rebuilt only through _reconstruct")


_NDARRAY = _Guard("numpy.ndarray", _ndarray_marker)


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    if subtype is not _NDARRAY:
        raise _Refused(f"_reconstruct may only rebuild numpy.ndarray, not {subtype!r}")
    if typecode not in (b"b", "b"):   # what every numpy version writes; the real dtype comes with the state
        raise _Refused(f"_reconstruct typecode must be b'b', got {typecode!r}")
    return _np_reconstruct(_GuardedArray, (0,), b"b")


def _scalar(dtype: Any, raw: Any = None) -> Any:
    dtype = _safe_dtype(dtype, "scalar")
    data = _raw_bytes(raw, "scalar")
    if len(data) != dtype.itemsize:
        raise _Refused(f"scalar data holds {len(data)} bytes, {dtype} needs {dtype.itemsize}")
    return _np_scalar(dtype, data)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    dtype = _safe_dtype(dtype, "array")
    data = _raw_bytes(buf, "array")
    if order not in ("C", "F"):
        raise _Refused(f"array order must be 'C' or 'F', got {order!r}")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise _Refused(f"array shape must be a tuple of non-negative ints, got {shape!r}")
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise _Refused(f"array data holds {len(data)} bytes, shape {shape} of {dtype} needs "
                       f"{math.prod(shape) * dtype.itemsize}")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")
    return arr.view(_GuardedArray)


def _dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    if not isinstance(spec, str):
        raise _Refused(f"numpy.dtype must be given a type string, got {type(spec).__name__}")
    try:
        dt = np.dtype(spec, align=False, copy=True)   # a copy, never numpy's shared singleton
    except TypeError as e:
        raise _Refused(f"numpy.dtype({spec!r}): {e}") from None
    _safe_dtype(dt, f"numpy.dtype({spec!r})")
    return dt


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode only turns a str into latin-1 bytes, not ({type(text).__name__}, "
                       f"{encoding!r})")
    return text.encode("latin-1")


def _bytes(*args: Any) -> bytes:
    if args:
        raise _Refused("builtins.bytes may only make b'' (protocol 2's empty bytes)")
    return b""


_GUARDS: dict[str, _Guard] = {
    "_reconstruct": _Guard("numpy._core.multiarray._reconstruct", _reconstruct),
    "scalar": _Guard("numpy._core.multiarray.scalar", _scalar),
    "_frombuffer": _Guard("numpy._core.numeric._frombuffer", _frombuffer),
    "ndarray": _NDARRAY,
    "dtype": _Guard("numpy.dtype", _dtype),
    "encode": _Guard("_codecs.encode", _encode),
    "bytes": _Guard("builtins.bytes", _bytes),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays, numpy scalars and plain containers (see the module docstring)."""

    def __init__(self, file: Any, path: str | Path = "<pickle>"):
        # latin-1 lets Python 2 pickles (numpy's raw data as py2 str) load; the guards turn it back to bytes
        super().__init__(file, encoding="latin1")
        self.path = str(path)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataFormatError(self.path, f"refuses to load {module}.{name}: a pyskl annotation pickle may "
                                             "only name numpy's array rebuilders, and other callables could "
                                             "run code")
        return _GUARDS[name]

    def persistent_load(self, pid: Any) -> Any:
        raise DataFormatError(self.path, "refuses persistent ids: a pyskl annotation pickle has none")


def _unguard(obj: Any, depth: int = 0) -> Any:
    """Plain ndarrays for guarded ones, refusing anything that is not an array, scalar or container."""
    if depth > 100:
        raise _Refused("nesting deeper than 100 levels")
    if isinstance(obj, np.ndarray):     # the guards already checked it; a second look costs nothing
        _safe_dtype(obj.dtype, "stored array")
        return obj.view(np.ndarray) if type(obj) is not np.ndarray else obj
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, bytearray)):
        return obj
    if isinstance(obj, np.generic):
        _safe_dtype(obj.dtype, "stored scalar")
        return obj
    if isinstance(obj, np.dtype):
        _safe_dtype(obj, "stored dtype")
        return obj
    if type(obj) is dict:
        return {_unguard(k, depth + 1): _unguard(v, depth + 1) for k, v in obj.items()}
    if type(obj) in (list, tuple, set, frozenset):
        return type(obj)(_unguard(v, depth + 1) for v in obj)
    raise _Refused(f"refuses a {type(obj).__name__} object; only numpy arrays and plain containers are stored")


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
    with open(path, "rb") as f:
        try:
            data = RestrictedUnpickler(f, path).load()
            data = _unguard(data)
        except DataFormatError:
            raise
        except _Refused as e:
            raise DataFormatError(path, str(e)) from None
        except RecursionError:
            raise DataFormatError(path, "not a readable pickle: nested too deeply") from None
        except EOFError:
            raise DataFormatError(path, "not a readable pickle: the file ends early (truncated?)") from None
        except Exception as e:   # UnpicklingError, and whatever numpy or pickle raise on garbage opcodes
            raise DataFormatError(path, f"not a readable pickle: {type(e).__name__}: {e}") from None
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
        _unguard(data)
    except _Refused as e:
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
