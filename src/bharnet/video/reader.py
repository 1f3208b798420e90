"""Reading videos: a file opened with a clear error, frames picked by index, and frames decoded in their own
thread (:class:`FrameReader`) so that decoding overlaps extraction."""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np

from ..data.sample import VideoError

__all__ = ["FrameReader", "open_video", "read_frames", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


def open_video(source: str | Path | int):
    """An opened ``cv2.VideoCapture`` of a video file or a camera (an index: ``0`` or ``"0"``), or a
    :class:`VideoError` naming it. The one place a video is opened (extraction, predict, stream, render)."""
    import cv2

    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            raise VideoError(f"camera {source}", "cannot be opened")
        return cap
    path = Path(source)
    if not path.is_file():
        raise VideoError(path, "no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(path, "cannot be opened as a video (unknown container or codec)")
    return cap


def read_frames(path: str | Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The RGB frames of a video at ``indices`` (a dict; frames past the end are absent). Sequential decoding:
    seeking is unreliable in AVI files."""
    import cv2

    cap = open_video(Path(path))
    wanted, frames, index = set(indices), {}, 0
    try:
        while wanted and index <= max(wanted):
            ok, bgr = cap.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
    return frames

_END = object()


class FrameReader:
    """Iterate ``(index, rgb)`` over a video file or a camera, decoded by a background thread.

    Args:
        cap: an opened ``cv2.VideoCapture``.
        maxsize: frames buffered at most.
        drop: when the buffer is full, drop the oldest waiting frame instead of waiting (a live source: the
            consumer then works on recent frames rather than falling behind). :attr:`dropped` counts them.
        realtime_fps: pace a *file* as a live source would deliver it (frames at this rate; 0: as fast as
            decoding goes). With ``drop``, this is how a stream from a file measures whether it keeps up.
        max_frames: stop after this many frames (of those read: with ``step``, source frames / step).
        step: read every ``step``-th frame only (the others are grabbed, not decoded: a lower frame rate
            costs less decoding too).

    ``index`` is the frame's position in the source, so dropped and stepped-over frames leave gaps. The frames
    are RGB uint8 ``(H, W, 3)``. Decoding errors end the iteration; :attr:`error` keeps the exception, if any.
    """

    def __init__(self, cap, *, maxsize: int = 8, drop: bool = False, realtime_fps: float = 0.0,
                 max_frames: int | None = None, name: str | Path = "video", step: int = 1):
        if step < 1:
            raise ValueError(f"step must be at least 1, got {step}")
        self.cap, self.drop, self.realtime_fps, self.max_frames = cap, drop, realtime_fps, max_frames
        self.step = step
        self.name = str(name)
        self.dropped = 0
        self.decoded = 0
        self.decode_seconds = 0.0
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bharnet-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> None:
        dropping = self.drop and item is not _END
        while not self._stop.is_set():
            try:
                if dropping:
                    self._queue.put_nowait(item)
                else:
                    self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if dropping:  # a live source does not wait: the oldest waiting frame goes
                    try:
                        self._queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass

    def _run(self) -> None:
        import cv2

        start = time.perf_counter()
        index = read = 0
        try:
            while not self._stop.is_set() and (self.max_frames is None or read < self.max_frames):
                if self.realtime_fps > 0:
                    wait = start + index / self.realtime_fps - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                t = time.perf_counter()
                if index % self.step:
                    ok = self.cap.grab()
                    self.decode_seconds += time.perf_counter() - t
                    if not ok:
                        break
                    index += 1
                    continue
                ok, bgr = self.cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self.decode_seconds += time.perf_counter() - t
                self.decoded += 1
                self._put((index, rgb))
                index += 1
                read += 1
        except BaseException as e:  # noqa: BLE001 - handed to the consumer's thread
            self.error = e
        finally:
            self._put(_END)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.cap.release()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
