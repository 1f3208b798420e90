"""Pictures of a prediction: skeleton overlays with the window's label, as a contact sheet or a video."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..graphs import get_layout

__all__ = ["draw_frame", "frame_labels", "contact_sheet", "annotate_video"]

_BODY = (60, 200, 255)  # BGR
_PERSON2 = (255, 160, 60)
_HANDS = ((80, 255, 80), (80, 80, 255))  # left, right


def _line(img, a, b, color, width):
    import cv2

    if np.all(a > 0) and np.all(b > 0):
        cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), color, width, cv2.LINE_AA)


def _caption(img: np.ndarray, label: str | None) -> np.ndarray:
    """The label in a black band above the image (it may be narrower than the text)."""
    import cv2

    if not label:
        return img
    scale = 0.45
    lines, line = [], ""
    for word in label.split():  # wrap to the tile width
        trial = f"{line} {word}".strip()
        if cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > img.shape[1] - 12 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    band = np.zeros((18 * len(lines) + 8, img.shape[1], 3), np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(band, text, (6, 18 * (k + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([band, img], axis=0)


def draw_frame(bgr: np.ndarray, skeletons: dict[str, np.ndarray], t: int, label: str | None = None) -> np.ndarray:
    """Overlay frame ``t``'s body (every person) and hands and ``label`` on a BGR frame (a copy)."""
    import cv2

    img = bgr.copy()
    width = max(1, img.shape[0] // 360)
    body, hand = get_layout("ntu_rgbd"), get_layout("mediapipe_hand")
    for m in range(skeletons["body_color"].shape[1]):
        if not skeletons["body_present"][t, m]:
            continue
        pts = skeletons["body_color"][t, m]
        for child, parent in body.inward:
            _line(img, pts[child], pts[parent], _BODY if m == 0 else _PERSON2, width)
    for slot in range(2):
        if not skeletons["detected"][t, slot]:
            continue
        pts = skeletons["landmarks"][t, slot, :, :2]
        for child, parent in hand.inward:
            if child < 21 and parent < 21:
                _line(img, pts[child], pts[parent], _HANDS[slot], max(1, width - 1))
    if label:
        scale = img.shape[0] / 720
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        cv2.rectangle(img, (0, 0), (w + int(20 * scale), h + int(24 * scale)), (0, 0, 0), -1)
        cv2.putText(img, label, (int(10 * scale), h + int(10 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 2, cv2.LINE_AA)
    return img


def frame_labels(windows, frames: int, min_confidence: float = 0.0) -> list[str | None]:
    """The label shown at each of ``frames`` frames: the latest window that covers it, "no action" (with
    the best class beside it) where that window's best probability is under ``min_confidence``."""
    from .predict import NO_ACTION, is_no_action

    labels: list[str | None] = [None] * frames
    for w in windows:
        if not w.top:
            continue
        name, p = w.top[0]
        text = f"{NO_ACTION} (best: {name} {p * 100:.0f} %)" if is_no_action(w.top, min_confidence) \
            else f"{name} ({p * 100:.0f} %)"
        for t in range(w.start, min(w.end, frames)):
            labels[t] = text
    return labels


def _frames(video: Path):
    from ..video.reader import open_video

    cap = open_video(video)
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr
    finally:
        cap.release()


def people_box(skeletons: dict[str, np.ndarray], margin: float = 0.3) -> tuple[int, int, int, int] | None:
    """The pixel box ``(x0, y0, x1, y1)`` holding every person of the video, widened by ``margin`` of its size."""
    points = [skeletons["body_color"][skeletons["body_present"]].reshape(-1, 2)]
    points.append(skeletons["landmarks"][skeletons["detected"].astype(bool)][..., :2].reshape(-1, 2))
    pts = np.concatenate(points)
    pts = pts[(pts > 0).all(1)]
    if len(pts) == 0:
        return None
    w, h = (int(v) for v in skeletons["image_size"])
    lo, hi = pts.min(0), pts.max(0)
    pad = margin * (hi - lo).max()
    x0, y0 = (int(max(v, 0)) for v in lo - pad)
    x1, y1 = int(min(hi[0] + pad, w)), int(min(hi[1] + pad, h))
    return x0, y0, x1, y1


def contact_sheet(prediction, path: str | Path, *, tiles: int = 8, columns: int = 4, tile_width: int = 360,
                  crop: bool = True, min_confidence: float = 0.0) -> Path:
    """A PNG grid of ``tiles`` evenly spaced frames with the skeleton overlay and the label; ``crop``: the
    frames are cut to the box holding the people (small people in wide frames stay visible);
    ``min_confidence``: as in :func:`frame_labels`."""
    import cv2

    frames = len(prediction.skeletons["detected"])
    picks = set(np.linspace(0, frames - 1, min(tiles, frames)).round().astype(int).tolist())
    labels = frame_labels(prediction.windows, frames, min_confidence)
    box = people_box(prediction.skeletons) if crop else None
    images = []
    for t, bgr in enumerate(_frames(prediction.video)):
        if t in picks:
            img = draw_frame(bgr, prediction.skeletons, t)
            if box is not None:
                x0, y0, x1, y1 = box
                img = img[y0:y1, x0:x1]
            h = int(round(img.shape[0] * tile_width / img.shape[1]))
            img = cv2.resize(img, (tile_width, h), interpolation=cv2.INTER_AREA)
            img = _caption(img, labels[t])
            cv2.putText(img, f"frame {t}", (8, img.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                        cv2.LINE_AA)
            images.append(img)
    if not images:
        raise ValueError(f"{prediction.video}: no frame could be read back for the contact sheet")
    height = max(im.shape[0] for im in images)  # captions may wrap to different heights
    images = [np.concatenate([im, np.zeros((height - im.shape[0], *im.shape[1:]), np.uint8)]) for im in images]
    rows = [images[i:i + columns] for i in range(0, len(images), columns)]
    blank = np.zeros_like(images[0])
    grid = np.concatenate([np.concatenate(r + [blank] * (columns - len(r)), axis=1) for r in rows], axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid):
        raise ValueError(f"{path}: could not write the image (unknown extension?)")
    return path


def annotate_video(prediction, path: str | Path, min_confidence: float = 0.0) -> Path:
    """The video with the skeleton overlay and the current window's label (``.mp4`` or ``.avi``);
    ``min_confidence``: as in :func:`frame_labels`."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = len(prediction.skeletons["detected"])
    labels = frame_labels(prediction.windows, frames, min_confidence)
    fps = float(prediction.skeletons.get("fps", 0) or 30.0)
    w, h = (int(v) for v in prediction.skeletons["image_size"])
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    if not writer.isOpened():
        raise ValueError(f"{path}: cannot write a video here (use .mp4 or .avi)")
    try:
        for t, bgr in enumerate(_frames(prediction.video)):
            if t >= frames:
                break
            writer.write(draw_frame(bgr, prediction.skeletons, t, labels[t]))
    finally:
        writer.release()
    return path
