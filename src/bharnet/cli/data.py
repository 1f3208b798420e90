"""``bharnet data ...``: prepare, extract-body, extract-roi, extract-hands, synth, info, show, import-pyskl,
export-pyskl."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..data.hands import NORMALIZATIONS as HAND_NORMALIZATIONS
from .common import add_extractor_options, add_pose_options, add_shard_options, guarded

__all__ = ["add_data_parser"]

def _guard(func):
    @guarded(lambda args: f"data {args.data_command}", "run the same command again to resume")
    def run(args: argparse.Namespace) -> int:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        return func(args)
    run.__name__ = func.__name__
    return run


@_guard
def cmd_prepare(args: argparse.Namespace) -> int:
    from ..datasets.prepare import prepare_ntu, prepare_pku, prepare_ucla

    common = dict(overwrite=args.overwrite, progress=not args.quiet, workers=args.workers)
    if args.hands is not None and not Path(args.hands).is_dir():
        raise FileNotFoundError(f"--hands {args.hands}: no such folder (the output of `bharnet data extract-hands`)")
    if args.missing_list is not None and not Path(args.missing_list).is_file():
        raise FileNotFoundError(f"--missing-list {args.missing_list}: no such file")
    if args.dataset != "videos" and (args.videos_root or args.list_file):
        raise ValueError(f"ROOT and --list are for `prepare videos`; {args.dataset} takes --skeletons / --root")
    if args.dataset in ("ntu60", "ntu120"):
        if not args.skeletons:
            raise ValueError("--skeletons DIR (the folder of .skeleton files) is required for NTU")
        hand_options = dict(normalization=args.hand_normalization)
        report = prepare_ntu(args.skeletons, args.out, dataset=args.dataset, missing_list=args.missing_list,
                             single_actor=args.single_actor, normalization=args.normalization,
                             exact_intervals=args.exact_intervals, hands_dir=args.hands, hand_options=hand_options,
                             limit=args.limit, source=args.source, **common)
    elif args.dataset == "videos":
        from ..datasets.prepare import prepare_videos
        from ..video import filter_native_logs
        from ..video.extract import parse_shard

        filter_native_logs(getattr(args, "verbose", False))  # MediaPipe's C++ log lines, workers' included

        if (args.videos_root is None) == (args.list_file is None):
            raise ValueError("videos: give the folder of class folders (ROOT) or --list FILE.csv, one of the two")
        report = prepare_videos(args.videos_root, args.out, list_file=args.list_file, work_dir=args.work,
                                persons=args.persons, mirrored=args.mirrored, hfov=args.hfov, fps=args.fps,
                                test_fraction=args.test_fraction, seed=args.seed,
                                normalization=args.normalization,
                                hand_options=dict(normalization=args.hand_normalization),
                                shard=parse_shard(args.shard), **common)
    elif args.dataset == "nw-ucla":
        if not args.root:
            raise ValueError("--root DIR (holding all_sqe/ and val_label.json) is required for NW-UCLA")
        report = prepare_ucla(args.root, args.out, test_list=args.test_list, hands_dir=args.hands,
                              hand_options=dict(normalization=args.hand_normalization), **common)
    else:
        if not args.root:
            raise ValueError("--root DIR (holding skeleton/, label/ and the split files) is required for PKU-MMD")
        report = prepare_pku(args.root, args.out, hands_dir=args.hands,
                             hand_options=dict(normalization=args.hand_normalization), **common)
    print(report.format())
    return 0


def _extract(args: argparse.Namespace, **options) -> int:
    """The shared body of extract-hands and extract-body: check the inputs, run, report."""
    from ..utils.cpu import default_workers
    from ..video.extract import extract_dataset, parse_shard

    videos = args.videos[0] if len(args.videos) == 1 and Path(args.videos[0]).is_dir() else args.videos
    for v in ([] if isinstance(videos, str) else videos):
        if not Path(v).exists():
            raise FileNotFoundError(f"{v}: no such video file or directory")
    from ..video import filter_native_logs

    filter_native_logs(getattr(args, "verbose", False))
    report = extract_dataset(videos, args.out, shard=parse_shard(args.shard), workers=args.workers or default_workers(),
                             mirrored=args.mirrored, progress=not args.quiet, limit=args.limit, **options)
    print(report.format())
    if report.failed:
        print(f"failures are listed in {Path(args.out) / 'failures.log'}; rerun to retry them")
    # nothing produced and something failed: a script must be able to tell
    return 1 if report.failed and not (report.done or report.skipped) else 0


@_guard
def cmd_extract_hands(args: argparse.Namespace) -> int:
    options = dict(crop_scale=args.crop_scale, max_distance=args.max_distance, extractor=args.extractor)
    if args.extractor == "crops":
        options.update(both_hands_crop=args.both_hands_crop)
        if args.min_confidence is not None:
            options.update(min_detection_confidence=args.min_confidence)
    else:
        if args.both_hands_crop:
            raise ValueError("--both-hands-crop is an option of --extractor crops")
        if args.min_confidence is not None:
            options.update(hand_detection_confidence=args.min_confidence)
    return _extract(args, skeleton_dir=args.skeletons, detector_options=options)


@_guard
def cmd_extract_body(args: argparse.Namespace) -> int:
    code = _extract(args, body=dict(max_persons=args.persons, hfov=args.hfov),
                    detector_options=dict(extractor=args.extractor))
    print(f"next: bharnet data prepare ntu120 --source pose --skeletons {args.out} --out <store>")
    return code


@_guard
def cmd_extract_roi(args: argparse.Namespace) -> int:
    from ..video.roi import extract_roi

    report = extract_roi(args.store, args.videos, progress=not args.quiet, limit=args.limit)
    print(report.format())
    if report.failed:
        print("rerun to retry the failed samples")
    return 0


@_guard
def cmd_synth(args: argparse.Namespace) -> int:
    from ..datasets.synthetic import generate_store

    path = generate_store(args.out, seed=args.seed, subjects=args.subjects, repetitions=args.repetitions,
                          benchmark=args.benchmark, hand_normalization=args.hand_normalization,
                          overwrite=args.overwrite, progress=not args.quiet)
    print(f"wrote {path}; `bharnet data info {path}` summarises it")
    return 0


@_guard
def cmd_info(args: argparse.Namespace) -> int:
    from ..data.store import DatasetStore

    store = DatasetStore(args.store)
    if args.verify:
        store.verify()
    summary = store.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{summary['path']}: {summary['samples']} samples, {summary['frames']} frames, "
          f"{summary['classes']} classes")
    print(f"fields: {', '.join(summary['fields'])}")
    info = summary["info"]
    if info:
        print("prepared with: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    for protocol, counts in summary["splits"].items():
        print(f"split {protocol}: train {counts['train']}, test {counts['test']}")
    per_class = summary["per_class"]
    print(f"samples per class: min {min(per_class)}, max {max(per_class)}")
    print("  " + " ".join(f"{i}:{n}" for i, n in enumerate(per_class)))
    if "hands" in summary:
        h = summary["hands"]
        print(f"hands detected in {h['detected_frames_left']:.1%} (left) / {h['detected_frames_right']:.1%} "
              f"(right) of all frames; samples with no left hand at all: {h['samples_without_left']}, "
              f"no right hand: {h['samples_without_right']}")
    if args.verify:
        print("checksums: all files match the manifest")
    return 0


@_guard
def cmd_show(args: argparse.Namespace) -> int:
    from ..data.store import DatasetStore
    from ..datasets.show import show_sample

    store = DatasetStore(args.store)
    index = int(args.sample) if args.sample.lstrip("-").isdigit() else store.index_of(args.sample)
    try:
        sample = store[index]
    except IndexError as e:  # the store's own message, as a user error rather than a traceback
        raise ValueError(str(e)) from None
    path = show_sample(sample, args.out, num_frames=args.frames, video=args.video, hands_file=args.hands_file)
    print(f"wrote {path}")
    return 0


@_guard
def cmd_import_pyskl(args: argparse.Namespace) -> int:
    from ..data.store import write_store
    from ..datasets import pyskl

    data = pyskl.load(args.pickle)
    samples = pyskl.to_samples(data)
    split_names = pyskl.splits(data)
    membership: dict[str, dict[str, str]] = {}
    protocols = []
    for key, names in split_names.items():
        protocol, _, part = key.rpartition("_")
        which = {"train": "train", "val": "test", "test": "test"}.get(part)
        if not protocol or which is None:
            continue
        if protocol not in protocols:
            protocols.append(protocol)
        for n in names:
            membership.setdefault(n, {})[protocol] = which
    write_store(args.out, ((s, membership.get(s.name, {})) for s in samples), splits=protocols,
                num_classes=args.num_classes, info=dict(source=f"pyskl pickle {Path(args.pickle).name}"),
                overwrite=args.overwrite)
    print(f"wrote {len(samples)} samples to {args.out} (splits: {', '.join(protocols) or 'none'})")
    return 0


@_guard
def cmd_export_pyskl(args: argparse.Namespace) -> int:
    from ..data.store import DatasetStore
    from ..datasets import pyskl

    store = DatasetStore(args.store)
    samples = [store[i] for i in range(len(store))]
    split = {}
    for protocol in store.protocols:
        for which, suffix in (("train", "train"), ("test", "val")):
            split[f"{protocol}_{suffix}"] = [str(store.names[i]) for i in store.split(protocol, which)]
    for s in samples:  # per-frame extras are bharnet-specific; pyskl keeps joints, label and name
        s.extras = {}
    pyskl.save(args.out, pyskl.from_samples(samples, split))
    print(f"wrote {len(samples)} annotations to {args.out}")
    return 0


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="prepare datasets, extract hands, inspect stores",
                          description="Dataset tools: raw files -> dataset store, MediaPipe hands from RGB, "
                                      "store statistics and pictures, pyskl pickle import/export.")
    dsub = data.add_subparsers(dest="data_command", metavar="data_command")

    p = dsub.add_parser("prepare", help="convert a raw dataset into a store",
                        description="Convert NTU RGB+D 60/120 (.skeleton files), NW-UCLA (CTR-GCN json) or PKU-MMD "
                                    "Part I into a memory-mapped dataset store with its split protocols.")
    p.add_argument("dataset", choices=("ntu60", "ntu120", "nw-ucla", "pku-mmd", "videos"),
                   help="which dataset the files are; videos: your own, one sub-folder per class (or --list)")
    p.add_argument("videos_root", nargs="?", metavar="ROOT",
                   help="videos: the folder with one sub-folder of videos per class")
    p.add_argument("--out", required=True, help="store directory to write")
    p.add_argument("--list", dest="list_file", help="videos: a CSV path,label[,subject] instead of class folders "
                                                    "(paths relative to the CSV; subject: a cross-subject split)")
    p.add_argument("--test-fraction", type=float, default=0.25,
                   help="videos: share of the clips (or, by subject, of the subjects) held out (default 0.25)")
    p.add_argument("--seed", type=int, default=0, help="videos: the split's seed (default 0)")
    p.add_argument("--work", help="videos: folder of the per-clip extraction files (default <out>.extract; a rerun "
                                  "skips the clips already there)")
    p.add_argument("--shard", default="1/1", help="videos: K/N extracts the K-th of N shards and writes no store; "
                                                  "run once more without it to write the store")
    p.add_argument("--persons", type=int, default=1, choices=(1, 2), help="videos: people tracked (default 1)")
    p.add_argument("--mirrored", action="store_true", help="videos: they are mirror images (a selfie camera)")
    p.add_argument("--hfov", type=float, default=70.0,
                   help="videos: the camera's horizontal field of view in degrees, for the depth (default 70)")
    p.add_argument("--fps", type=float, metavar="N",
                   help="videos: extract every k-th frame, k = round(video fps / N) (default: every frame); e.g. the "
                        "rate of `predict --stream --fps N`")
    p.add_argument("--skeletons", help="NTU: folder of .skeleton files (or, with --source pose, of extract-body files)")
    p.add_argument("--source", default="kinect", choices=("kinect", "pose"),
                   help="NTU: kinect (.skeleton files, default) or pose (MediaPipe skeletons from extract-body)")
    p.add_argument("--missing-list", help="NTU: the official samples_with_missing_skeletons.txt to exclude")
    p.add_argument("--hands", help="folder of per-video hand files from `bharnet data extract-hands`")
    p.add_argument("--hand-normalization", default="wrist", choices=HAND_NORMALIZATIONS,
                   help="hand coordinates: palm units with each hand's wrist at the origin in every frame (wrist: "
                        "hand-centric, default), palm units centred on the clip's first wrist (palm), image heights, "
                        "pyskl's PreNormalize2D per hand (pyskl-2d: its gesture model's input; train with "
                        "sampling: uniform), pixels (none)")
    p.add_argument("--single-actor", choices=("zeros", "duplicate"),
                   help="fill actor 2 of one-actor NTU samples (default: zeros for ntu60, duplicate for ntu120, "
                        "as the reference scripts)")
    p.add_argument("--normalization", default="reference", choices=("reference", "pyskl", "2s-agcn"),
                   help="NTU body: CTR-GCN/DeGCN centring (default), pyskl PreNormalize3D, or the 2s-AGCN / "
                        "Shift-GCN pipeline (300 frames, repeated; per-frame spine centring; two rotations), "
                        "which the released Shift-GCN weights expect")
    p.add_argument("--exact-intervals", action="store_true",
                   help="NTU: place each body at the frames it really appears (the reference counts them "
                        "consecutively)")
    p.add_argument("--root", help="NW-UCLA / PKU-MMD: dataset folder")
    p.add_argument("--test-list", help="NW-UCLA: official val_label.json to check the test split against")
    p.add_argument("--workers", type=int, help="processes (default: every core)")
    p.add_argument("--limit", type=int, help="NTU: convert only the first N files")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)

    p = dsub.add_parser("extract-body", help="NTU-25 body skeletons (MediaPipe Pose) and hands from RGB videos",
                        description="Build training data from videos alone: MediaPipe Pose mapped to the NTU RGB+D "
                                    "25-joint Kinect layout (camera-space metres) and MediaPipe Hands, one "
                                    "<video>.npz per video (resumable, shardable). Then `bharnet data prepare ntu120 "
                                    "--source pose --skeletons OUT`: a model trained on these sees at training "
                                    "exactly the skeletons `bharnet predict` gives it.")
    p.add_argument("videos", nargs="+", help="a folder of videos or video files")
    p.add_argument("--out", required=True, help="output folder")
    add_pose_options(p)
    add_shard_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract_body)

    p = dsub.add_parser("extract-roi", help="BHaRNet-M's ST-ROI training images from the samples' RGB videos",
                        description="For every sample of a store (prepared from .skeleton or extract-body files), "
                                    "build MMNet's spatio-temporal ROI image (5 frames x 5 body-part patches) from "
                                    "its video into <store>/roi/ (resumable). Train BHaRNet-M with "
                                    "data.streams=[body,hand,roi].")
    p.add_argument("store", help="dataset store (from `bharnet data prepare`)")
    p.add_argument("--videos", required=True, help="folder of the videos (<name>_rgb.avi or <name>.<ext>)")
    p.add_argument("--limit", type=int, help="process at most N samples")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract_roi)

    p = dsub.add_parser("extract-hands", help="MediaPipe hands from RGB videos (resumable, shardable)",
                        description="Detect the two hands of the most active person in every frame with MediaPipe "
                                    "Hands (tracked on one crop around the body's hands, or with --extractor crops "
                                    "one crop per hand), writing OUT/<video>.npz per video. "
                                    "A rerun skips finished videos; --shard K/N splits the work across machines.")
    p.add_argument("videos", nargs="+", help="a folder of videos or video files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--skeletons", help="folder of NTU .skeleton files to guide the crops (else MediaPipe Pose)")
    p.add_argument("--mirrored", action="store_true",
                   help="without --skeletons: the videos are mirror images (Kinect v2 colour: NTU, PKU-MMD), so "
                        "MediaPipe Pose's left/right are swapped to the person's own")
    add_shard_options(p)
    p.add_argument("--crop-scale", type=float, default=2.5, help="crop side in torso lengths (default 2.5)")
    p.add_argument("--max-distance", type=float, default=1.5,
                   help="reject a hand farther than this many torso lengths from its guide (default 1.5)")
    p.add_argument("--both-hands-crop", action="store_true",
                   help="--extractor crops: also search one crop holding both hands")
    p.add_argument("--min-confidence", type=float,
                   help="MediaPipe's palm detection confidence (default 0.5)")
    add_extractor_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract_hands)

    p = dsub.add_parser("synth", help="generate the synthetic body + hand benchmark (the demo's data)",
                        description="Render the procedural body + hand action benchmark (body-distinct, "
                                    "hand-distinct and mixed classes) into a dataset store; deterministic from --seed.")
    p.add_argument("--out", required=True, help="store directory to write")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same store (default 0)")
    p.add_argument("--benchmark", default="fine", choices=("fine", "basic"),
                   help="fine: 35 confusable classes, 15 performers (default, the demo's); basic: the first "
                        "benchmark, 20 classes, 24 performers, on which fused models reach 100%%")
    p.add_argument("--subjects", type=int,
                   help="performers, at least 3 (x 3 views x classes clips; default: the benchmark's, 15 / 24)")
    p.add_argument("--hand-normalization", default="wrist", choices=HAND_NORMALIZATIONS,
                   help="hand coordinates, as in `prepare` (default wrist)")
    p.add_argument("--repetitions", type=int, default=1, help="clips per performer, view and class (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = dsub.add_parser("info", help="counts per split and class, hand statistics",
                        description="Summarise a dataset store; --verify also checks every file's checksum.")
    p.add_argument("store", help="dataset store")
    p.add_argument("--verify", action="store_true", help="recompute the SHA-256 of every file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = dsub.add_parser("show", help="draw a sample's body and hands over time (PNG)",
                        description="Draw one sample (by name or index) as a contact sheet; with --video the body "
                                    "is drawn over the RGB frames too.")
    p.add_argument("store", help="dataset store")
    p.add_argument("sample", help="sample name or index")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--video", help="the sample's RGB video, to overlay")
    p.add_argument("--hands-file", help="the video's raw hand file (extract-hands output), to overlay")
    p.add_argument("--frames", type=int, default=6, help="time steps to draw (default 6)")
    p.set_defaults(func=cmd_show)

    p = dsub.add_parser("import-pyskl", help="pyskl/mmaction2 annotation pickle -> store",
                        description="Load a pyskl/mmaction2 skeleton pickle with a restricted unpickler (plain "
                                    "containers and numpy arrays only) and write it as a store; split keys "
                                    "'<protocol>_train' / '<protocol>_val' become the store's protocols.")
    p.add_argument("pickle", help="pyskl/mmaction2 annotation pickle (.pkl)")
    p.add_argument("--out", required=True, help="store directory to write")
    p.add_argument("--num-classes", type=int, help="default: max label + 1")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.set_defaults(func=cmd_import_pyskl)

    p = dsub.add_parser("export-pyskl", help="store -> pyskl/mmaction2 annotation pickle",
                        description="Write a store in the pyskl/mmaction2 annotation format (keypoint [M,T,V,C], "
                                    "splits '<protocol>_train' / '<protocol>_val'; hands under the bharnet keys "
                                    "'hand_keypoint' / 'hand_mask', which pyskl ignores).")
    p.add_argument("store", help="dataset store")
    p.add_argument("--out", required=True, help="annotation pickle to write (.pkl)")
    p.set_defaults(func=cmd_export_pyskl)

    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
