"""Extraction jobs: one video (:func:`extract_video`, also in parallel parts), and whole datasets
(:func:`extract_dataset`, ``bharnet data extract-hands`` / ``extract-body``).

Per video, :func:`extract_video` returns raw detections (pixels; MediaPipe's relative depth ``z`` scaled to
pixels by the crop side); :func:`bharnet.data.hands.attach_hands` then does the sample-level steps
(interpolation over missed frames, the detection mask, normalisation).

Dataset-scale extraction uses a process pool (each worker builds its MediaPipe graphs once and resets them per
video), deterministic ``--shard K/N`` splits, one ``<video>.npz`` written atomically per video (a rerun skips
what exists), a progress bar with ETA and a failure log.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.hands import save_hands
from ..data.sample import DataFormatError, NoPersonError, VideoError
from .hands import HandDetector, ntu_guide
from .reader import VIDEO_SUFFIXES, FrameReader, open_video
from .runtime import require_mediapipe
from .tracking import make_extractor

__all__ = ["extract_video", "extract_video_parallel", "extract_dataset", "ExtractReport", "parse_shard",
           "shard_items"]

log = logging.getLogger(__name__)


def extract_video(video_path: str | Path, detector: HandDetector | None = None, *,
                  skeleton_path: str | Path | None = None, extractor="tracking", mirrored: bool = False,
                  max_frames: int | None = None, raise_no_person: bool = True, body: bool = False,
                  max_persons: int = 1, hfov: float = 70.0, progress: bool = False, start: int = 0,
                  extractor_options: dict | None = None, fps: float | None = None) -> dict[str, np.ndarray]:
    """Detect the two hands in every frame of a video, and with ``body`` the NTU-25 body skeletons.

    ``extractor``: ``"tracking"`` (:class:`bharnet.video.TrackingExtractor`, the default: Pose + Hands tracked
    on one crop per person), ``"crops"`` (Hands in static mode on one crop per hand), or an extractor object
    (not closed here). A ``detector`` means the crop extractor with that :class:`HandDetector`. The guide is the
    skeleton file when given (NTU; Pose does not run), otherwise MediaPipe Pose (``mirrored`` and
    ``max_persons`` as in :class:`PoseGuide`). Frames are decoded in a second thread. ``start`` skips that
    many frames first (the result's frame 0 is video frame ``start``); ``max_frames`` stops after that many.
    ``fps``: extract every k-th frame only, ``k = round(source fps / fps)`` (at least 1; the source's rate
    when it is unknown), for a lower frame rate than the video's; the result's ``fps`` is the source's / k and
    ``frame_step`` is k.
    ``body=True`` (Pose guide only) also maps Pose to the Kinect layout (:mod:`bharnet.data.pose`; ``hfov``
    is the camera's assumed horizontal field of view) and adds ``body`` ``(F, M, 25, 3)`` metres,
    ``body_color`` ``(F, M, 25, 2)`` pixels and ``body_present`` ``(F, M)``.

    Returns:
        dict with ``landmarks`` ``(F, 2, 21, 3)`` pixels, ``detected`` ``(F, 2)``, ``score`` ``(F, 2)``,
        ``anchors`` ``(F, 2, 2, 2)``, ``person`` ``(F,)`` (a guide was available), ``image_size`` ``(2,)``
        (w, h), ``fps``, ``guide`` (``"kinect"``/``"pose"``) and ``extractor``; with two people tracked,
        ``hands_all`` ``(F, M, 2, 21, 3)`` / ``detected_all`` ``(F, M, 2)``, every person's hands.

    Raises:
        VideoError: the video cannot be opened or has no decodable frame.
        NoPersonError: nobody is found (empty skeleton file, or Pose found nobody in any frame); with
            ``raise_no_person=False`` the all-undetected result is returned instead.
    """
    import cv2

    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    video_path = Path(video_path)
    cap = open_video(video_path)
    source_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    step = max(1, round(source_fps / fps)) if fps and source_fps else 1
    if body and skeleton_path is not None:
        raise ValueError("body=True builds the body from MediaPipe Pose; a skeleton file already has one")
    guide = ntu_guide(skeleton_path) if skeleton_path is not None else None
    own = isinstance(extractor, str) or detector is not None
    if own:
        kind = extractor if isinstance(extractor, str) else "crops"
        extractor = make_extractor(kind, mirrored=mirrored, max_persons=max_persons, detector=detector,
                                   **(extractor_options or {}))
    kind = getattr(extractor, "kind", type(extractor).__name__)
    out_l, out_d, out_s, out_a, out_p, persons, all_l, all_d = [], [], [], [], [], [], [], []
    size = None
    bar = None
    if progress:
        from tqdm import tqdm

        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        bar = tqdm(total=min(total, max_frames * step) if total and max_frames else total, desc=video_path.name,
                   unit="frame", dynamic_ncols=True, leave=False)
    for _ in range(start):
        if not cap.grab():  # no decoding: skipping is cheap
            break
    reader = FrameReader(cap, max_frames=max_frames, name=video_path, step=step)
    try:
        for frame_index, rgb in reader:
            if bar is not None:
                bar.update(step)
            size = (rgb.shape[1], rgb.shape[0])
            g = None
            if guide is not None:
                if start + frame_index < len(guide.anchors):
                    g = (guide.anchors[start + frame_index], float(guide.scale[start + frame_index]))
                else:
                    g = (np.full((2, 2, 2), np.nan, np.float32), float("nan"))
            res = extractor(rgb, g)
            if guide is None:
                persons.append(list(res.persons))
            out_l.append(res.landmarks)
            out_d.append(res.detected)
            out_s.append(res.score)
            out_a.append(res.anchors)
            out_p.append(bool(np.isfinite(res.anchors).any()))
            all_l.append(res.hands_all)
            all_d.append(res.detected_all)
    except Exception as e:
        if reader.error is e and not isinstance(e, DataFormatError):  # the decoder's own error, named
            raise VideoError(video_path, f"decoding failed ({type(e).__name__}: {e})") from None
        raise
    finally:
        reader.close()
        if bar is not None:
            bar.close()
        if own:
            extractor.close()
    if not out_l:
        raise VideoError(video_path, "no frame could be decoded")
    person = np.asarray(out_p)
    if not person.any() and raise_no_person:
        raise NoPersonError(video_path, "no person found in any frame")
    result = dict(landmarks=np.stack(out_l), detected=np.stack(out_d), score=np.stack(out_s),
                  anchors=np.stack(out_a).astype(np.float32), person=person,
                  image_size=np.asarray(size, np.int32), fps=np.float32(source_fps / step),
                  frame_step=np.int32(step),
                  guide=np.asarray("kinect" if guide is not None else "pose"), extractor=np.asarray(kind))
    if max_persons > 1 and guide is None and all(a is not None and a.shape[0] == max_persons for a in all_l):
        result.update(hands_all=np.stack(all_l), detected_all=np.stack(all_d))
    if body:
        from ..data.pose import ntu_from_video

        joints, colors, present = ntu_from_video(persons, size, hands=result["landmarks"],
                                                 detected=result["detected"], mirrored=mirrored, hfov=hfov)
        result.update(body=joints, body_color=colors, body_present=present)
    return result


def _extract_chunk(job: tuple[str, int, int | None, dict]) -> dict[str, np.ndarray]:
    import cv2

    cv2.setNumThreads(1)
    video, start, count, options = job
    return extract_video(video, start=start, max_frames=count, raise_no_person=False, **options)


_PER_FRAME = ("landmarks", "detected", "score", "anchors", "person", "body", "body_color", "body_present",
              "hands_all", "detected_all")


def extract_video_parallel(video_path: str | Path, workers: int, *, min_chunk: int = 64, raise_no_person: bool = True,
                           **options) -> dict[str, np.ndarray]:
    """:func:`extract_video` of one video (MediaPipe Pose guide, default detector) split into ``workers``
    consecutive chunks extracted in parallel processes, then joined; for one person only (with two, the
    trackers of two chunks may order the people differently). Falls back to one process when the video is
    shorter than ``workers x min_chunk`` frames or its length is unknown. Pose tracking restarts at each
    chunk's first frame, as it would after a lost person."""
    import cv2

    video_path = Path(video_path)
    if options.get("max_persons", 1) != 1:
        raise ValueError("parallel extraction handles one person; use extract_video for two")
    if options.get("fps"):
        raise ValueError("parallel extraction reads every frame; use extract_video for a lower fps")
    cap = open_video(video_path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    workers = min(workers, total // min_chunk) if total > 0 else 1
    if workers <= 1:
        return extract_video(video_path, raise_no_person=raise_no_person, **options)
    bounds = np.linspace(0, total, workers + 1).round().astype(int)
    # The last chunk runs to the end: a container's frame count can be off.
    # one thread per process: the processes already fill the cores
    options = dict(options, extractor_options=dict(options.get("extractor_options") or {}, threaded=False)) \
        if options.get("extractor", "tracking") == "tracking" else options
    jobs = [(str(video_path), int(a), int(b - a) if k < workers - 1 else None, dict(options, progress=False))
            for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    try:
        # an executor, not a Pool: workers that cannot start (e.g. a __main__ read from stdin) raise, not hang
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(_extract_chunk, jobs))
    except BrokenProcessPool:
        log.warning("%s: parallel extraction could not start its processes; extracting in this one", video_path)
        return extract_video_parallel(video_path, 1, raise_no_person=raise_no_person, **options)
    result = dict(parts[0])
    for key in _PER_FRAME:
        if key in result:
            result[key] = np.concatenate([p[key] for p in parts])
    if not result["person"].any() and raise_no_person:
        raise NoPersonError(video_path, "no person found in any frame")
    return result


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1-based K) -> (K, N)."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like K/N (e.g. 3/16), got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be in 1..N")
    return k, n


def shard_items(items: list, shard: tuple[int, int]) -> list:
    """Every N-th item starting at K-1 of a sorted list: deterministic, disjoint, balanced, covers all."""
    k, n = shard
    return sorted(items)[k - 1::n]


def _video_name(path: Path) -> str:
    name = path.stem
    return name[:-4] if name.endswith("_rgb") else name


@dataclass
class ExtractReport:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    no_person: list[str] = field(default_factory=list)
    frames: int = 0
    detected: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def format(self) -> str:
        lines = [f"extracted {self.done} video(s), skipped {self.skipped} already done, "
                 f"failed {len(self.failed)}, no person in {len(self.no_person)}"]
        if self.frames:
            rate = self.detected / self.frames
            lines.append(f"hands detected in {rate[0]:.1%} (left) / {rate[1]:.1%} (right) of {self.frames} frames")
            lines.append(f"{self.frames / max(self.seconds, 1e-9):.1f} frames/s wall, "
                         f"{self.frames / max(self.cpu_seconds, 1e-9):.1f} frames/s per worker")
        for _, msg in self.failed[:20]:
            lines.append(f"  failed: {msg}")
        return "\n".join(lines)


_WORKER: dict = {}


def _init_worker(options: dict) -> None:
    import cv2

    cv2.setNumThreads(1)
    options = dict(options)
    kind = options.pop("extractor", "tracking")
    pooled = options.pop("pooled", False)
    if kind == "tracking" and pooled:
        options.setdefault("threaded", False)  # one thread per worker: a pool of workers already fills the cores
    _WORKER["options"] = (kind, options)
    _WORKER["extractors"] = {}


def _worker_extractor(mirrored: bool, max_persons: int):
    """The worker's extractor for these settings, reset for a new video (graphs are built once per worker)."""
    key = (mirrored, max_persons)
    if key not in _WORKER["extractors"]:
        kind, options = _WORKER["options"]
        _WORKER["extractors"][key] = make_extractor(kind, mirrored=mirrored, max_persons=max_persons, **options)
    extractor = _WORKER["extractors"][key]
    extractor.reset()
    return extractor


def _extract_one(job: tuple[str, str | None, str, bool, dict]) -> tuple[str, str, str, dict]:
    video, skeleton, out, mirrored, body = job
    start = time.process_time()
    try:
        extractor = _worker_extractor(mirrored, int(body.get("max_persons", 1)))
        result = extract_video(video, skeleton_path=skeleton, mirrored=mirrored, extractor=extractor,
                               raise_no_person=False, **body)
    except DataFormatError as e:
        return "failed", video, str(e), {}
    except Exception as e:  # a decoder or MediaPipe crash on one video must not stop the run
        return "failed", video, f"{video}: {type(e).__name__}: {e}", {}
    save_hands(out, result)  # also when nobody is found, so that a rerun does not try again
    if not result["person"].any():
        return "no_person", video, f"{video}: no person found in any frame", {}
    stats = dict(frames=int(result["landmarks"].shape[0]), detected=result["detected"].sum(axis=0).tolist(),
                 cpu=time.process_time() - start)
    return "done", video, "", stats


def extract_dataset(videos: Iterable[str | Path], out_dir: str | Path, *, skeleton_dir: str | Path | None = None,
                    shard: tuple[int, int] = (1, 1), workers: int = 1, detector_options: dict | None = None,
                    mirrored: bool = False, progress: bool = True, limit: int | None = None,
                    body: dict | None = None, names: dict[str, str] | None = None) -> ExtractReport:
    """Extract the hands of many videos into ``out_dir/<name>.npz`` (see the module docstring).

    ``videos`` is a directory (all video files in it) or a list of files. With ``skeleton_dir``, each
    video ``<name>_rgb.avi`` is guided by ``<name>.skeleton``; otherwise by MediaPipe Pose (``mirrored``: the
    videos are mirror images, see :class:`PoseGuide`). ``body``: also the NTU-25 body skeletons from Pose, with
    these :func:`extract_video` options (``max_persons``, ``hfov``); ``bharnet data extract-body``. ``names``:
    the output name of a video (by its path as given; default its file name without ``_rgb``). Failures are
    appended to ``out_dir/failures.log`` and the run goes on.
    """
    if body is not None and skeleton_dir is not None:
        raise ValueError("body skeletons come from MediaPipe Pose; do not pass skeleton files as well")
    body_options = dict(body, body=True) if body is not None else {}
    require_mediapipe()
    out_dir = Path(out_dir)
    if isinstance(videos, (str, Path)) and Path(videos).is_dir():
        paths = [p for p in Path(videos).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES]
    else:
        paths = [Path(p) for p in videos]
    paths = shard_items(paths, shard)
    if limit is not None:
        paths = paths[:limit]
    report = ExtractReport()
    jobs = []
    for p in paths:
        target = out_dir / f"{(names or {}).get(str(p)) or _video_name(p)}.npz"
        if target.is_file():
            report.skipped += 1
            continue
        skeleton = None
        if skeleton_dir is not None:
            skeleton = Path(skeleton_dir) / f"{_video_name(p)}.skeleton"
            if not skeleton.is_file():
                report.failed.append((str(p), f"{p}: no skeleton file {skeleton.name} in {skeleton_dir}"))
                continue
        jobs.append((str(p), str(skeleton) if skeleton else None, str(target), mirrored, body_options))
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(detector_options or {}, pooled=workers > 1)
    t0 = time.perf_counter()
    if workers <= 1:
        _init_worker(options)
        results = map(_extract_one, jobs)
    else:
        from multiprocessing import get_context

        pool = get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(options,))
        results = pool.imap_unordered(_extract_one, jobs)
    try:
        if progress:
            from tqdm import tqdm

            what = "body + hands" if body is not None else "hands"
            results = tqdm(results, total=len(jobs), desc=f"{what} {shard[0]}/{shard[1]}", unit="video",
                           dynamic_ncols=True)
        with open(out_dir / "failures.log", "a") as log_file:
            for status, video, message, stats in results:
                if status == "done":
                    report.done += 1
                    report.frames += stats["frames"]
                    report.detected += np.asarray(stats["detected"])
                    report.cpu_seconds += stats["cpu"]
                elif status == "no_person":
                    report.no_person.append(video)
                    log_file.write(f"no person\t{message}\n")
                else:
                    report.failed.append((video, message))
                    log_file.write(f"failed\t{message}\n")
                log_file.flush()
    except BaseException:
        if workers > 1:
            pool.terminate()  # Ctrl-C: stop now; finished videos are on disk and a rerun skips them
        raise
    else:
        if workers > 1:
            pool.close()
            pool.join()
    report.seconds = time.perf_counter() - t0
    for _, message in report.failed:  # for library callers; the commands print the report instead
        log.info("%s", message)
    return report
