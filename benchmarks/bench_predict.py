#!/usr/bin/env python
"""Video-to-action latency on this CPU: skeleton extraction, then the models, PyTorch eager against
onnxruntime in the same run, and the real-time factor at 30 fps.

1. Extraction on a real video (default: the NTU sample clip, 1920x1080): MediaPipe Pose (1 or 2 people)
   + Hands on guided crops + the NTU-25 mapping, per frame, scaled to a 64-frame window.
2. Models at the paper's size (NTU-120: T=64, DeGCN width 64, 2 persons / 2 hands; random weights - latency
   does not depend on them): the body and hand experts, BHaRNet-E's expert-only light model, the full
   BHaRNet-E and BHaRNet-P,
   batch 1 (one window), eager PyTorch vs the exported ONNX model in onnxruntime, with the ONNX - PyTorch
   maximum absolute logit difference on the clip's own windows.
3. Real-time factor at 30 fps = seconds of video per second of processing, for windows every 64 frames
   (each frame extracted once, one model call per window) and every 16 frames.

A benchmark, not a test: it prints measurements and asserts nothing.

    python benchmarks/bench_predict.py                       # ~3 min on 2 cores
    python benchmarks/bench_predict.py --ckpt runs/demo/runs/bharnet_e/best.pt --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import bharnet
from bharnet.deploy.export import export_onnx, onnx_session, select_part

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import timed  # noqa: E402 (the sibling benchmark's timer: warm-up, then the median)

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "ntu" / "samples" / \
    "S001C001P001R001A001_rgb.avi"
PAPER = dict(num_classes=120, num_frames=64)


def extraction(video: Path, persons: int, frames: int | None) -> tuple[float, dict]:
    from bharnet.video.extract import extract_video
    from bharnet.video.hands import HandDetector

    detector = HandDetector()
    t = time.perf_counter()
    result = extract_video(video, detector, mirrored=True, body=True, max_persons=persons, hfov=84.0,
                           max_frames=frames)
    seconds = time.perf_counter() - t
    detector.close()
    return seconds / len(result["detected"]), result


def windows_of(result: dict, spec, size: int = 64, stride: int = 16) -> dict[str, np.ndarray]:
    from bharnet.deploy.inputs import window_inputs
    from bharnet.deploy.predict import window_starts

    frames = len(result["detected"])
    xs = [window_inputs(result, s, min(s + size, frames), spec) for s in window_starts(frames, size, stride)]
    return {k: np.stack([x[k] for x in xs]) for k in spec.streams}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video for the extraction timing")
    parser.add_argument("--frames", type=int, help="extract at most this many frames (default: all)")
    parser.add_argument("--ckpt", type=Path, action="append", default=[],
                        help="also time (and check the export of) a trained checkpoint; repeatable")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.video.is_file():
        print(f"{args.video}: no such video (pass --video)", file=sys.stderr)
        return 1
    from bharnet.deploy.inputs import ModelSpec, read_spec
    from bharnet.deploy.predict import Predictor

    print(f"torch {torch.__version__}, {args.threads} threads; video {args.video.name}")
    report: dict = {"extraction": {}, "models": {}}
    clip = None
    for persons in (1, 2):
        per_frame, result = extraction(args.video, persons, args.frames)
        clip = clip if clip is not None else result
        report["extraction"][persons] = per_frame
        print(f"extraction, {persons} person(s): {per_frame * 1000:.1f} ms/frame = {per_frame * 64:.2f} s per "
              f"64-frame window (Pose + Hands on crops + NTU-25 mapping)")

    models: list[tuple[str, torch.nn.Module, dict | None]] = []
    e = bharnet.create_model("bharnet_e", **PAPER).eval()
    models += [("body expert (paper size)", select_part(e, "body"), None),
               ("hand expert (paper size)", select_part(e, "hand"), None),
               ("BHaRNet-E light (paper size)", select_part(e, "light"), None),
               ("BHaRNet-E (paper size)", e, None),
               ("BHaRNet-P (paper size)", bharnet.create_model("bharnet_p", **PAPER).eval(), None)]
    for path in args.ckpt:
        full = bharnet.load_checkpoint(path).eval()
        config = full.checkpoint_extra.get("config")
        parts = ["full", "light"] if isinstance(full, bharnet.models.BHaRNetE) else ["full"]
        models += [(f"{path} ({part})", select_part(full, part), config) for part in parts]

    with tempfile.TemporaryDirectory() as tmp:
        for label, model, config in models:
            spec: ModelSpec = read_spec(model, config)
            exported = export_onnx(model, Path(tmp) / "m.onnx", check=False,
                                   metadata={"bharnet_spec": spec.to_json()})
            session = onnx_session(exported.path, args.threads)
            ort_predictor = Predictor(exported.path, threads=args.threads)
            batch = windows_of(clip, spec)
            with torch.inference_mode():
                ref = model(*[torch.from_numpy(batch[k]) for k in spec.streams]).logits.numpy()
            got = session.run(["logits"], {k: batch[k] for k in spec.streams})[0]
            diff = float(np.abs(got - ref).max())
            one = {k: v[:1] for k, v in batch.items()}
            inputs = [torch.from_numpy(one[k]) for k in spec.streams]

            def eager(model=model, inputs=inputs):
                with torch.inference_mode():
                    model(*inputs)

            t_torch = timed(eager, 1, args.repeats)
            t_ort = timed(lambda one=one, p=ort_predictor: p(one), 1, args.repeats)
            report["models"][label] = dict(torch_s=t_torch, onnx_s=t_ort, max_abs_diff=diff,
                                           max_abs_logit=float(np.abs(ref).max()), windows=len(ref))
            print(f"{label:40s} eager {t_torch * 1000:7.1f} ms   onnxruntime {t_ort * 1000:7.1f} ms "
                  f"(x{t_torch / t_ort:.2f})   ONNX-PyTorch max |diff| {diff:.1e} (|logits| <= "
                  f"{np.abs(ref).max():.1f}, {len(ref)} windows of the clip)")

    print("\nreal-time factor at 30 fps (video seconds per processing second; >= 1 keeps up):")
    for persons, per_frame in report["extraction"].items():
        for label, m in report["models"].items():
            if "paper size" not in label or label.startswith(("hand", "BHaRNet-P")):
                continue
            best = min(m["torch_s"], m["onnx_s"])
            for stride in (64, 16):
                cost = 64 * per_frame * (stride / 64) + best  # per stride: its new frames + one model call
                factor = (stride / 30) / cost
                report.setdefault("realtime", []).append(dict(persons=persons, model=label, stride=stride,
                                                              factor=factor))
                print(f"  {persons} person(s), {label:32s} stride {stride:2d}: x{factor:.2f} "
                      f"({cost * 1000:.0f} ms per {stride} frames = {stride / 30 * 1000:.0f} ms of video)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
