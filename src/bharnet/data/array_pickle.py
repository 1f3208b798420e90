"""Pickles of numpy arrays read as data: the unpickler behind :func:`bharnet.datasets.pyskl.load`.

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

:func:`plain_data` is the same check on data in memory (what may be saved).
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .sample import DataFormatError

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "UnsafeObject", "plain_data", "read_array_pickle"]

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

_SAFE_KINDS = "biufcmMSU"   # bool, int, uint, float, complex, timedelta, datetime, bytes, str

# numpy's own rebuild functions, found through pickling itself so that no private module is imported
_np_reconstruct = np.zeros(1).__reduce__()[0]
_np_scalar = np.float32(0).__reduce__()[0]


class UnsafeObject(Exception):
    """Raised inside unpickling; load() turns it into a DataFormatError naming the file."""


def _safe_dtype(dt: Any, what: str) -> np.dtype:
    """A fresh copy of ``dt`` if it is a plain, untampered dtype, else UnsafeObject."""
    if not isinstance(dt, np.dtype):
        raise UnsafeObject(f"{what}: expected a numpy dtype, got {type(dt).__name__}")
    if dt.kind == "O":
        raise UnsafeObject(f"{what}: refuses object dtype arrays (their elements are arbitrary pickled objects)")
    if dt.kind not in _SAFE_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise UnsafeObject(f"{what}: refuses dtype {dt!r}; only plain numeric, bool, bytes and str dtypes load")
    try:
        fresh = np.dtype(dt.str)
    except TypeError as e:
        raise UnsafeObject(f"{what}: refuses tampered dtype ({e})") from None
    if (fresh != dt or fresh.itemsize != dt.itemsize or fresh.alignment != dt.alignment
            or fresh.flags != dt.flags):
        raise UnsafeObject(f"{what}: refuses tampered dtype {dt.str!r} (flags {dt.flags}, itemsize {dt.itemsize} "
                           f"differ from a fresh dtype's flags {fresh.flags}, itemsize {fresh.itemsize})")
    return np.dtype(dt.str, align=False, copy=True)


def _raw_bytes(raw: Any, what: str) -> bytes:
    if isinstance(raw, str):        # Python 2 str, decoded as latin-1
        return raw.encode("latin-1")
    if isinstance(raw, (bytes, bytearray, pickle.PickleBuffer)):
        return bytes(raw)
    raise UnsafeObject(f"{what}: array data must be bytes, got {type(raw).__name__} (object arrays are refused)")


class _GuardedArray(np.ndarray):
    """The array ``_reconstruct`` makes while unpickling: its ``__setstate__`` checks dtype and data first.
    load() turns every one back into a plain ndarray."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafeObject("array state must be a 4- or 5-tuple")
        version, (shape, dtype, fortran, raw) = (state[0], state[1:]) if len(state) == 5 else (1, state)
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise UnsafeObject(f"array shape must be a tuple of non-negative ints, got {shape!r}")
        dtype = _safe_dtype(dtype, "array")
        data = _raw_bytes(raw, "array")
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise UnsafeObject(f"array data holds {len(data)} bytes, shape {shape} of {dtype} needs "
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
        raise UnsafeObject(f"refuses to set attributes on {self._name}")

    def __setstate__(self, state: Any) -> None:
        raise UnsafeObject(f"refuses to give state to {self._name}")

    def __repr__(self) -> str:
        return f"<guarded {self._name}>"


def _ndarray_marker(*args: Any) -> Any:
    raise UnsafeObject("refuses to call numpy.ndarray directly; arrays are rebuilt only through _reconstruct")


_NDARRAY = _Guard("numpy.ndarray", _ndarray_marker)


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    if subtype is not _NDARRAY:
        raise UnsafeObject(f"_reconstruct may only rebuild numpy.ndarray, not {subtype!r}")
    if typecode not in (b"b", "b"):   # what every numpy version writes; the real dtype comes with the state
        raise UnsafeObject(f"_reconstruct typecode must be b'b', got {typecode!r}")
    return _np_reconstruct(_GuardedArray, (0,), b"b")


def _scalar(dtype: Any, raw: Any = None) -> Any:
    dtype = _safe_dtype(dtype, "scalar")
    data = _raw_bytes(raw, "scalar")
    if len(data) != dtype.itemsize:
        raise UnsafeObject(f"scalar data holds {len(data)} bytes, {dtype} needs {dtype.itemsize}")
    return _np_scalar(dtype, data)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    dtype = _safe_dtype(dtype, "array")
    data = _raw_bytes(buf, "array")
    if order not in ("C", "F"):
        raise UnsafeObject(f"array order must be 'C' or 'F', got {order!r}")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise UnsafeObject(f"array shape must be a tuple of non-negative ints, got {shape!r}")
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise UnsafeObject(f"array data holds {len(data)} bytes, shape {shape} of {dtype} needs "
                           f"{math.prod(shape) * dtype.itemsize}")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")
    return arr.view(_GuardedArray)


def _dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafeObject(f"numpy.dtype must be given a type string, got {type(spec).__name__}")
    try:
        dt = np.dtype(spec, align=False, copy=True)   # a copy, never numpy's shared singleton
    except TypeError as e:
        raise UnsafeObject(f"numpy.dtype({spec!r}): {e}") from None
    _safe_dtype(dt, f"numpy.dtype({spec!r})")
    return dt


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeObject(f"_codecs.encode only turns a str into latin-1 bytes, not ({type(text).__name__}, "
                           f"{encoding!r})")
    return text.encode("latin-1")


def _bytes(*args: Any) -> bytes:
    if args:
        raise UnsafeObject("builtins.bytes may only make b'' (protocol 2's empty bytes)")
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


def plain_data(obj: Any, depth: int = 0) -> Any:
    """Plain ndarrays for guarded ones, refusing anything that is not an array, scalar or container."""
    if depth > 100:
        raise UnsafeObject("nesting deeper than 100 levels")
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
        return {plain_data(k, depth + 1): plain_data(v, depth + 1) for k, v in obj.items()}
    if type(obj) in (list, tuple, set, frozenset):
        return type(obj)(plain_data(v, depth + 1) for v in obj)
    raise UnsafeObject(f"refuses a {type(obj).__name__} object; only numpy arrays and plain containers are stored")


def read_array_pickle(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` and return plain data (:func:`plain_data`).

    Raises:
        DataFormatError: naming the file, for garbage, truncation, a disallowed global, object arrays or anything
            that is not numpy arrays, scalars and plain containers. A missing file raises the usual ``OSError``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        try:
            return plain_data(RestrictedUnpickler(f, path).load())
        except DataFormatError:
            raise
        except UnsafeObject as e:
            raise DataFormatError(path, str(e)) from None
        except RecursionError:
            raise DataFormatError(path, "not a readable pickle: nested too deeply") from None
        except EOFError:
            raise DataFormatError(path, "not a readable pickle: the file ends early (truncated?)") from None
        except Exception as e:   # UnpicklingError, and whatever numpy or pickle raise on garbage opcodes
            raise DataFormatError(path, f"not a readable pickle: {type(e).__name__}: {e}") from None
