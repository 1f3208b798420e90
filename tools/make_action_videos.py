"""A small "own actions" video set cut from one real video, to try `bharnet data prepare videos` end to end.

Each class is a transformation of the same footage, so the set exercises the path (prepare, init-config,
train, predict, stream), not accuracy:

    forward/   clips as recorded           reversed/  played backwards       mirrored/  flipped left-right
    fast/      twice the speed             cropped/   the middle 60 % of the frame, resized back

``--bad DIR`` also writes the inputs a user gets wrong, one folder (or CSV) per case, for trying the error
messages: an empty class folder, a class with one clip, a non-video file among the videos, a video with no
person in it, and a CSV list whose paths do not exist.

    python tools/make_action_videos.py ../shared/data/ntu/samples/S001C001P001R001A001_rgb.avi videos/ --bad bad/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TRANSFORMS = ("forward", "reversed", "mirrored", "fast", "cropped")


def read_video(path: Path, width: int) -> tuple[list[np.ndarray], float]:
    """The BGR frames of ``path`` resized to ``width`` pixels wide, and its frame rate."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"{path}: cannot be opened as a video")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h = int(round(bgr.shape[0] * width / bgr.shape[1])) // 2 * 2
        frames.append(cv2.resize(bgr, (width, h), interpolation=cv2.INTER_AREA))
    cap.release()
    if not frames:
        raise SystemExit(f"{path}: no frame could be decoded")
    return frames, fps


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()


def transform(frames: list[np.ndarray], kind: str, start: int, length: int) -> list[np.ndarray]:
    """``length`` frames from ``start``, transformed by ``kind`` (one of :data:`TRANSFORMS`)."""
    import cv2

    if kind == "fast":
        return frames[start:start + 2 * length:2]
    clip = frames[start:start + length]
    if kind == "reversed":
        return clip[::-1]
    if kind == "mirrored":
        return [np.ascontiguousarray(f[:, ::-1]) for f in clip]
    if kind == "cropped":
        h, w = clip[0].shape[:2]
        y0, x0 = int(0.2 * h), int(0.2 * w)
        return [cv2.resize(f[y0:h - y0, x0:w - x0], (w, h), interpolation=cv2.INTER_LINEAR) for f in clip]
    return clip


def make_set(frames: list[np.ndarray], fps: float, out: Path, clips: int, length: int) -> int:
    """``clips`` clips per transformation into ``out/<transformation>/clipK.avi``; returns how many."""
    need = 2 * length  # the fast clips take twice as many source frames
    if len(frames) < need:
        raise SystemExit(f"the video has {len(frames)} frames; --length {length} needs at least {need}")
    starts = np.linspace(0, len(frames) - need, clips).round().astype(int)
    count = 0
    for kind in TRANSFORMS:
        for k, start in enumerate(starts, 1):
            write_video(out / kind / f"clip{k}.avi", transform(frames, kind, int(start), length), fps)
            count += 1
    (out / "forward" / "notes.txt").write_text("not a video: prepare videos reports and skips it\n")
    return count


def make_bad(frames: list[np.ndarray], fps: float, bad: Path, length: int) -> list[Path]:
    """One folder (or CSV) per input mistake; returns the paths to try ``prepare videos`` on."""
    clip = frames[:length]
    cases = []
    empty = bad / "empty_class"  # a class folder with no video
    for name in ("a", "b"):
        write_video(empty / "wave" / f"{name}.avi", clip, fps)
    (empty / "clap").mkdir(parents=True, exist_ok=True)
    cases.append(empty)
    one = bad / "one_clip"  # a class with a single clip cannot be split
    for name in ("a", "b"):
        write_video(one / "wave" / f"{name}.avi", clip, fps)
    write_video(one / "clap" / "a.avi", clip[::-1], fps)
    cases.append(one)
    junk = bad / "not_a_video"  # a file with a video suffix that is not one, and a text file
    for cls in ("wave", "clap"):
        for name in ("a", "b"):
            write_video(junk / cls / f"{name}.avi", clip if cls == "wave" else clip[::-1], fps)
    (junk / "wave" / "c.mp4").write_bytes(b"this is not an mp4 file\n")
    (junk / "wave" / "readme.txt").write_text("notes\n")
    cases.append(junk)
    nobody = bad / "no_person"  # an empty room: the first frame's background, no one in it
    h, w = clip[0].shape[:2]
    room = [np.full((h, w, 3), 90 + (i % 5), np.uint8) for i in range(length)]
    for cls in ("wave", "clap"):
        for name in ("a", "b"):
            write_video(nobody / cls / f"{name}.avi", clip if cls == "wave" else clip[::-1], fps)
    write_video(nobody / "clap" / "empty_room.avi", room, fps)
    cases.append(nobody)
    listing = bad / "missing.csv"  # a CSV whose paths do not exist
    listing.write_text("path,label\nclips/wave1.mp4,wave\nclips/wave2.mp4,wave\nclips/clap1.mp4,clap\n")
    cases.append(listing)
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video", type=Path, help="the real video to cut the clips from")
    p.add_argument("out", type=Path, help="folder to write, one sub-folder per class")
    p.add_argument("--clips", type=int, default=3, help="clips per class (default 3)")
    p.add_argument("--length", type=int, default=40, help="frames per clip (default 40)")
    p.add_argument("--width", type=int, default=960, help="frame width in pixels (default 960)")
    p.add_argument("--bad", type=Path, metavar="DIR", help="also write the bad-input cases here")
    args = p.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} exists and is not empty; choose another folder", file=sys.stderr)
        return 1
    frames, fps = read_video(args.video, args.width)
    count = make_set(frames, fps, args.out, args.clips, args.length)
    print(f"{args.out}: {count} clips of {args.length} frames in {len(TRANSFORMS)} classes ({', '.join(TRANSFORMS)})")
    if args.bad is not None:
        for case in make_bad(frames, fps, args.bad, args.length):
            print(f"bad input: {case}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
