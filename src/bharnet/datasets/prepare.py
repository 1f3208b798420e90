"""Raw dataset -> dataset store, for NTU RGB+D 60/120, NW-UCLA, PKU-MMD and a folder of the user's own videos.

Files are read and preprocessed in a process pool (every core by default) and written in a
deterministic order (sorted sample names). A malformed file is reported and skipped; the returned
:class:`PrepareReport` counts it, and its message names the file and the line.

One file for the four conversions (about 440 lines), because they share the pool, the writer and the report,
and each is the dataset's few lines of loader around them; the readers themselves are one file per dataset.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..data.sample import DataFormatError, Sample
from ..data.store import StoreWriter
from ..utils.cpu import default_workers
from ..utils.files import write_text_atomic
from . import ntu, ucla

__all__ = ["PrepareReport", "prepare_ntu", "prepare_ucla", "prepare_pku", "prepare_videos"]

log = logging.getLogger(__name__)


@dataclass
class PrepareReport:
    """What a conversion did: samples written, files skipped (with the reason) and excluded by list."""

    store: Path
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    excluded: int = 0
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed_what: str = "malformed file(s)"  # what ``failed`` holds, for the report's line

    def format(self) -> str:
        lines = [f"wrote {self.written} samples to {self.store}"]
        if self.excluded:
            lines.append(f"excluded {self.excluded} samples listed as having missing skeletons")
        for protocol, counts in self.splits.items():
            lines.append(f"  {protocol}: train {counts.get('train', 0)}, test {counts.get('test', 0)}")
        if self.failed:
            lines.append(f"skipped {len(self.failed)} {self.failed_what}:")
            lines.extend(f"  {msg}" for _, msg in self.failed[:20])
            if len(self.failed) > 20:
                lines.append(f"  ... and {len(self.failed) - 20} more")
        lines.extend(self.notes)
        return "\n".join(lines)


def _progress(iterable: Iterable, total: int, desc: str, enabled: bool) -> Iterator:
    if not enabled:
        yield from iterable
        return
    from tqdm import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit="file", dynamic_ncols=True)


def _run(paths: list[Path], load: Callable[[Path], Sample], workers: int) -> Iterator[Sample | tuple[str, str]]:
    """Map ``load`` over ``paths`` in order; errors come back as ``(path, message)``."""
    if workers <= 1 or len(paths) < 2:
        for p in paths:
            yield _guarded(load, p)
        return
    with get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
        yield from pool.imap(_GuardedLoad(load), paths, chunksize=max(1, min(64, len(paths) // (workers * 8))))


def _guarded(load: Callable[[Path], Sample], path: Path) -> Sample | tuple[str, str]:
    try:
        return load(path)
    except DataFormatError as e:
        return (str(path), str(e))


@dataclass
class _GuardedLoad:
    load: Callable[[Path], Sample]

    def __call__(self, path: Path) -> Sample | tuple[str, str]:
        return _guarded(self.load, path)


@dataclass
class _NTULoader:
    single_actor: str
    normalization: str
    exact_intervals: bool
    hands_dir: Path | None
    hand_options: dict

    def __call__(self, path: Path) -> Sample:
        if path.suffix == ".npz":  # a body file of `bharnet data extract-body`: hands in the same file
            from ..data.hands import attach_hands
            from ..data.pose import read_body_file

            sample = ntu.to_sample(read_body_file(path), single_actor=self.single_actor,
                                   normalization=self.normalization, exact_intervals=self.exact_intervals)
            return attach_hands(sample, self.hands_dir / f"{sample.name}.npz" if self.hands_dir else path,
                                **self.hand_options)
        sample = ntu.to_sample(ntu.read_skeleton(path), single_actor=self.single_actor,
                               normalization=self.normalization, exact_intervals=self.exact_intervals)
        if self.hands_dir is not None:
            from ..data.hands import attach_hands

            attach_hands(sample, self.hands_dir / f"{sample.name}.npz", **self.hand_options)
        return sample


def _write(out: Path, results: Iterator, total: int, protocols: tuple[str, ...], split_of: Callable,
           num_classes: int, info: dict, overwrite: bool, progress: bool, desc: str) -> PrepareReport:
    report = PrepareReport(store=Path(out))
    report.splits = {p: {"train": 0, "test": 0} for p in protocols}
    with StoreWriter(out, splits=protocols, num_classes=num_classes, info=info, overwrite=overwrite) as writer:
        for result in _progress(results, total, desc, progress):
            if isinstance(result, tuple):
                report.failed.append(result)
                log.warning("skipped %s", result[1])
                continue
            splits = {p: split_of(result.name, p) for p in protocols}
            for p, which in splits.items():
                if which is not None:
                    report.splits[p][which] += 1
            writer.add(result, splits)
        report.written = len(writer)
        if report.written == 0:
            writer.abort()
            raise DataFormatError(out, f"no readable sample among {total} file(s); nothing written")
    return report


def prepare_ntu(skeleton_dir: str | Path, out: str | Path, *, dataset: str = "ntu60",
                missing_list: str | Path | None = None, single_actor: str | None = None,
                normalization: str = "reference", exact_intervals: bool = False,
                hands_dir: str | Path | None = None, hand_options: dict | None = None, workers: int | None = None,
                limit: int | None = None, overwrite: bool = False, progress: bool = True,
                source: str = "kinect") -> PrepareReport:
    """Convert a directory of NTU ``.skeleton`` files (``source="kinect"``), or of the per-video body files of
    ``bharnet data extract-body`` (``source="pose"``: MediaPipe skeletons in the NTU layout, named after the
    videos, ``SsssCcccPpppRrrrAaaa.npz``; their hands are attached from the same files).

    Args:
        dataset: ``ntu60`` (setups 1-17, actions 1-60; X-Sub, X-View) or ``ntu120`` (all; X-Sub, X-Set).
        missing_list: the official list of samples with missing skeletons, excluded as the reference does.
        single_actor: ``"zeros"`` or ``"duplicate"``; default as the reference scripts: zeros for NTU60,
            duplicate for NTU120.
        hands_dir: per-video hand files from ``bharnet data extract-hands``; attached as ``hands`` /
            ``hand_mask`` (a sample whose file is missing is reported and skipped).
        limit: convert only the first ``limit`` files (for a quick try).
    """
    if dataset not in ntu.SPLITS:
        raise ValueError(f"dataset must be 'ntu60' or 'ntu120', got {dataset!r}")
    if source not in ("kinect", "pose"):
        raise ValueError(f"source must be 'kinect' or 'pose', got {source!r}")
    pattern = "*.skeleton" if source == "kinect" else "*.npz"
    skeleton_dir = Path(skeleton_dir)
    if not skeleton_dir.is_dir():
        raise FileNotFoundError(f"{skeleton_dir}: not a directory of {pattern[1:]} files")
    paths = sorted(skeleton_dir.glob(pattern))
    if dataset == "ntu60":
        paths = [p for p in paths if _ntu60(p.name)]
    if not paths:
        raise FileNotFoundError(f"{skeleton_dir}: no {dataset} {pattern[1:]} files found")
    report_notes = []
    excluded = 0
    if missing_list is not None:
        missing = ntu.read_name_list(missing_list)
        kept = [p for p in paths if p.name.split(".")[0] not in missing]
        excluded, paths = len(paths) - len(kept), kept
    else:
        report_notes.append("note: no missing-skeleton list given; files without a usable body are skipped as "
                            "malformed, but nearly-empty ones the official list would drop are kept")
    if limit is not None:
        paths = paths[:limit]
    single_actor = single_actor or ("zeros" if dataset == "ntu60" else "duplicate")
    loader = _NTULoader(single_actor, normalization, exact_intervals,
                        Path(hands_dir) if hands_dir is not None else None, dict(hand_options or {}))
    info = dict(dataset=dataset, source="ntu .skeleton" if source == "kinect" else "mediapipe pose (extract-body)",
                single_actor=single_actor, normalization=normalization, exact_intervals=exact_intervals,
                body_layout="ntu_rgbd", hands=hands_dir is not None or source == "pose",
                hand_options=dict(hand_options or {}))
    num_classes = 60 if dataset == "ntu60" else 120
    report = _write(Path(out), _run(paths, loader, workers or default_workers()), len(paths), ntu.SPLITS[dataset],
                    ntu.split_of, num_classes, info, overwrite, progress, f"prepare {dataset}")
    report.excluded = excluded
    report.notes.extend(report_notes)
    return report


def _ntu60(filename: str) -> bool:
    try:
        info = ntu.parse_name(filename)
    except ValueError:
        return True  # let the reader report the bad name rather than hide the file
    return info["setup"] <= 17 and info["action"] <= 60


@dataclass
class _UCLALoader:
    hands_dir: Path | None
    hand_options: dict

    def __call__(self, path: Path) -> Sample:
        sample = ucla.read_sequence(path)
        if self.hands_dir is not None:
            from ..data.hands import attach_hands

            # The json skeletons hold one entry per RGB frame of the clip [interpretation: the release
            # gives no separate frame index].
            sample.extras["video_frame"] = np.arange(sample.num_frames, dtype=np.int32)
            attach_hands(sample, self.hands_dir / f"{sample.name}.npz", **self.hand_options)
        return sample


@dataclass
class _VideoLoader:
    """A clip's extraction file (``bharnet data extract-body`` format) -> a sample with the user's label: the NTU
    body pipeline (denoising, actor order, centring) and the hands attached, as for ``prepare ntu --source pose``."""

    labels: dict[str, tuple[int, str | None]]  # sample name -> label, subject
    normalization: str
    hand_options: dict

    def __call__(self, path: Path) -> Sample:
        from ..data.hands import attach_hands
        from ..data.pose import read_body_file

        seq = read_body_file(path)
        joints, colors, video_frame, actors = ntu.assemble_actors(seq)
        if self.normalization == "pyskl":
            joints, keep, order = ntu.pyskl_normalize(joints)
            colors, video_frame = colors[keep][:, order], video_frame[keep]
        else:
            joints = ntu.center_on_spine(joints)
        label, subject = self.labels[path.stem]
        meta = dict(actors=actors, video_frames=seq.num_frames, **({"subject": subject} if subject else {}))
        sample = Sample(name=path.stem, label=label, body=joints, meta=meta,
                        extras=dict(body_color=colors, video_frame=video_frame.astype(np.int32)))
        return attach_hands(sample, path, **self.hand_options)


def _has_person(path: Path) -> bool:
    """Whether an extraction file exists and found somebody (its ``person`` array only is read)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return bool(z["person"].any())
    except (OSError, KeyError, ValueError, EOFError):
        return False


_VIDEOS_FAILED = "clip(s) (unreadable, or nobody in them)"


def _check_extraction_settings(work: Path, settings: dict) -> None:
    """Record the extraction settings in ``work/settings.json``, or check them against a previous run's."""
    path = work / "settings.json"
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DataFormatError(path, f"not a readable settings file ({e}); delete it or use another "
                                  "--work") from None
        changed = {k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v}
        if changed:
            what = ", ".join(f"{k} {a!r} then, {b!r} now" for k, (a, b) in changed.items())
            raise DataFormatError(work, f"its clips were extracted with other settings ({what}); rerun with the "
                                  "same ones, or give another --work (or delete this folder) to extract again")
        return
    write_text_atomic(path, json.dumps(settings, indent=1) + "\n")


def prepare_videos(root: str | Path | None, out: str | Path, *, list_file: str | Path | None = None,
                   work_dir: str | Path | None = None, persons: int = 1, mirrored: bool = False, hfov: float = 70.0,
                   test_fraction: float = 0.25, seed: int = 0, normalization: str = "reference",
                   hand_options: dict | None = None, shard: tuple[int, int] = (1, 1), workers: int | None = None,
                   extractor_options: dict | None = None, overwrite: bool = False, progress: bool = True,
                   fps: float | None = None) -> PrepareReport:
    """A folder of class folders (or a ``path,label[,subject]`` CSV) of videos -> a dataset store.

    The clips are listed and split first (:mod:`bharnet.datasets.videos`: every bad input fails before anything is
    extracted), then body + hands are extracted into ``work_dir`` (default ``<out>.extract``) by
    :func:`bharnet.video.extract.extract_dataset`: resumable (a rerun skips the clips already there) and
    shardable (``shard=(k, n)`` extracts the k-th of n parts and writes no store; a last run without a shard
    writes it). The store holds the NTU-25 body and hand tensors of the real pipeline, its class names
    (``info["class_names"]``) and one protocol: ``xsub`` (by subject) or ``random`` (stratified, seeded).
    Unreadable videos and videos with no person are reported, skipped and counted. ``fps``: extract every k-th
    frame (``k = round(video fps / fps)``), for videos recorded faster than the camera the model will run
    on, or to match ``predict --stream --fps``. The extraction settings (persons, mirrored, hfov, fps) are
    recorded in ``work_dir/settings.json``: a rerun with different ones is refused rather than mixing
    clips extracted two ways in one store.
    """
    from ..video.extract import extract_dataset
    from .videos import VideoList, list_videos, split_videos

    if normalization not in ("reference", "pyskl"):
        raise ValueError(f"normalization must be 'reference' or 'pyskl' for videos, got {normalization!r}")
    out = Path(out)
    if out.exists() and not overwrite and shard == (1, 1):
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    videos = list_videos(root, list_file)
    split_videos(videos, test_fraction=test_fraction, seed=seed)  # every class splittable, before extracting
    protocol = "xsub" if videos.has_subjects else "random"
    if fps is not None and not fps > 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".extract")
    _check_extraction_settings(work, dict(persons=persons, mirrored=mirrored, hfov=hfov, fps=fps))
    names = {str(e.path): e.name for e in videos.entries}
    extraction = extract_dataset([e.path for e in videos.entries], work, shard=shard, workers=workers or 1,
                                 detector_options=extractor_options, mirrored=mirrored, progress=progress,
                                 body=dict(max_persons=persons, hfov=hfov, fps=fps), names=names)
    notes = [f"extraction: {extraction.done} clip(s) extracted, {extraction.skipped} already in {work}"
             + (f", {len(extraction.no_person)} with nobody in them" if extraction.no_person else "")
             + (f", {len(extraction.failed)} unreadable" if extraction.failed else "")]
    failed = [(path, message) for path, message in extraction.failed]
    if shard != (1, 1):
        report = PrepareReport(store=out, failed=failed, failed_what=_VIDEOS_FAILED, notes=notes + [
            f"shard {shard[0]}/{shard[1]} extracted; run every shard, then once without --shard to write {out}"])
        return report
    # the split is drawn over the clips that gave a person, so that a clip lost to extraction does not
    # leave its class without a test (or training) sample
    usable = [e for e in videos.entries if _has_person(work / f"{e.name}.npz")]
    lost = len(videos.entries) - len(usable)
    reported = {path for path, _ in failed}
    for e in videos.entries:
        if e not in usable and str(e.path) not in reported:
            why = "no person found in any frame" if (work / f"{e.name}.npz").is_file() else "not extracted"
            failed.append((str(e.path), f"{e.path}: {why}; skipped"))
    kept = VideoList(usable, videos.class_names, videos.source, videos.skipped)
    try:
        split = split_videos(kept, test_fraction=test_fraction, seed=seed)
    except DataFormatError as e:
        raise DataFormatError(videos.source, f"after extraction ({lost} clip(s) unreadable or without a person; "
                              f"see {work / 'failures.log'}): {e.problem}") from None
    labels = {e.name: (e.label, e.subject) for e in usable}
    splits = {e.name: s for e, s in zip(usable, split)}
    paths = [work / f"{e.name}.npz" for e in usable]
    loader = _VideoLoader(labels, normalization, dict(hand_options or {}))
    info = dict(dataset="videos", source=str(videos.source), class_names=videos.class_names,
                normalization=normalization, body_layout="ntu_rgbd", hands=True, hand_options=dict(hand_options or {}),
                persons=persons, mirrored=mirrored, fps=fps, test_fraction=test_fraction, seed=seed,
                skipped_files=[m for _, m in videos.skipped])
    report = _write(out, _run(paths, loader, workers or default_workers()), len(paths), (protocol,),
                    lambda name, _protocol: splits[name], len(videos.class_names), info, overwrite, progress,
                    "prepare videos")
    report.failed = failed + report.failed
    report.failed_what = _VIDEOS_FAILED
    report.notes = notes + [f"skipped (not a video): {m}" for _, m in videos.skipped] + report.notes
    missing = [c for c, n in report.splits[protocol].items() if n == 0]
    if missing:
        report.notes.append(f"warning: no {' or '.join(missing)} sample was written")
    return report


def prepare_ucla(root: str | Path, out: str | Path, *, test_list: str | Path | None = None,
                 hands_dir: str | Path | None = None, hand_options: dict | None = None,
                 workers: int | None = None, overwrite: bool = False, progress: bool = True) -> PrepareReport:
    """Convert NW-UCLA (``root/all_sqe/*.json`` or ``root/*.json``); X-View split (views 1, 2 | 3).

    With ``test_list`` (``val_label.json``), the view-3 test split is checked against the official list and
    any difference is reported. ``hands_dir``: per-clip hand files ``<aAA_sSS_eEE_vVV>.npz`` from
    ``bharnet data extract-hands`` run on the clips' RGB videos (no colour coordinates in the json, so
    MediaPipe Pose guides the crops); frame t of the skeleton is frame t of the video.
    """
    root = Path(root)
    folder = root / "all_sqe" if (root / "all_sqe").is_dir() else root
    paths = sorted(folder.glob("*.json"))
    paths = [p for p in paths if p.name != "val_label.json"]
    if not paths:
        raise FileNotFoundError(f"{folder}: no NW-UCLA .json files found")
    info = dict(dataset="nw_ucla", source="CTR-GCN json", body_layout="nw_ucla", hands=hands_dir is not None,
                hand_options=dict(hand_options or {}))
    loader = _UCLALoader(Path(hands_dir) if hands_dir is not None else None, dict(hand_options or {}))
    report = _write(Path(out), _run(paths, loader, workers or 1), len(paths), ucla.SPLITS,
                    ucla.split_of, ucla.NUM_CLASSES, info, overwrite, progress, "prepare nw-ucla")
    if test_list is None and (root / "val_label.json").is_file():
        test_list = root / "val_label.json"
    if test_list is not None:
        from ..data.store import DatasetStore

        official = set(ucla.read_test_list(test_list))
        store = DatasetStore(out)
        ours = {str(store.names[i]) for i in store.split("xview", "test")}
        if ours == official:
            report.notes.append(f"X-View test split equals the official list ({len(official)} samples)")
        else:
            report.notes.append(f"X-View test split differs from the official list: {len(ours - official)} extra, "
                                f"{len(official - ours)} missing")
    return report


def prepare_pku(root: str | Path, out: str | Path, *, hands_dir: str | Path | None = None,
                hand_options: dict | None = None, workers: int | None = None, overwrite: bool = False,
                progress: bool = True) -> PrepareReport:
    """Convert PKU-MMD Part I: ``root/skeleton/*.txt``, ``root/label/*.txt`` and the split files
    ``cross-subject.txt`` / ``cross-view.txt`` (in ``root`` or ``root/split``).

    ``hands_dir``: per-video hand files (``<video id>.npz`` from ``bharnet data extract-hands --mirrored``
    on the RGB videos; PKU-MMD has no colour coordinates, so MediaPipe Pose guides the crops); each clip
    takes the frames ``start:end`` of its video.
    """
    from . import pku

    root = Path(root)
    split_lists = {}
    for protocol, filename in (("xsub", "cross-subject.txt"), ("xview", "cross-view.txt")):
        for candidate in (root / filename, root / "split" / filename):
            if candidate.is_file():
                split_lists[protocol] = pku.read_split(candidate)
                break
        else:
            raise FileNotFoundError(f"{root}: split file {filename} not found (looked in . and split/)")
    errors: list[tuple[str, str]] = []
    clips = list(pku.iter_clips(root / "skeleton", root / "label", errors=errors))
    if hands_dir is not None:
        from ..data.hands import attach_hands

        with_hands = []
        for clip in clips:
            clip.extras["video_frame"] = np.arange(clip.meta["start"], clip.meta["end"], dtype=np.int32)
            try:
                with_hands.append(attach_hands(clip, Path(hands_dir) / f"{clip.meta['video']}.npz",
                                               **(hand_options or {})))
            except DataFormatError as e:
                errors.append((clip.name, str(e)))
        clips = with_hands
    results: list = list(errors) + clips

    def split_of(name: str, protocol: str) -> str | None:
        return pku.split_of(name.rsplit("_", 1)[0], split_lists[protocol])

    info = dict(dataset="pku_mmd", source="PKU-MMD Part I", body_layout="ntu_rgbd", hands=hands_dir is not None,
                hand_options=dict(hand_options or {}))
    return _write(Path(out), iter(results), len(results), tuple(split_lists), split_of, pku.NUM_CLASSES, info,
                  overwrite, progress, "prepare pku-mmd")
