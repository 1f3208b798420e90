#!/usr/bin/env python
"""Alternatives to the tracking extractor's defaults, measured against them in the same run (not adopted so far).

On the NTU sample clip (1920x1080, 103 frames) and its two-person version (the performer's strip beside its
mirror copy, as in ``bench_extract.py``):

1. where the CPU goes: Pose and tracked Hands alone, one after the other in one thread (wall and CPU time per
   frame; equal wall and CPU means a graph uses one core, so two cores can at best halve the sum);
2. two people scheduled per person (two threads, each running one person's Hands(t) and Pose(t); the second
   person's Pose sees the first person's box of frame t - 1 blacked out) against today's (Pose of both people
   in one thread, Hands of both in the other): ms/frame and the frames where each person has a hand;
3. the hand graph: MediaPipe's legacy Hands (today) against the Tasks ``HandLandmarker`` assembled from the
   wheel's own palm detector (full, or lite with the normalisation metadata it lacks) and full landmark model,
   both in video (tracking) mode inside the tracking extractor: ms/frame and quality against the Kinect
   skeleton, Kinect- and Pose-guided.

A benchmark, not a test: it prints measurements and asserts nothing.

    python benchmarks/bench_extract_alternatives.py      # ~2 min on 2 cores
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from bench_extract import SAMPLE, SHARED, quality, read_all, two_people


def cost_alone(frames: list[np.ndarray]) -> None:
    from bharnet.video.pose import PoseTracker, pose_anchors
    from bharnet.video.tracking import HandTrack

    pose, track = PoseTracker(1, 0.5, 960), HandTrack()
    people = [pose(f)[0] for f in frames]  # also the hand crops' anchors for the Hands pass
    pose.reset()

    def timed(label, step):
        step(0)
        wall, cpu = time.perf_counter(), time.process_time()
        for t in range(1, len(frames)):
            step(t)
        n = len(frames) - 1
        print(f"  {label:28s} wall {(time.perf_counter() - wall) / n * 1000:5.1f}  "
              f"cpu {(time.process_time() - cpu) / n * 1000:5.1f} ms/frame")

    def hands(t):
        if people[t] is not None:
            anchors, torso = pose_anchors(people[t], True)
            track.update_box(anchors, torso)
            track.detect(frames[t])

    timed("Pose (960 px, tracking)", lambda t: pose(frames[t]))
    timed("Hands (one crop, tracking)", hands)
    pose.close()
    track.close()


def per_person(frames: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """Two people, one thread per person (module docstring, 2)."""
    from bharnet.video.pose import PoseTracker, pose_anchors
    from bharnet.video.tracking import HandTrack

    poses = [PoseTracker(1, 0.5, 960) for _ in range(2)]
    tracks = [HandTrack() for _ in range(2)]
    boxes: list = [None, None]
    pool = ThreadPoolExecutor(2)

    def person(k: int, rgb: np.ndarray, hide):
        hands = tracks[k].detect(rgb)
        if k == 1 and hide is not None:
            x0, y0, x1, y1 = (max(int(round(v)), 0) for v in hide)
            rgb = rgb.copy()
            rgb[y0:y1, x0:x1] = 0
        return hands, poses[k](rgb)[0]

    times, found = [], []
    for rgb in frames:
        t0 = time.perf_counter()
        jobs = [pool.submit(person, k, rgb, boxes[0]) for k in range(2)]
        row = []
        for k, job in enumerate(jobs):
            hands, result = job.result()
            if result is None:
                anchors, torso, boxes[k] = np.full((2, 2, 2), np.nan, np.float32), float("nan"), None
            else:
                (anchors, torso), boxes[k] = pose_anchors(result, True), result.box()
            tracks[k].update_box(anchors, torso)
            row.append(tracks[k].assign(hands, anchors, torso)[1].any())
        times.append(time.perf_counter() - t0)
        found.append(row)
    pool.shutdown()
    for p, t in zip(poses, tracks):
        p.close()
        t.close()
    return float(np.mean(times[5:]) * 1000), np.mean(found, axis=0)


def today_two(frames: list[np.ndarray]) -> tuple[float, np.ndarray]:
    from bharnet.video import make_extractor

    ex = make_extractor("tracking", mirrored=True, max_persons=2)
    times, found = [], []
    for rgb in frames:
        t0 = time.perf_counter()
        found.append(ex(rgb).detected_all.any(axis=1))
        times.append(time.perf_counter() - t0)
    ex.close()
    return float(np.mean(times[5:]) * 1000), np.mean(found, axis=0)


def hand_task(palm: str, folder: Path) -> Path:
    """A HandLandmarker ``.task`` bundle from the wheel's palm detector (``full`` / ``lite``) + full landmarks."""
    import mediapipe as mp
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    modules = Path(mp.__file__).parent / "modules"
    detector = (modules / "palm_detection" / f"palm_detection_{palm}.tflite").read_bytes()
    if palm == "lite":  # the lite file has no input normalisation metadata, which the Tasks graph requires
        writer = metadata_writer.MetadataWriter.create(detector).add_general_info("palm_detection_lite", "")
        writer.add_image_input([0.0], [255.0]).add_feature_output(name="regressors")
        detector = writer.add_feature_output(name="classificators").populate()[0]
    out = folder / f"hand_{palm}.task"
    with zipfile.ZipFile(out, "w") as bundle:
        bundle.writestr("hand_detector.tflite", detector)
        bundle.write(modules / "hand_landmark" / "hand_landmark_full.tflite", "hand_landmarks_detector.tflite")
    return out


class TasksHands:
    """The Tasks HandLandmarker (video mode) behind the legacy ``Hands.process`` interface HandTrack uses."""

    def __init__(self, task: Path):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        options = vision.HandLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task)),
                                               running_mode=vision.RunningMode.VIDEO, num_hands=2)
        self._landmarker = vision.HandLandmarker.create_from_options(options)
        self._ms = 0

    def process(self, crop: np.ndarray):
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop))
        got = self._landmarker.detect_for_video(image, self._ms)
        self._ms += 33
        return SimpleNamespace(multi_hand_landmarks=[SimpleNamespace(landmark=h) for h in got.hand_landmarks],
                               multi_handedness=[SimpleNamespace(classification=c) for c in got.handedness])

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self._landmarker.close()


def hand_graphs(frames: list[np.ndarray], guide, folder: Path) -> None:
    from bharnet.video import make_extractor

    for guided in (True, False):
        for label, palm in (("legacy Hands (today)", None), ("Tasks, palm full", "full"), ("Tasks, palm lite", "lite")):
            ex = make_extractor("tracking", mirrored=True, max_persons=1)
            if palm is not None:
                for track in ex.tracks:
                    track._hands.close()
                    track._hands = TasksHands(hand_task(palm, folder))
            results, times = [], []
            for t, rgb in enumerate(frames):
                t0 = time.perf_counter()
                results.append(ex(rgb, (guide.anchors[t], float(guide.scale[t])) if guided else None))
                times.append(time.perf_counter() - t0)
            ex.close()
            q = quality(results, guide)
            print(f"  {label:22s} {'kinect' if guided else 'pose':7s} {np.mean(times[5:]) * 1000:6.1f} ms/frame  "
                  f"left {q['left']:6.1%} right {q['right']:6.1%}  wrist {q['wrist_median_px']:5.1f} px  "
                  f"same hand {q['same_hand_frames']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=SHARED / f"{SAMPLE}_rgb.avi")
    parser.add_argument("--skeleton", type=Path, default=SHARED / f"{SAMPLE}.skeleton")
    args = parser.parse_args(argv)
    for path in (args.video, args.skeleton):
        if not path.is_file():
            print(f"{path}: no such file (pass --video / --skeleton)", file=sys.stderr)
            return 1
    import cv2

    from bharnet.video import filter_native_logs
    from bharnet.video.hands import ntu_guide

    filter_native_logs()
    cv2.setNumThreads(1)
    frames = read_all(args.video)
    guide = ntu_guide(args.skeleton, len(frames))
    print(f"1. one person, each graph alone in one thread ({args.video.name}, {len(frames)} frames)")
    cost_alone(frames)
    pair = two_people(frames)
    print("\n2. two people: ms/frame, and the share of frames where person 0 / 1 has a hand (two runs each)")
    for _ in range(2):
        for label, run in (("today (Pose | Hands threads)", today_two), ("one thread per person", per_person)):
            cpu, wall = time.process_time(), time.perf_counter()
            ms, found = run(pair)
            busy = (time.process_time() - cpu) / (time.perf_counter() - wall)
            print(f"  {label:30s} {ms:5.1f} ms/frame  cores busy {busy:4.2f}  hands {found[0]:6.1%} / {found[1]:6.1%}")
    print("\n3. the hand graph inside the tracking extractor (one person)")
    with tempfile.TemporaryDirectory() as tmp:
        hand_graphs(frames, guide, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
