"""BHaRNet-M's training images from the samples' RGB videos: ``bharnet data extract-roi STORE --videos DIR``.

For every sample it reads the 5 frames MMNet picks from the sample's own frames (their video frame numbers are
the store's ``video_frame`` field) and crops the body-part patches at the store's ``body_color`` coordinates
(:func:`bharnet.data.roi.st_roi_image`), into the store's ``roi/`` folder (:mod:`bharnet.data.roi`). A
sample whose video is missing or unreadable is reported and left black (``done`` stays False, so a rerun
retries it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.roi import ROI_SIZE as SIZE
from ..data.roi import names_digest, roi_frame_indices, st_roi_image
from ..data.sample import DataFormatError, VideoError
from ..data.store import DatasetStore
from ..utils.files import atomic_path
from . import reader
from .reader import VIDEO_SUFFIXES

__all__ = ["extract_roi", "RoiReport", "find_video", "read_frames"]


def find_video(videos: Path, name: str) -> Path | None:
    """``<name>_rgb.avi`` (NTU's naming) or ``<name>.<any video suffix>`` in ``videos``."""
    for candidate in [videos / f"{name}_rgb.avi", *(videos / f"{name}{s}" for s in VIDEO_SUFFIXES)]:
        if candidate.is_file():
            return candidate
    return None


def read_frames(path: Path, wanted: list[int]) -> list[np.ndarray]:
    """The RGB frames at the given indices, in that order; a :class:`VideoError` names the first one missing."""
    got = reader.read_frames(path, wanted)
    missing = [t for t in wanted if t not in got]
    if missing:
        raise VideoError(path, f"has fewer than {missing[0] + 1} decodable frames; frame {missing[0]} is needed")
    return [got[t] for t in wanted]


@dataclass
class RoiReport:
    folder: Path
    written: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"wrote {self.written} ST-ROI image(s) to {self.folder}, {self.skipped} already done, "
                 f"{len(self.failed)} failed"]
        lines += [f"  {m}" for m in self.failed[:20]]
        return "\n".join(lines)


def extract_roi(store: str | Path, videos: str | Path, *, progress: bool = True, limit: int | None = None
                ) -> RoiReport:
    """Write the ST-ROI image of every sample of ``store`` (see the module docstring)."""

    data = DatasetStore(store)
    for key in ("body_color", "video_frame"):
        if key not in data.fields:
            raise DataFormatError(data.path, f"the store has no {key!r} field (prepared from .skeleton files or "
                                  "extract-body files, it would)")
    videos = Path(videos)
    if not videos.is_dir():
        raise FileNotFoundError(f"{videos}: not a folder of videos")
    folder = Path(data.path) / "roi"
    folder.mkdir(exist_ok=True)
    n = len(data)
    images_path, done_path = folder / "images.npy", folder / "done.npy"
    if images_path.is_file():
        images = np.load(images_path, mmap_mode="r+")
        if images.shape != (n, SIZE, SIZE, 3):
            raise DataFormatError(images_path, f"holds {images.shape}, the store needs {(n, SIZE, SIZE, 3)}; "
                                  "delete the roi folder to start again")
    else:
        images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=(n, SIZE, SIZE, 3))
    done = np.load(done_path) if done_path.is_file() else np.zeros(n, bool)
    report = RoiReport(folder, skipped=int(done.sum()))
    todo = np.flatnonzero(~done)[:limit]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="ST-ROI images", unit="sample", dynamic_ncols=True)

    def save_done() -> None:
        images.flush()
        with atomic_path(done_path) as tmp, open(tmp, "wb") as f:
            np.save(f, done)

    try:
        for count, i in enumerate(todo):
            name = str(data.names[i])
            video = find_video(videos, name)
            try:
                if video is None:
                    raise VideoError(videos / f"{name}_rgb.avi", "no video for this sample")
                colors = data.frames("body_color", int(i))
                frame_of = data.frames("video_frame", int(i)).astype(np.int64)
                picks = roi_frame_indices(len(frame_of))
                frames = read_frames(video, [int(frame_of[p]) for p in picks])
                images[i] = st_roi_image(frames, colors[picks], normalize=False)
                done[i] = True
                report.written += 1
            except DataFormatError as e:
                report.failed.append(str(e))
            if bar is not None:
                bar.update()
            if count % 64 == 63:
                save_done()  # an interrupted run loses at most 64 images
    finally:
        save_done()
        if bar is not None:
            bar.close()
    if done.all():
        (folder / "info.json").write_text(json.dumps({"samples": n, "names": names_digest(data.names), "size": SIZE}))
    return report
