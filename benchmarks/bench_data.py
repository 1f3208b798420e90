"""Data pipeline throughput: .skeleton parsing, feeder samples/s with 0/1/2 workers, hand extraction.

    python benchmarks/bench_data.py                       # everything that is available here
    python benchmarks/bench_data.py --skip-hands --json   # no MediaPipe

The NTU sample clip comes from ``--data`` (default: ``../shared/data`` beside the project, or $BHARNET_DATA);
without it, parsing runs on a synthetic two-body file and hand extraction is skipped. The projection for
NTU RGB+D 120 multiplies the measured per-core frame rate by the core count, assuming every video is as long
as the sample clip (``--frames-per-video``) and that the cores scale linearly (they share memory bandwidth,
so treat it as an upper bound on speed).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bharnet.data.feeder import SkeletonDataset
from bharnet.data.sample import Sample
from bharnet.data.store import write_store
from bharnet.datasets import ntu
from bharnet.video.extract import extract_video
from bharnet.video.hands import HandDetector

SAMPLE = "S001C001P001R001A001"
NTU120_VIDEOS = 114_480


def default_data() -> Path:
    env = os.environ.get("BHARNET_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def synthetic_skeleton(path: Path, frames: int = 103, bodies: int = 2) -> Path:
    rng = np.random.default_rng(0)
    lines = [str(frames)]
    for _ in range(frames):
        lines.append(str(bodies))
        for b in range(bodies):
            lines.append(f"7205759403793110{b} 0 1 1 1 1 0 0.02 0.05 2\n25")
            lines.extend(" ".join(f"{v:.7g}" for v in row) for row in rng.normal(size=(25, 12)))
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def bench_parse(path: Path, seconds: float) -> dict:
    ntu.read_skeleton(path)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ntu.to_sample(ntu.read_skeleton(path))
        count += 1
    elapsed = time.perf_counter() - start
    return dict(file=path.name, files_per_s=count / elapsed, ms_per_file=1e3 * elapsed / count)


def make_store(root: Path, samples: int) -> Path:
    rng = np.random.default_rng(0)
    items = []
    for i in range(samples):
        t = int(rng.integers(40, 300))
        body = rng.normal(size=(t, 2, 25, 3)).astype(np.float32)
        hand = rng.normal(size=(t, 2, 21, 3)).astype(np.float32)
        items.append((Sample(f"s{i:05d}", i % 120, body, hand, rng.random((t, 2)) > 0.2), {"xsub": "train"}))
    return write_store(root / "bench.store", items, splits=("xsub",), num_classes=120)


def bench_feeder(store: Path, workers: int, batches: int, batch_size: int) -> dict:
    ds = SkeletonDataset(store, protocol="xsub", split="train", streams=("body", "hand"), modality="bone")
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(0), drop_last=True,
                                         persistent_workers=False)
    it = iter(loader)
    next(it)  # start-up (worker spawn) is not counted
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        batch = next(it)
        n += batch["body"].shape[0]
    elapsed = time.perf_counter() - start
    return dict(workers=workers, samples_per_s=n / elapsed)


def bench_hands(video: Path, skeleton: Path) -> dict:
    detector = HandDetector()
    start, cpu = time.perf_counter(), time.process_time()
    result = extract_video(video, detector, skeleton_path=skeleton)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    detector.close()
    frames = result["landmarks"].shape[0]
    rate = result["detected"].mean(axis=0)
    return dict(frames=frames, frames_per_s_wall=frames / wall, frames_per_s_per_cpu_second=frames / cpu,
                detected_left=float(rate[0]), detected_right=float(rate[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="the shared real-data folder")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per parsing measurement")
    parser.add_argument("--samples", type=int, default=400, help="samples in the synthetic feeder store")
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-hands", action="store_true")
    parser.add_argument("--cores", type=int, default=16, help="cores of the machine to project NTU-120 onto")
    parser.add_argument("--frames-per-video", type=float, default=None,
                        help="frames per NTU video for the projection (default: the sample clip's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: dict = dict(host_cores=len(os.sched_getaffinity(0)))

    skeleton = args.data / "ntu" / "samples" / f"{SAMPLE}.skeleton"
    video = args.data / "ntu" / "samples" / f"{SAMPLE}_rgb.avi"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parse = [bench_parse(synthetic_skeleton(tmp / "S001C001P001R001A050.skeleton"), args.seconds)]
        if skeleton.is_file():
            parse.insert(0, bench_parse(skeleton, args.seconds))
        results["parse"] = parse
        store = make_store(tmp, args.samples)
        results["feeder"] = [bench_feeder(store, w, args.batches, args.batch_size) for w in args.workers]
    if not args.skip_hands and video.is_file() and skeleton.is_file():
        try:
            h = bench_hands(video, skeleton)
        except ImportError as e:
            results["hands"] = dict(skipped=str(e))
        else:
            frames_per_video = args.frames_per_video or h["frames"]
            total_frames = NTU120_VIDEOS * frames_per_video
            h["projection"] = dict(videos=NTU120_VIDEOS, frames_per_video=frames_per_video, cores=args.cores,
                                   hours=total_frames / (h["frames_per_s_per_cpu_second"] * args.cores) / 3600)
            results["hands"] = h
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"host: {results['host_cores']} cores, torch threads 1")
    for p in results["parse"]:
        print(f"parse + preprocess {p['file']}: {p['files_per_s']:.1f} files/s ({p['ms_per_file']:.1f} ms/file)")
    base = results["feeder"][0]["samples_per_s"]
    for f in results["feeder"]:
        print(f"feeder (body+hand, bone, train augmentation) with {f['workers']} worker(s): "
              f"{f['samples_per_s']:.0f} samples/s ({f['samples_per_s'] / base:.2f}x of "
              f"{results['feeder'][0]['workers']} workers)")
    h = results.get("hands")
    if h and "skipped" not in h:
        pr = h["projection"]
        print(f"hand extraction ({h['frames']} frames, 2 crops/frame): {h['frames_per_s_wall']:.1f} frames/s "
              f"wall, {h['frames_per_s_per_cpu_second']:.1f} frames per CPU-second; detected left "
              f"{h['detected_left']:.0%}, right {h['detected_right']:.0%}")
        print(f"projection: NTU-120 ({pr['videos']} videos x {pr['frames_per_video']:.0f} frames) on "
              f"{pr['cores']} cores ~ {pr['hours']:.1f} h (linear scaling assumed)")
    elif h:
        print(f"hand extraction skipped: {h['skipped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
