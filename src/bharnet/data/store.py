"""The dataset store: one directory of memory-mapped arrays plus a manifest.

Layout of ``<store>/``::

    manifest.json       format version, sample count, every array file's dtype, shape, size and SHA-256,
                        the split protocols, class count and preprocessing settings; written last
    offsets.npy         (N + 1,) int64: sample i is frames offsets[i]:offsets[i+1] of every per-frame array
    labels.npy          (N,) int64
    names.npy           (N,) fixed-width unicode sample names
    split_<proto>.npy   (N,) int8 per protocol: 0 train, 1 test, -1 not in the protocol
    meta.json           per-sample metadata (subject, view, ...), read only on demand
    <field>.bin         per-frame arrays, frames of all samples concatenated: body (F, M, V, C) float32,
                        and where present hands (F, 2, 21, C), hand_mask (F, 2) bool, body_color,
                        video_frame, ...

A sample is one contiguous slice, so random access is O(1) and the feeder's memory does not grow with
the dataset (the OS pages in what is read). A store is written into ``<store>.partial/`` and renamed
into place only after the manifest is complete, so a half-written store never looks like a store;
opening checks every file's size against the manifest (cheap), :meth:`DatasetStore.verify` its checksum.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..utils.files import write_text_atomic
from .sample import DataFormatError, Sample

__all__ = ["DatasetStore", "StoreWriter", "write_store", "StoreError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_SPLIT_CODES = {"train": 0, "test": 1}
_SPLIT_NAMES = {v: k for k, v in _SPLIT_CODES.items()}
# File names of the index: a per-frame extra must not collide with them (or escape the folder).
_RESERVED = frozenset(("body", "hands", "hand_mask", "offsets", "labels", "names", "meta", "manifest"))
_FIELD_NAME = re.compile(r"[A-Za-z0-9_]+")


class StoreError(DataFormatError):
    """A dataset store is missing, incomplete or corrupt."""


class StoreWriter:
    """Append samples one by one, then :meth:`close` to publish the store atomically.

    Memory stays flat: per-frame arrays are streamed to disk as they arrive and hashed on the way.

    >>> with StoreWriter("ucla.store", splits=("xview",), num_classes=10) as w:   # doctest: +SKIP
    ...     w.add(sample, splits={"xview": "train"})
    """

    def __init__(self, path: str | Path, *, splits: Iterable[str] = (), num_classes: int | None = None,
                 info: dict | None = None, overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; pass overwrite=True (--overwrite) to replace it")
        self.partial = self.path.with_name(self.path.name + ".partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.protocols = tuple(splits)
        self.num_classes = num_classes
        self.info = dict(info or {})
        self._files: dict[str, object] = {}
        self._hash: dict[str, hashlib._Hash] = {}
        self._spec: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._frames = 0
        self._offsets = [0]
        self._labels: list[int] = []
        self._names: list[str] = []
        self._meta: list[dict] = []
        self._splits: dict[str, list[int]] = {p: [] for p in self.protocols}
        self._closed = False

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add(self, sample: Sample, splits: dict[str, str | None] | None = None) -> None:
        """Append one sample; ``splits`` maps each protocol to ``"train"``, ``"test"`` or None.

        A sample whose fields do not match the earlier samples' (names, dtypes, per-frame shapes) is
        rejected with a ValueError before anything is written.
        """
        if self._closed:
            raise RuntimeError("the store writer is closed")
        bad = [k for k in sample.extras if k in _RESERVED or k.startswith("split_") or not _FIELD_NAME.fullmatch(k)]
        if bad:
            raise ValueError(f"sample {sample.name}: extra field name(s) {bad} are reserved or not [A-Za-z0-9_]+")
        unknown = {p: w for p, w in (splits or {}).items() if w is not None and w not in _SPLIT_CODES}
        if unknown:
            raise ValueError(f"sample {sample.name}: split values must be 'train', 'test' or None, got {unknown}")
        fields = {"body": sample.body}
        if sample.hands is not None:
            fields["hands"], fields["hand_mask"] = sample.hands, sample.hand_mask
        fields.update(sample.extras)
        fields = {k: np.ascontiguousarray(v) for k, v in fields.items()}
        specs = {k: (v.dtype.str, tuple(v.shape[1:])) for k, v in fields.items()}
        if self._names:
            if set(specs) != set(self._spec):
                raise ValueError(f"sample {sample.name}: has fields {sorted(specs)}, earlier samples have "
                                 f"{sorted(self._spec)}")
            for key, spec in specs.items():
                if spec != self._spec[key]:
                    raise ValueError(f"sample {sample.name}: field {key!r} has dtype/shape {spec}, "
                                     f"the store has {self._spec[key]}")
        else:
            self._spec = specs
            for key in specs:
                self._files[key] = open(self.partial / f"{key}.bin", "wb")  # noqa: SIM115 (closed in close())
                self._hash[key] = hashlib.sha256()
        for key, value in fields.items():
            data = value.tobytes()
            self._files[key].write(data)
            self._hash[key].update(data)
        self._names.append(sample.name)
        self._frames += sample.num_frames
        self._offsets.append(self._frames)
        self._labels.append(int(sample.label))
        self._meta.append(sample.meta)
        splits = splits or {}
        for protocol in self.protocols:
            which = splits.get(protocol)
            self._splits[protocol].append(-1 if which is None else _SPLIT_CODES[which])

    def __len__(self) -> int:
        return len(self._names)

    def abort(self) -> None:
        for f in self._files.values():
            f.close()
        shutil.rmtree(self.partial, ignore_errors=True)
        self._closed = True

    def close(self) -> Path:
        """Write the index and the manifest, then move the store into place."""
        if self._closed:
            return self.path
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
            f.close()
        if not self._names:
            self.abort()
            raise ValueError(f"{self.path}: no samples to write")
        files = {}
        for key, (dtype, tail) in self._spec.items():
            files[key] = dict(file=f"{key}.bin", dtype=dtype, shape=[self._frames, *tail],
                              bytes=(self.partial / f"{key}.bin").stat().st_size,
                              sha256=self._hash[key].hexdigest(), per_frame=True)
        width = max(len(n) for n in self._names)
        index = {"offsets": np.asarray(self._offsets, np.int64), "labels": np.asarray(self._labels, np.int64),
                 "names": np.asarray(self._names, dtype=f"<U{width}")}
        index.update({f"split_{p}": np.asarray(v, np.int8) for p, v in self._splits.items()})
        for key, array in index.items():
            np.save(self.partial / f"{key}.npy", array)
            files[key] = dict(file=f"{key}.npy", bytes=(self.partial / f"{key}.npy").stat().st_size,
                              sha256=_sha256(self.partial / f"{key}.npy"), per_frame=False)
        (self.partial / "meta.json").write_text(json.dumps(self._meta))
        files["meta"] = dict(file="meta.json", bytes=(self.partial / "meta.json").stat().st_size,
                             sha256=_sha256(self.partial / "meta.json"), per_frame=False)
        num_classes = self.num_classes if self.num_classes is not None else max(self._labels) + 1
        manifest = dict(format="bharnet-store", version=FORMAT_VERSION, num_samples=len(self._names),
                        num_frames=self._frames, num_classes=num_classes, protocols=list(self.protocols),
                        files=files, info=self.info)
        write_text_atomic(self.partial / "manifest.json", json.dumps(manifest, indent=1))
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.partial, self.path)
        self._closed = True
        return self.path


def write_store(path: str | Path, samples: Iterable[Sample | tuple[Sample, dict]], **kwargs) -> Path:
    """Write an iterable of samples (or ``(sample, splits)`` pairs) as a store; see :class:`StoreWriter`."""
    with StoreWriter(path, **kwargs) as writer:
        for item in samples:
            sample, splits = item if isinstance(item, tuple) else (item, None)
            writer.add(sample, splits)
    return Path(path)


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class DatasetStore:
    """Read a store: ``len(store)``, ``store[i] -> Sample`` in O(1), split indices, lazily memory-mapped.

    Safe to hand to DataLoader workers: the memory maps are reopened in each process.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not self.path.is_dir():
            partial = self.path.with_name(self.path.name + ".partial")
            hint = f" (a half-written {partial.name} exists: the writing run was interrupted; run it again)" \
                if partial.exists() else ""
            raise StoreError(self.path, f"no dataset store here{hint}")
        if not manifest_path.is_file():
            raise StoreError(self.path, "manifest.json is missing: the store is incomplete")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise StoreError(manifest_path, f"corrupt manifest ({e})") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != "bharnet-store":
            raise StoreError(manifest_path, "not a bharnet dataset store manifest")
        if self.manifest.get("version") != FORMAT_VERSION:
            raise StoreError(manifest_path, f"store format version {self.manifest.get('version')} is not "
                             f"supported (this bharnet reads version {FORMAT_VERSION})")
        required = ("num_samples", "num_frames", "num_classes", "protocols", "files")
        lacking = [k for k in required if k not in self.manifest]
        if lacking or not isinstance(self.manifest["files"], dict) or "body" not in self.manifest["files"]:
            raise StoreError(manifest_path, f"incomplete manifest (lacks {', '.join(lacking) or 'the body field'})")
        for key, entry in self.manifest["files"].items():
            file = self.path / entry["file"]
            if not file.is_file():
                raise StoreError(file, f"array file of field {key!r} is missing")
            if file.stat().st_size != entry["bytes"]:
                raise StoreError(file, f"has {file.stat().st_size} bytes, the manifest says {entry['bytes']} "
                                 "(truncated or modified)")
        self.num_classes = int(self.manifest["num_classes"])
        self.protocols = tuple(self.manifest["protocols"])
        self.info = self.manifest.get("info", {})
        self.fields = tuple(k for k, e in self.manifest["files"].items() if e["per_frame"])
        self._maps: dict[str, np.ndarray] = {}
        self._meta: list[dict] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def _array(self, key: str) -> np.ndarray:
        array = self._maps.get(key)
        if array is None:
            entry = self.manifest["files"][key]
            file = self.path / entry["file"]
            if entry["per_frame"]:
                array = np.memmap(file, dtype=np.dtype(entry["dtype"]), mode="r", shape=tuple(entry["shape"]))
            else:
                array = np.load(file, mmap_mode="r", allow_pickle=False)
            self._maps[key] = array
        return array

    def __len__(self) -> int:
        return int(self.manifest["num_samples"])

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self._array("labels"))

    @property
    def names(self) -> np.ndarray:
        return self._array("names")

    @property
    def class_names(self) -> list[str] | None:
        """The class names the store was written with (``prepare videos``: the class folders), else None."""
        names = (self.manifest.get("info") or {}).get("class_names")
        return [str(n) for n in names] if names else None

    @property
    def hand_normalization(self) -> str:
        """How the stored hands were normalised (``prepare --hand-normalization``; ``palm`` if unrecorded)."""
        return str((self.manifest.get("info", {}).get("hand_options") or {}).get("normalization", "palm"))

    @property
    def meta(self) -> list[dict]:
        if self._meta is None:
            self._meta = json.loads((self.path / "meta.json").read_text())
        return self._meta

    def num_frames(self, index: int) -> int:
        offsets = self._array("offsets")
        return int(offsets[index + 1] - offsets[index])

    def frames(self, key: str, index: int) -> np.ndarray:
        """A read-only view of one per-frame field of sample ``index``, ``(T, ...)``."""
        if key not in self.fields:
            raise KeyError(f"{self.path}: no field {key!r}; it has {', '.join(self.fields)}")
        offsets = self._array("offsets")
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.path}: sample index {index} out of range for {len(self)} samples")
        index %= len(self)
        return self._array(key)[offsets[index]:offsets[index + 1]]

    def __getitem__(self, index: int) -> Sample:
        arrays = {key: np.array(self.frames(key, index)) for key in self.fields}
        index %= len(self)
        body = arrays.pop("body")
        hands, hand_mask = arrays.pop("hands", None), arrays.pop("hand_mask", None)
        return Sample(name=str(self.names[index]), label=int(self.labels[index]), body=body, hands=hands,
                      hand_mask=hand_mask, meta=self.meta[index], extras=arrays)

    def index_of(self, name: str) -> int:
        hits = np.flatnonzero(self.names == name)
        if hits.size == 0:
            raise KeyError(f"{self.path}: no sample named {name!r}")
        return int(hits[0])

    def split(self, protocol: str, which: str) -> np.ndarray:
        """Indices of the ``"train"`` or ``"test"`` samples of a protocol, or ``"all"`` of its samples
        (protocol ``"all"``: every sample of the store)."""
        if protocol == "all":
            return np.arange(len(self))
        if protocol not in self.protocols:
            raise KeyError(f"{self.path}: no split protocol {protocol!r}; it has {', '.join(self.protocols)}")
        codes = self._array(f"split_{protocol}")
        if which == "all":
            return np.flatnonzero(codes >= 0)
        if which not in _SPLIT_CODES:
            raise ValueError(f"split must be 'train', 'test' or 'all', got {which!r}")
        return np.flatnonzero(codes == _SPLIT_CODES[which])

    def verify(self) -> None:
        """Recompute every file's SHA-256 against the manifest; raises :class:`StoreError` on a mismatch."""
        for key, entry in self.manifest["files"].items():
            file = self.path / entry["file"]
            if _sha256(file) != entry["sha256"]:
                raise StoreError(file, f"checksum mismatch for field {key!r}: the file is corrupt")

    def summary(self) -> dict:
        """Counts per split and class and hand-detection statistics (for ``bharnet data info``)."""
        labels = self.labels
        out = dict(path=str(self.path), samples=len(self), frames=int(self.manifest["num_frames"]),
                   classes=self.num_classes, fields=list(self.fields), info=self.info, splits={})
        for p in self.protocols:
            out["splits"][p] = {w: int((self._array(f"split_{p}") == c).sum()) for w, c in _SPLIT_CODES.items()}
        out["per_class"] = np.bincount(labels, minlength=self.num_classes).tolist()
        if "hand_mask" in self.fields:
            mask = np.asarray(self._array("hand_mask"))
            offsets = self._array("offsets")
            never = np.zeros(2, np.int64)
            for i in range(len(self)):
                never += ~mask[offsets[i]:offsets[i + 1]].any(axis=0)
            out["hands"] = dict(detected_frames_left=float(mask[:, 0].mean()),
                                detected_frames_right=float(mask[:, 1].mean()),
                                samples_without_left=int(never[0]), samples_without_right=int(never[1]))
        return out
