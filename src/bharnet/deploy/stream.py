"""Labels while a video plays: a live camera, or a file delivered as a camera would deliver it, with decoding,
extraction and the model overlapped and frames dropped rather than the stream falling behind."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .inputs import window_inputs
from .predict import Predictor

__all__ = ["StreamStep", "stream"]


@dataclass
class StreamStep:
    """One label of a stream: at ``frame`` (the window's last source frame), with the time spent (seconds).

    ``extract_per_frame``: mean extraction time per extracted frame over the window; ``model``: the model call;
    ``latency``: from the newest frame's arrival to its label; ``dropped``: source frames dropped so far
    because extraction fell behind a live source; ``every``: one source frame in ``every`` is extracted
    (``--fps``); ``skipped``: labels skipped so far because the model was still busy with the previous one."""

    frame: int
    top: list[tuple[str, float]]
    extract_per_frame: float
    model: float
    latency: float
    fps: float = 30.0
    dropped: int = 0
    every: int = 1
    skipped: int = 0

    @property
    def realtime_factor(self) -> float:
        """Seconds of video per second of work: > 1 keeps up with the source."""
        per_source_frame = self.extract_per_frame / self.every
        return (1 / self.fps) / per_source_frame if per_source_frame > 0 else float("inf")


def stream(source: str | int, predictor: Predictor, *, window: int = 64, stride: int = 16, mirrored: bool = False,
           max_persons: int = 1, top_k: int = 3, max_frames: int | None = None, detector=None, hfov: float = 70.0,
           extractor: str = "tracking", fps: float | None = None, realtime: bool | None = None,
           queue_size: int = 4):
    """Label a live camera or a video file as it plays. Yields a :class:`StreamStep` per label.

    Frames are decoded in their own thread; each (or, with ``fps``, every k-th: ``k = round(source fps /
    fps)``) is extracted; every ``stride`` source frames the last ``window`` source frames' skeletons go to the
    model in another thread, while extraction goes on (a label is skipped, and counted, when the model is
    still busy). The window is resized to the model's length as the test feeder does, so ``--fps`` changes
    the sampling, not the time span.

    ``realtime``: frames arrive at the source's rate and, when extraction falls behind, the oldest waiting
    ones are dropped (``queue_size`` frames are buffered) rather than the stream falling behind; the default
    for a camera. For a file, ``realtime=True`` plays it as a camera would deliver it (how to measure whether
    a machine keeps up); otherwise every frame is processed, as fast as the machine goes.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from ..data.pose import ntu_from_video
    from ..video import FrameReader, make_extractor
    from ..video.reader import open_video

    camera = isinstance(source, int) or str(source).isdigit()
    realtime = camera if realtime is None else realtime
    cap = open_video(source)
    src_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
    every = max(1, round(src_fps / fps)) if fps else 1
    slots = max(1, -(-window // every))  # extracted frames per window
    # the graphs are built and run once before the first frame is taken: a live source would otherwise
    # drop the frames that arrive while the models load
    ext = make_extractor(extractor, mirrored=mirrored, max_persons=max_persons, detector=detector)
    try:
        ext.warm_up((int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 640), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 480)))
    except BaseException:
        ext.close()
        cap.release()
        raise
    reader = FrameReader(cap, maxsize=queue_size, drop=realtime, name=source, step=every,
                         max_frames=-(-max_frames // every) if max_frames else None,  # source frames -> read
                         realtime_fps=src_fps if realtime and not camera else 0.0)
    persons, lms, det, cost = (deque(maxlen=slots) for _ in range(4))
    pool = ThreadPoolExecutor(1, thread_name_prefix="bharnet-model")
    pending = None
    skipped = 0
    size = None
    last_label = -stride

    def run_model(inputs: dict, arrived: float, frame: int, per_frame: float) -> StreamStep:
        t2 = time.perf_counter()
        probs, _ = predictor({k: v[None] for k, v in inputs.items()})
        t3 = time.perf_counter()
        order = np.argsort(-probs[0])[:top_k]
        top = [(predictor.spec.class_names[k], float(probs[0, k])) for k in order]
        return StreamStep(frame, top, per_frame, t3 - t2, t3 - arrived, src_fps, reader.dropped, every, skipped)

    try:
        for index, rgb in reader:
            arrived = time.perf_counter()
            size = (rgb.shape[1], rgb.shape[0])
            res = ext(rgb)
            persons.append(list(res.persons))
            lms.append(res.landmarks)
            det.append(res.detected)
            cost.append(time.perf_counter() - arrived)
            if pending is not None and pending.done():
                yield pending.result()
                pending = None
            if len(persons) < slots or index - last_label < stride:
                continue
            last_label = index
            if pending is not None:  # the model is still on the previous window
                if realtime:  # live: skip this label rather than fall behind
                    skipped += 1
                    continue
                yield pending.result()  # a file: every label, in order
                pending = None
            joints, _, present = ntu_from_video(list(persons), size, hands=np.stack(lms), detected=np.stack(det),
                                                mirrored=mirrored, hfov=hfov)
            if not present.any():
                yield StreamStep(index, [], float(np.mean(cost)), 0.0, time.perf_counter() - arrived, src_fps,
                                 reader.dropped, every, skipped)
                continue
            skel = {"body": joints, "landmarks": np.stack(lms), "detected": np.stack(det),
                    "image_size": np.asarray(size)}
            inputs = window_inputs(skel, 0, len(persons), predictor.spec)
            pending = pool.submit(run_model, inputs, arrived, index, float(np.mean(cost)))
        if pending is not None:
            yield pending.result()
    finally:
        reader.close()
        pool.shutdown(wait=True)
        ext.close()
