#!/usr/bin/env python
"""Skeleton extraction, the crop extractor against the tracking extractor in the same run, on a real video.

For each extractor, on the NTU sample clip (1920x1080, 103 frames; and a two-person video made of the
performer's strip beside its mirror copy):

1. ms/frame per stage: decode (+ colour conversion), Pose, Hands (the stages timed one after the other),
   and end to end as the extractor runs (the tracking extractor overlaps Pose and Hands in two threads);
2. quality against the clip's Kinect skeleton: hands detected (left / right), the median distance of each
   slot's wrist to the Kinect wrist and the share within 30 px (where Kinect tracks it), and the frames with
   one hand in both slots; for two people, the frames where each person has a hand;
3. ``bharnet predict --stream`` as a camera would deliver the file (30 fps, frames dropped when extraction
   falls behind) with the paper-size BHaRNet-E light model in onnxruntime: the real-time factor, frames
   dropped and labels skipped, for 1 and 2 people;
4. ``predict`` on the clip and on the 309-frame stream video (frames/s, 1 and 2 worker processes) and dataset
   extraction guided by the Kinect skeleton (frames per core-second; NTU-120's ~114k videos x ~100 frames
   projected on 16 cores).

A benchmark, not a test: it prints measurements and asserts nothing.

    python benchmarks/bench_extract.py             # ~4 min on 2 cores
    python benchmarks/bench_extract.py --json extract.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ntu" / "samples"
SAMPLE = "S001C001P001R001A001"
NTU120_FRAMES = 114_480 * 100


def read_all(video: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def decode_ms(video: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(video))
    n, t = 0, time.perf_counter()
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        n += 1
    cap.release()
    return (time.perf_counter() - t) / max(n, 1) * 1000


def stage_ms(frames: list[np.ndarray], kind: str) -> dict[str, float]:
    """Pose and Hands timed apart, one after the other, on the decoded frames (medians, ms/frame)."""
    from bharnet.video import quiet_native
    from bharnet.video.hands import HandDetector
    from bharnet.video.pose import PoseGuide, PoseTracker, pose_anchors
    from bharnet.video.tracking import HandTrack

    pose_t, hand_t = [], []
    if kind == "crops":
        with quiet_native():
            pose, det = PoseGuide(mirrored=True), HandDetector()
        for rgb in frames:
            t0 = time.perf_counter()
            anchors, torso = pose(rgb)
            t1 = time.perf_counter()
            det.detect(rgb, anchors, torso)
            pose_t.append(t1 - t0)
            hand_t.append(time.perf_counter() - t1)
        pose.close()
        det.close()
    else:
        poses, track = PoseTracker(1, 0.5, 960), HandTrack()
        for rgb in frames:
            t0 = time.perf_counter()
            person = poses(rgb)[0]
            t1 = time.perf_counter()
            if person is not None:
                anchors, torso = pose_anchors(person, True)
                track.update_box(anchors, torso)
                track.assign(track.detect(rgb), anchors, torso)
            pose_t.append(t1 - t0)
            hand_t.append(time.perf_counter() - t1)
        poses.close()
        track.close()
    return {"pose": float(np.median(pose_t) * 1000), "hands": float(np.median(hand_t) * 1000)}


def run_extractor(frames, kind, options, guide=None, persons=1):
    from bharnet.video import make_extractor

    ex = make_extractor(kind, mirrored=True, max_persons=persons, **options)
    times, results = [], []
    cpu = time.process_time()
    for t, rgb in enumerate(frames):
        t0 = time.perf_counter()
        results.append(ex(rgb, (guide.anchors[t], float(guide.scale[t])) if guide is not None else None))
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu
    ex.close()
    return results, float(np.mean(times[5:]) * 1000), cpu / len(frames)


def quality(results, guide) -> dict:
    lms = np.stack([r.landmarks for r in results])
    det = np.stack([r.detected for r in results]).astype(bool)
    kinect = guide.anchors[:len(lms), :, 0]
    ok = np.isfinite(kinect).all(-1) & det
    diff = lms[:, :, 0, :2] - kinect
    err = np.linalg.norm(diff, axis=-1)
    same = det.all(1) & (np.linalg.norm(lms[:, 0, 0, :2] - lms[:, 1, 0, :2], axis=-1) < 15)
    # per slot, and with the slot's median offset removed: a Kinect joint that is off by a constant (the clip's
    # left wrist: Kinect puts the hanging hand on the belly) shows as a large offset with a small scatter
    within = [float((err[ok[:, s], s] <= 30).mean()) for s in (0, 1)]
    offset = [np.median(diff[ok[:, s], s], axis=0) for s in (0, 1)]
    scatter = [float((np.linalg.norm(diff[ok[:, s], s] - offset[s], axis=-1) <= 30).mean()) for s in (0, 1)]
    return {"left": float(det[:, 0].mean()), "right": float(det[:, 1].mean()),
            "wrist_median_px": float(np.median(err[ok])), "within_30px": float((err[ok] <= 30).mean()),
            "within_30px_per_slot": within, "median_offset_px": [[round(float(v), 1) for v in o] for o in offset],
            "within_30px_of_offset": scatter, "same_hand_frames": int(same.sum())}


def write_video(frames: list[np.ndarray], out: Path) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 30, frames[0].shape[1::-1])
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return out


def two_people(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The performer's strip (x 640-1440) beside its mirror copy: 1600 x 1080, two people."""
    return [np.ascontiguousarray(np.concatenate([f[:, 640:1440], f[:, 640:1440][:, ::-1]], axis=1)) for f in frames]


def ping_pong(frames: list[np.ndarray], times: int = 3) -> list[np.ndarray]:
    """The clip forward, backward, forward...: a 10 s stream without a cut."""
    out = []
    for k in range(times):
        out += frames if k % 2 == 0 else frames[::-1]
    return out


def light_model(tmp: Path) -> Path:
    import bharnet
    from bharnet.deploy.export import export_onnx, select_part
    from bharnet.deploy.inputs import read_spec

    e = bharnet.create_model("bharnet_e", num_classes=120, num_frames=64).eval()
    light = select_part(e, "light")
    return export_onnx(light, tmp / "light.onnx", check=False,
                       metadata={"bharnet_spec": read_spec(light, None).to_json()}).path


def stream_run(video, model, kind, persons, frames=None, fps=None) -> dict:
    from bharnet.deploy.predict import Predictor
    from bharnet.deploy.stream import stream

    predictor = Predictor(model, threads=1)
    steps = list(stream(str(video), predictor, window=64, stride=16, mirrored=True, max_persons=persons,
                        extractor=kind, realtime=True, max_frames=frames, fps=fps))
    last = steps[-1]
    import cv2

    cap = cv2.VideoCapture(str(video))
    decoded = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return {"labels": len(steps), "dropped": last.dropped, "skipped": last.skipped, "frames": decoded,
            "extract_ms": last.extract_per_frame * 1000, "model_ms": float(np.median([s.model for s in steps]) * 1000),
            "latency_ms": float(np.median([s.latency for s in steps]) * 1000),
            "realtime_factor": last.realtime_factor, "kept": 1 - last.dropped / decoded}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=SHARED / f"{SAMPLE}_rgb.avi")
    parser.add_argument("--skeleton", type=Path, default=SHARED / f"{SAMPLE}.skeleton")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    for path in (args.video, args.skeleton):
        if not path.is_file():
            print(f"{path}: no such file (pass --video / --skeleton)", file=sys.stderr)
            return 1
    from bharnet.deploy.predict import predict_video
    from bharnet.video import filter_native_logs
    from bharnet.video.extract import extract_video
    from bharnet.video.hands import ntu_guide

    filter_native_logs()
    import cv2

    cv2.setNumThreads(1)
    frames = read_all(args.video)
    guide = ntu_guide(args.skeleton, len(frames))
    report: dict = {"video": args.video.name, "frames": len(frames), "decode_ms": decode_ms(args.video)}
    print(f"{args.video.name}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}; "
          f"decode + RGB {report['decode_ms']:.1f} ms/frame")
    configs = [("crops", "crops", {}), ("tracking", "tracking", {}),
               ("tracking, one thread", "tracking", {"threaded": False})]
    print("\n1-2. per frame (ms, mean after 5 frames) and quality against the Kinect skeleton")
    print(f"{'extractor':24s} {'guide':7s} {'pose':>6s} {'hands':>6s} {'total':>6s} {'cpu':>6s}  "
          f"{'left':>6s} {'right':>6s} {'wrist px':>8s} {'<=30px':>6s} {'same':>4s}")
    detail = []
    for label, kind, options in configs:
        stages = stage_ms(frames, kind) if not options else {"pose": float("nan"), "hands": float("nan")}
        for guided in (False, True):
            results, ms, cpu = run_extractor(frames, kind, options, guide if guided else None)
            q = quality(results, guide)
            row = dict(stages if not guided else {"pose": 0.0, "hands": float("nan")}, total_ms=ms,
                       cpu_ms=cpu * 1000, **q)
            report.setdefault("extractors", {})[f"{label} / {'kinect' if guided else 'pose'}"] = row
            print(f"{label:24s} {'kinect' if guided else 'pose':7s} {row['pose']:6.1f} {row['hands']:6.1f} "
                  f"{ms:6.1f} {cpu * 1000:6.1f}  {q['left']:6.1%} {q['right']:6.1%} {q['wrist_median_px']:8.1f} "
                  f"{q['within_30px']:6.1%} {q['same_hand_frames']:4d}")
            detail.append(f"  {label:22s} {'kinect' if guided else 'pose':7s} within 30 px left / right "
                          f"{q['within_30px_per_slot'][0]:6.1%} / {q['within_30px_per_slot'][1]:6.1%}; median offset "
                          f"left ({q['median_offset_px'][0][0]:+.0f}, {q['median_offset_px'][0][1]:+.0f}), right "
                          f"({q['median_offset_px'][1][0]:+.0f}, {q['median_offset_px'][1][1]:+.0f}) px; within 30 px "
                          f"of that offset {q['within_30px_of_offset'][0]:6.1%} / {q['within_30px_of_offset'][1]:6.1%}")
    print("\nwrists against Kinect's, per slot (Kinect's own wrist can be wrong: see the offsets)")
    print("\n".join(detail))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pair_frames = two_people(frames)
        double = write_video(pair_frames, tmp / "two.avi")
        print("\ntwo people (the performer's strip beside its mirror copy, 1600x1080): frames with a hand found")
        for label, kind in (("crops", "crops"), ("tracking", "tracking")):
            t = time.perf_counter()
            got = extract_video(double, mirrored=True, max_persons=2, extractor=kind)
            ms = (time.perf_counter() - t) / len(got["detected"]) * 1000
            if "detected_all" in got:
                per = got["detected_all"].any(axis=2).mean(axis=0)
                text = f"person 0 {per[0]:.1%}, person 1 {per[1]:.1%}"
            else:
                per = [float(got["detected"].any(axis=1).mean()), 0.0]
                text = f"person 0 {per[0]:.1%}, person 1: not extracted (person 0's hands only)"
            report.setdefault("two_people", {})[label] = dict(ms=ms, person0=float(per[0]), person1=float(per[1]))
            print(f"  {label:10s} {ms:6.1f} ms/frame (decode included)  {text}")
        model = light_model(tmp)
        print("\n3. predict --stream --realtime: the clip played forward, backward, forward (309 frames) as a 30 fps "
              "camera delivers it; BHaRNet-E light, paper size, onnxruntime 1 thread; window 64, stride 16")
        long_one = write_video(ping_pong(frames), tmp / "long1.avi")
        long_two = write_video(ping_pong(pair_frames), tmp / "long2.avi")
        for persons, video in ((1, long_one), (2, long_two)):
            for label, kind, fps in (("crops", "crops", None), ("tracking", "tracking", None),
                                     ("tracking --fps 15", "tracking", 15)):
                r = stream_run(video, model, kind, persons, fps=fps)
                report.setdefault("stream", {})[f"{label} / {persons}"] = r
                print(f"  {persons} person(s) {label:18s} real-time x{r['realtime_factor']:.2f}  extract "
                      f"{r['extract_ms']:5.1f} ms/frame  model {r['model_ms']:5.1f} ms  "
                      f"latency {r['latency_ms']:5.0f} ms  dropped {r['dropped']} of {r['frames']} frames  "
                      f"skipped {r['skipped']} labels")
        print("\n4. predict on the file (1 person, decode included) and dataset extraction (Kinect-guided)")
        from bharnet.deploy.predict import Predictor

        predictor = Predictor(model, threads=1)
        # the 103-frame clip stays in one process (shorter than 2 x 64 frames); the 309-frame one is split with
        # 2 workers, and amortises the graphs' construction
        for video, count in ((args.video, len(frames)), (long_one, 3 * len(frames))):
            for label, kind in (("crops", "crops"), ("tracking", "tracking")):
                for workers in (1, 2):
                    t = time.perf_counter()
                    predict_video(video, predictor, mirrored=True, max_persons=1, progress=False, workers=workers,
                                  extractor=kind)
                    fps = count / (time.perf_counter() - t)
                    report.setdefault("predict_fps", {})[f"{count} frames / {label} / {workers}"] = fps
                    print(f"  predict, {count} frames, {label:9s} {workers} worker(s): {fps:5.1f} frames/s")
        for label, kind, options in (("crops", "crops", {}), ("tracking", "tracking", {"threaded": False})):
            cpu = time.process_time()
            got = extract_video(args.video, skeleton_path=args.skeleton, extractor=kind, extractor_options=options)
            per_core = len(got["detected"]) / (time.process_time() - cpu)
            hours = NTU120_FRAMES / (per_core * 16) / 3600
            report.setdefault("dataset", {})[label] = dict(frames_per_core_s=per_core, ntu120_hours_16_cores=hours)
            print(f"  extract-hands --skeletons, {label:9s}: {per_core:5.1f} frames per core-second -> NTU-120 "
                  f"in {hours:4.1f} h on 16 cores")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
