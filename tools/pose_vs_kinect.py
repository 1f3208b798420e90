#!/usr/bin/env python
"""Where does a Kinect-trained model lose an action when the skeleton comes from MediaPipe Pose instead?

Reads an NTU sample's Kinect ``.skeleton`` and its RGB video (MediaPipe Pose mapped to NTU-25, as
``bharnet predict`` does), and classifies hybrids of the two skeletons of the same frames with converted models
(``bharnet convert``): each hybrid takes one part of one skeleton (depth, x and y, a limb, the scale) from the
other, relative to the spine middle frame by frame, then the model's own preprocessing. Prints p(true class)
and the top-1 of every model per hybrid. An experiment, not a test.

    python tools/pose_vs_kinect.py --skeleton S001C001P001R001A001.skeleton --video S001C001P001R001A001_rgb.avi \\
        --ckpt shiftgcn_ntu60_xsub.pt --ckpt shiftgcn_ntu60_xview.pt --mirrored --hfov 84
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from bharnet.datasets import ntu
from bharnet.datasets.agcn import agcn_bodies
from bharnet.deploy.inputs import window_inputs
from bharnet.deploy.predict import Predictor

LEFT_ARM, RIGHT_ARM = [4, 5, 6, 7, 21, 22], [8, 9, 10, 11, 23, 24]
HANDS, LEGS, SPINE = [7, 11, 21, 22, 23, 24], list(range(12, 20)), [0, 1, 2, 3, 20]


def _rel(x: np.ndarray) -> np.ndarray:
    return x - x[:, :, 1:2]


def _limb(x: np.ndarray) -> float:
    return float(np.linalg.norm(x[:, 0, [4, 5, 8, 9, 12, 13, 16, 17]] - x[:, 0, [5, 6, 9, 10, 13, 14, 17, 18]],
                                axis=-1).mean())


def hybrids(kinect: np.ndarray, pose: np.ndarray) -> dict[str, np.ndarray]:
    """``(T, 1, 25, 3)`` camera-space skeletons of the same frames -> named hybrids."""
    k, p = _rel(kinect), _rel(pose)
    out = {"Kinect": kinect, "Pose": pose}

    def take(base, other, base_rel, other_rel, joints, dims):
        h = base.copy()
        h[:, :, joints, dims] = base[:, :, 1:2, dims] + other_rel[:, :, joints, dims]
        return h

    every = list(range(25))
    out["Pose, x and y from Kinect"] = take(pose, kinect, p, k, every, slice(0, 2))
    out["Pose, depth from Kinect"] = take(pose, kinect, p, k, every, slice(2, 3))
    for name, joints in (("right arm", RIGHT_ARM), ("left arm", LEFT_ARM)):
        out[f"Pose, depth of the {name} from Kinect"] = take(pose, kinect, p, k, joints, slice(2, 3))
        out[f"Pose, x and y of the {name} from Kinect"] = take(pose, kinect, p, k, joints, slice(0, 2))
    out["Pose scaled to Kinect's limb length"] = pose[:, :, 1:2] + p * (_limb(kinect) / _limb(pose))
    out["Pose, legs from Kinect"] = take(pose, kinect, p, k, LEGS, slice(0, 3))
    out["Kinect, spine and head from Pose"] = take(kinect, pose, k, p, SPINE, slice(0, 3))
    out["Kinect, hands from Pose"] = take(kinect, pose, k, p, HANDS, slice(0, 3))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skeleton", required=True, help="the sample's Kinect .skeleton file")
    ap.add_argument("--video", required=True, help="the sample's RGB video")
    ap.add_argument("--ckpt", required=True, action="append", help="a converted body model (repeatable)")
    ap.add_argument("--mirrored", action="store_true", help="the video is a mirror image (NTU's Kinect colour)")
    ap.add_argument("--hfov", type=float, default=84.0, help="camera field of view in degrees (default 84)")
    args = ap.parse_args(argv)

    from bharnet.video.extract import extract_video
    from bharnet.video.hands import HandDetector

    seq = ntu.read_skeleton(args.skeleton)
    kinect = agcn_bodies(seq, 1)[0].astype(np.float32)  # (T, 1, 25, 3), every frame of the file
    detector = HandDetector()
    try:
        skeletons = extract_video(args.video, detector, body=True, mirrored=args.mirrored, max_persons=1,
                                  hfov=args.hfov)
    finally:
        detector.close()
    frames = min(len(kinect), len(skeletons["body"]))
    pose = skeletons["body"][:frames, :1].astype(np.float32)
    kinect = kinect[:frames]
    predictors = [Predictor(c) for c in args.ckpt]
    truth = ntu.parse_name(seq.name)["label"]
    names = predictors[0].spec.class_names
    print(f"{seq.name}: {frames} frames; p({names[truth]}) and top-1 per model: " + ", ".join(args.ckpt))
    print(f"right hand tip depth relative to the spine middle: Kinect {_rel(kinect)[:, 0, 23, 2].mean():+.2f} m, "
          f"Pose {_rel(pose)[:, 0, 23, 2].mean():+.2f} m")
    for name, body in hybrids(kinect, pose).items():
        cells = []
        for predictor in predictors:
            inputs = window_inputs({"body": body, "landmarks": np.zeros((frames, 2, 21, 3)),
                                    "detected": np.zeros((frames, 2), bool), "image_size": np.array([1, 1])},
                                   0, frames, predictor.spec)
            logits = predictor.logits({k: v[None] for k, v in inputs.items()})[0][0]
            prob = torch.softmax(torch.from_numpy(logits), -1).numpy()
            top = int(prob.argmax())
            cells.append(f"{prob[truth] * 100:5.1f} % [{names[top]} {prob[top] * 100:.0f} %]")
        print(f"  {name:42s} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
