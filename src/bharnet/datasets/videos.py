"""A user's own videos as a dataset: which clips, which classes, which split.

Two ways to say what the videos are:

* a folder with one sub-folder per class (``videos/wave/*.mp4``, ``videos/ok_sign/*.mp4``): the class names
  are the sub-folders' names, in sorted order (so label ``k`` is the ``k``-th name);
* a CSV file with a header ``path,label[,subject]``: paths relative to the CSV's folder (or absolute); the
  class names sorted, as for folders, so that the same clips give the same labels either way.

Splits (:func:`split_videos`): by the ``subject`` column when the list has one (cross-subject: a seeded choice
of whole subjects is the test set), else a seeded split stratified by class. Every check that can fail before
anything is extracted fails here, with a message naming the folder, file or class: an empty class folder, a
class with fewer clips than a split needs, a listed path that does not exist, a CSV without its columns. Files
in the class folders that are not videos (by suffix) are skipped and reported, not errors.

This module only lists and splits; the extraction is :func:`bharnet.video.extract.extract_dataset`.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.sample import DataFormatError
from ..video.reader import VIDEO_SUFFIXES

__all__ = ["VideoEntry", "VideoList", "list_videos", "split_videos", "MIN_CLIPS", "VIDEO_SUFFIXES"]

MIN_CLIPS = 2  # a class needs a training and a test clip


@dataclass(frozen=True)
class VideoEntry:
    """One clip: its file, its class (index into :attr:`VideoList.class_names`), its subject (or None) and a
    sample name unique in the list (``<class>__<stem>``, made filesystem-safe)."""

    path: Path
    label: int
    subject: str | None
    name: str


@dataclass
class VideoList:
    entries: list[VideoEntry]
    class_names: list[str]
    source: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    @property
    def has_subjects(self) -> bool:
        return bool(self.entries) and all(e.subject is not None for e in self.entries)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.class_names, 0)
        for e in self.entries:
            out[self.class_names[e.label]] += 1
        return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "clip"


def _named(rows: list[tuple[Path, str, str | None]], source: Path, skipped: list) -> VideoList:
    class_names = sorted({label for _, label, _ in rows})
    index = {c: k for k, c in enumerate(class_names)}
    entries, seen = [], {}
    for path, label, subject in sorted(rows, key=lambda r: (index[r[1]], str(r[0]))):
        base = f"{_safe(label)}__{_safe(path.stem)}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        entries.append(VideoEntry(path, index[label], subject, base if n == 0 else f"{base}__{n + 1}"))
    return VideoList(entries, class_names, source, skipped)


def list_videos(root: str | Path | None = None, list_file: str | Path | None = None) -> VideoList:
    """The clips of a class-folder tree (``root``) or of a CSV (``list_file``; see the module docstring).

    Raises:
        DataFormatError: naming the folder or file: no such folder, no class folder, an empty class folder,
            an unreadable or malformed CSV, listed paths that do not exist.
    """
    if (root is None) == (list_file is None):
        raise ValueError("give a folder of class folders or a --list CSV (one of the two)")
    if list_file is not None:
        return _from_csv(Path(list_file))
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(root, "no such folder (expected one sub-folder of videos per class)")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataFormatError(root, "no class folders in it (expected e.g. wave/*.mp4, ok_sign/*.mp4)")
    rows, skipped, empty = [], [], []
    for folder in classes:
        found = 0
        for f in sorted(folder.iterdir()):
            if f.name.startswith(".") or f.is_dir():
                continue
            if f.suffix.lower() not in VIDEO_SUFFIXES:
                skipped.append((str(f), f"{f}: not a video file (suffix {f.suffix or 'none'}); skipped"))
                continue
            rows.append((f, folder.name, None))
            found += 1
        if not found:
            empty.append(folder.name)
    if empty:
        raise DataFormatError(root, f"class folder(s) with no video: {', '.join(empty)} (0 clips; remove them or "
                              f"add videos with one of the suffixes {' '.join(VIDEO_SUFFIXES)})")
    return _named(rows, root, skipped)


def _from_csv(path: Path) -> VideoList:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise DataFormatError(path, f"cannot read the list: {e.strerror or e}") from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "path" not in columns or "label" not in columns:
        raise DataFormatError(path, f"the first line must name the columns path,label[,subject]; it has "
                              f"{','.join(columns) or 'nothing'}")
    rows, missing, bad = [], [], []
    for line, record in enumerate(reader, start=2):
        record = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        if not record.get("path") or not record.get("label"):
            bad.append(line)
            continue
        video = Path(record["path"])
        video = video if video.is_absolute() else path.parent / video
        if not video.is_file():
            missing.append(f"line {line}: {record['path']}")
            continue
        subject = record.get("subject") or None
        rows.append((video, record["label"], subject))
    if bad:
        raise DataFormatError(path, f"line(s) {', '.join(map(str, bad[:10]))} lack a path or a label")
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataFormatError(path, f"{len(missing)} listed video(s) do not exist (paths are relative to the "
                              f"list's folder): {'; '.join(missing[:5])}{more}")
    if not rows:
        raise DataFormatError(path, "the list names no video")
    subjects = {r[2] is not None for r in rows}
    if len(subjects) > 1:
        raise DataFormatError(path, "the subject column is filled on some lines only: fill it on every line "
                              "(cross-subject split) or on none (random stratified split)")
    return _named(rows, path, [])


def split_videos(videos: VideoList, test_fraction: float = 0.25, seed: int = 0,
                 by_subject: bool | None = None) -> list[str]:
    """``"train"`` / ``"test"`` per entry of ``videos``.

    ``by_subject`` (default: when every entry has a subject): a seeded choice of ``ceil(test_fraction x
    subjects)`` whole subjects (at least one, and at least one left for training) is the test set. Otherwise,
    per class, ``round(test_fraction x clips)`` seeded clips (at least one each way) are the test set.

    Raises:
        DataFormatError: a class with fewer than :data:`MIN_CLIPS` clips (named, with its count); too few
            subjects; a class whose clips all fall on one side of a subject split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    counts = videos.counts()
    small = [f"{c} ({n} clip{'s' if n != 1 else ''})" for c, n in counts.items() if n < MIN_CLIPS]
    if small:
        raise DataFormatError(videos.source, f"class(es) with fewer than {MIN_CLIPS} clips, too few for a training "
                              f"and a test clip: {', '.join(small)}")
    rng = np.random.default_rng(seed)
    by_subject = videos.has_subjects if by_subject is None else by_subject
    if by_subject:
        if not videos.has_subjects:
            raise DataFormatError(videos.source, "a subject split needs a subject for every clip (a --list CSV "
                                  "with a subject column)")
        subjects = sorted({e.subject for e in videos.entries})
        if len(subjects) < 2:
            raise DataFormatError(videos.source, f"a cross-subject split needs at least 2 subjects, the list has "
                                  f"{len(subjects)} ({subjects[0]})")
        n_test = min(max(1, math.ceil(test_fraction * len(subjects))), len(subjects) - 1)
        test = {subjects[i] for i in rng.permutation(len(subjects))[:n_test]}
        split = ["test" if e.subject in test else "train" for e in videos.entries]
        for k, name in enumerate(videos.class_names):
            sides = {s for s, e in zip(split, videos.entries) if e.label == k}
            if sides != {"train", "test"}:
                only = next(iter(sides))
                raise DataFormatError(videos.source, f"class {name}: every clip is in the {only} split under the "
                                      f"cross-subject split (test subjects {', '.join(sorted(test))}); record it "
                                      "with more subjects, or leave the subject column out for a random split")
        return split
    split = ["train"] * len(videos.entries)
    for k in range(len(videos.class_names)):
        members = [i for i, e in enumerate(videos.entries) if e.label == k]
        n_test = min(max(1, round(test_fraction * len(members))), len(members) - 1)
        for i in rng.permutation(members)[:n_test]:
            split[int(i)] = "test"
    return split
