"""``bharnet export`` (and the video commands): deployment from a trained checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data.transforms import MODALITIES
from ..models.pretrained import RELEASES
from .common import add_pose_options, guarded

RELEASE_NAMES = tuple(RELEASES)

__all__ = ["add_deploy_parsers"]


@guarded(lambda args: "export", "nothing was written")
def cmd_export(args: argparse.Namespace) -> int:
    from ..deploy.export import export_onnx, export_torchscript, select_part
    from ..models import load_checkpoint

    if not args.onnx and not args.torchscript:
        raise ValueError("say what to write: --onnx FILE and/or --torchscript FILE")
    from ..deploy.inputs import read_spec

    full = load_checkpoint(args.ckpt).eval()
    model = select_part(full, args.part)
    spec = read_spec(model, full.checkpoint_extra.get("config"), full.checkpoint_extra.get("preprocessing"))
    print(f"{args.ckpt}: {type(model).__name__} ({args.part})")
    if args.onnx:
        print(export_onnx(model, args.onnx, opset=args.opset, check=not args.no_check,
                          metadata={"bharnet_spec": spec.to_json()}).format())
    if args.torchscript:
        print(export_torchscript(model, args.torchscript, check=not args.no_check).format())
    return 0


@guarded(lambda args: "convert", "nothing was written")
def cmd_convert(args: argparse.Namespace) -> int:
    from ..models.pretrained import RELEASES, convert_release

    dataset = args.dataset or RELEASES[args.release].files.get(args.source.name, (None, None))[0]
    if dataset is None:
        choices = " or ".join(f"--dataset {d}" for d in RELEASES[args.release].datasets)
        raise ValueError(f"{args.source.name} is not a known {args.release} file; say which classes it has with "
                         f"{choices}")
    model = convert_release(args.source, args.release, dataset, args.out, modality=args.modality)
    source = model.checkpoint_extra["source"]
    size = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"{args.source} ({args.release}, sha256 {source['sha256'][:12]}) -> {args.out}: "
          f"{type(model).__name__} {model.bharnet_config['kwargs']['backbone']}, {size:.2f} M parameters, "
          f"{dataset} classes, {args.modality} stream, preprocessing "
          + ", ".join(model.checkpoint_extra["preprocessing"].values()))
    print(f"next: bharnet predict --ckpt {args.out} --skeleton S001C001P001R001A001.skeleton   (or a video)")
    return 0


@guarded(lambda args: "predict", "nothing was written")
def cmd_predict(args: argparse.Namespace) -> int:
    from ..deploy.predict import Predictor, check_min_confidence, predict_video
    from ..deploy.stream import stream
    from ..video import filter_native_logs

    filter_native_logs(args.verbose)
    check_min_confidence(args.min_confidence)  # before anything is loaded
    predictors = [Predictor(path, threads=args.threads) for path in args.ckpt]
    for path, predictor in zip(args.ckpt, predictors):
        streams = ", ".join(f"{k} {tuple(v)}" for k, v in predictor.spec.streams.items())
        print(f"model: {path} ({predictor.backend}; {len(predictor.spec.class_names)} classes; input {streams}, "
              f"{predictor.spec.modality})")
    for predictor in predictors:
        if predictor.provenance:
            src = predictor.provenance
            spec = predictor.spec
            prep = spec.body_normalization if "body" in spec.streams else f"{spec.hand_normalization}, {spec.sampling}"
            print(f"  converted from {src['file']} ({src['release']}, {src['dataset']}; sha256 {src['sha256'][:12]}); "
                  f"preprocessing: {prep}")
    if len(predictors) > 1:
        print(f"score ensemble of {len(predictors)} models (logits summed)")
    if args.window is None:  # a gesture model's own short clip; else 64 frames
        spec = predictors[0].spec
        args.window = next(iter(spec.streams.values()))[1] if spec.sampling == "uniform" else 64
    if args.skeleton is not None:
        return _run_skeleton(args, predictors)
    if args.video is None:
        raise ValueError("give a video file (or --skeleton FILE.skeleton)")
    if args.stream:
        if len(predictors) > 1 or "roi" in predictors[0].spec.streams:
            raise ValueError("--stream runs one skeleton model; ensembles and BHaRNet-M work on video files")
        return _run_stream(args, predictors[0], stream)
    if not args.video.exists():
        raise FileNotFoundError(f"{args.video}: no such video file")
    try:
        from ..utils.cpu import default_workers

        # the tracking extractor already keeps two cores busy (Pose and Hands in two threads): one process per
        # two cores; on 2 cores a second process made a 309-frame video 15 % slower (37-41 -> 32-34 frames/s)
        per_process = 2 if args.extractor == "tracking" else 1
        workers = args.workers or (max(1, default_workers() // per_process) if args.persons == 1 else 1)
        result = predict_video(args.video, predictors, window=args.window, stride=args.stride, mirrored=args.mirrored,
                               max_persons=args.persons, top_k=args.top_k, progress=not args.quiet, hfov=args.hfov,
                               workers=workers, extractor=args.extractor)
    except Exception as e:
        from ..data.sample import NoPersonError

        if isinstance(e, NoPersonError):
            print(f"{args.video}: no person found in any frame; nothing to classify")
            return 3
        raise
    print(result.format(args.top_k, args.min_confidence))
    if args.sheet:
        from ..deploy.render import contact_sheet

        print(f"contact sheet: {contact_sheet(result, args.sheet, min_confidence=args.min_confidence)}")
    if args.annotate:
        from ..deploy.render import annotate_video

        print(f"annotated video: {annotate_video(result, args.annotate, args.min_confidence)}")
    return 0


def _run_skeleton(args: argparse.Namespace, predictors) -> int:
    """Classify one Kinect ``.skeleton`` file (NTU RGB+D) with body-only models."""
    import numpy as np

    from ..deploy.inputs import skeleton_inputs

    if not args.skeleton.is_file():
        raise FileNotFoundError(f"--skeleton {args.skeleton}: no such file")
    logits, meta = 0, {}
    for predictor in predictors:
        inputs, meta = skeleton_inputs(args.skeleton, predictor.spec)
        logits = logits + predictor.logits({k: v[None] for k, v in inputs.items()})[0][0]
    e = np.exp(logits - logits.max())
    probs = e / e.sum()
    names = predictors[0].spec.class_names
    truth = meta.get("label")
    said = f"; its name says class {truth + 1} ({names[truth]})" if truth is not None and truth < len(names) else ""
    print(f"{args.skeleton}: {meta.get('video_frames', '?')} frames, {meta.get('actors', '?')} body(ies){said}")
    from ..deploy.predict import NO_ACTION, is_no_action

    order = np.argsort(-probs)[:args.top_k]
    if is_no_action([(names[order[0]], float(probs[order[0]]))], args.min_confidence):
        print(f"    {NO_ACTION} (no class reaches {args.min_confidence * 100:g} %)")
    for k in order:
        print(f"    {probs[k] * 100:5.1f} %  {names[k]}")
    return 0


def _run_stream(args: argparse.Namespace, predictor, stream) -> int:
    from ..deploy.predict import NO_ACTION, is_no_action

    source = str(args.video)
    last = None
    stride = min(args.stride, args.window) if args.window else args.stride
    for step in stream(source, predictor, window=args.window or 64, stride=stride, mirrored=args.mirrored,
                       max_persons=args.persons, top_k=min(args.top_k, 3), max_frames=args.max_frames, hfov=args.hfov,
                       extractor=args.extractor, fps=args.fps, realtime=True if args.realtime else None):
        last = step
        label = "  ".join(f"{name} {p * 100:.0f}%" for name, p in step.top) or "(no person)"
        if is_no_action(step.top, args.min_confidence):
            label = f"{NO_ACTION} (best: {step.top[0][0]} {step.top[0][1] * 100:.0f}%)"
        print(f"frame {step.frame:6d}  {label:60s}  extract {step.extract_per_frame * 1000:5.0f} ms/frame  "
              f"model {step.model * 1000:5.0f} ms  latency {step.latency * 1000:5.0f} ms  "
              f"real-time x{step.realtime_factor:.2f} at {step.fps:.0f} fps"
              + (f"  dropped {step.dropped}" if step.dropped else "")
              + (f"  skipped {step.skipped}" if step.skipped else ""),
              flush=True)
    if last is None:
        print(f"{source}: ended before a full window of {args.window or 64} frames")
    elif last.dropped or last.skipped:
        print(f"{last.dropped} frame(s) dropped (extraction behind the source), {last.skipped} label(s) skipped "
              f"(model busy); --fps {max(1, round(last.fps / (last.every + 1)))} extracts fewer frames")
    return 0


def add_deploy_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="recognise actions in a video (or a camera, --stream)",
                       description="Extract body (MediaPipe Pose mapped to NTU-25) and hands (MediaPipe Hands) from a "
                                   "video, classify sliding windows with a trained model and print the top actions "
                                   "per window. --stream labels a camera or a video as it plays.")
    p.add_argument("video", type=Path, nargs="?",
                   help="a video file, or with --stream a camera index (0) or a video file")
    p.add_argument("--skeleton", type=Path, metavar="FILE",
                   help="classify a Kinect .skeleton file (NTU RGB+D) instead of a video (body-only models)")
    p.add_argument("--ckpt", required=True, type=Path, action="append",
                   help="a bharnet checkpoint (best.pt / last.pt) or an ONNX file from `bharnet export`; repeat "
                        "it for a score ensemble (e.g. the joint and the bone model)")
    p.add_argument("--window", type=int,
                   help="frames per window (default 64, or a gesture model's own clip length; 0: the whole video)")
    p.add_argument("--stride", type=int, default=32, help="frames between windows (default 32)")
    p.add_argument("--top-k", type=int, default=5, help="actions listed per window (default 5)")
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                   help="answer 'no action' for a window whose best class has a probability under P (0-1; "
                        "default 0: always the best class)")
    add_pose_options(p)
    p.add_argument("--sheet", type=Path, metavar="PNG", help="write a contact sheet of frames with the overlay")
    p.add_argument("--annotate", type=Path, metavar="VIDEO", help="write the video with the overlay (.mp4/.avi)")
    p.add_argument("--stream", action="store_true", help="label as the video plays; VIDEO may be a camera index")
    p.add_argument("--max-frames", type=int, help="with --stream: stop after this many frames")
    p.add_argument("--fps", type=float,
                   help="with --stream: extract this many frames per second of video (every k-th frame), for a CPU "
                        "that cannot keep up with every frame; the window is resampled to the model's length")
    p.add_argument("--realtime", action="store_true",
                   help="with --stream on a file: play it at its frame rate and drop frames when extraction falls "
                        "behind, as a camera would (a camera always streams so)")
    p.add_argument("--threads", type=int, help="CPU threads of the model (default: all)")
    p.add_argument("--workers", type=int,
                   help="processes extracting parts of the video at once (one person only; default with --persons "
                        "1: one per two cores for the tracking extractor, which runs two threads, one per core for "
                        "crops; else 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("convert", help="convert a released checkpoint (Shift-GCN, pyskl, DeGCN, CTR-GCN) into a ready "
                                       "bharnet model",
                       description="Read a checkpoint published with a paper (tensors only, never pickled code), map "
                                   "it onto the matching bharnet architecture (any key or shape that does not fit "
                                   "is an error naming it), and write a bharnet checkpoint carrying its recipe, "
                                   "class names and preprocessing: `bharnet predict --ckpt OUT` then prints real "
                                   "class names. `bharnet models --pretrained` lists what is known.")
    p.add_argument("source", type=Path, help="the released checkpoint file")
    p.add_argument("--from", dest="release", required=True, choices=RELEASE_NAMES,
                   help="which release the file comes from")
    p.add_argument("--dataset", help="the classes it was trained on: ntu60, ntu120 or hagrid (default: from the "
                                     "file name of a known release)")
    p.add_argument("--modality", default="joint", choices=MODALITIES,
                   help="the input stream the weights were trained on (the releases publish joint, bone and motion "
                        "models under similar names; default joint)")
    p.add_argument("--out", required=True, type=Path, help="the bharnet checkpoint to write")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("export", help="export a trained model to ONNX (checked with onnxruntime) or TorchScript",
                       description="Export a checkpoint (best.pt / last.pt of a training run) for deployment. The "
                                   "graph takes body and hand (N, C, T, V, M) float32 tensors, has a dynamic batch "
                                   "axis, and returns the fused logits then one output per branch. Unless "
                                   "--no-check, the file is run on a random batch and compared with PyTorch.")
    p.add_argument("ckpt", type=Path, help="a bharnet checkpoint")
    p.add_argument("--onnx", type=Path, metavar="FILE", help="write an ONNX model here")
    p.add_argument("--torchscript", type=Path, metavar="FILE", help="write a traced TorchScript model here")
    p.add_argument("--part", default="full", choices=("full", "light", "body", "hand"),
                   help="full: the model as trained (default); light: BHaRNet-E's expert-only model; body / hand: "
                        "one expert out of a score-fusion or BHaRNet-E model")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    p.set_defaults(func=cmd_export)
