"""``bharnet train``, ``bharnet test``, ``bharnet ensemble``."""
from __future__ import annotations

import argparse
import json

from .common import guarded

__all__ = ["add_engine_parsers"]

_RESUME_HINT = "`bharnet train -c CONFIG --resume` continues from the last completed epoch"


_guard = guarded(lambda args: args.command, _RESUME_HINT)


def _config(args: argparse.Namespace) -> dict | None:
    """The config with its overrides, or None after printing it (``--print-config``)."""
    from ..engine.config import dump_config, load_config

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(dump_config(config), end="")
        return None
    return config


@_guard
def cmd_train(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 0
    from ..engine.run import fit, run_dir

    report = fit(config, resume=args.resume, overwrite=args.overwrite)
    if report:
        for which in ("last", "best"):
            if which in report:
                r = report[which]["logits"]
                print(f"{which} (epoch {report[which]['epoch'] + 1}): top-1 {100 * r['top1']:.2f}%, "
                      f"top-5 {100 * r['top5']:.2f}%, mean class {100 * r['mean_class']:.2f}%")
        print(f"run folder: {run_dir(config)} (report_best.txt, scores_best.npz, curve.png, best.pt)")
    return 0


@_guard
def cmd_test(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 0
    from ..engine.run import evaluate

    report = evaluate(config, args.ckpt, args.out)
    for branch, r in report.items():
        if isinstance(r, dict):
            print(f"{branch:14s} top-1 {100 * r['top1']:.2f}%  top-5 {100 * r['top5']:.2f}%  "
                  f"mean class {100 * r['mean_class']:.2f}%")
    return 0


@_guard
def cmd_ensemble(args: argparse.Namespace) -> int:
    from ..datasets.classes import resolve_subset
    from ..engine.metrics import accuracy_report, ensemble_scores, save_scores

    names, labels, fused, info = ensemble_scores(args.scores, args.weights, branch=args.branch,
                                                 softmax=args.softmax, allow_missing=args.allow_missing)
    for item in info:
        print(f"{item['path']}: weight {item['weight']:g}, top-1 {100 * item['top1']:.2f}%")
    report = accuracy_report(fused, labels, subset=resolve_subset(args.subset))
    line = (f"ensemble of {len(info)} ({len(names)} samples matched by name): top-1 {100 * report['top1']:.2f}%, "
            f"top-5 {100 * report['top5']:.2f}%, mean class {100 * report['mean_class']:.2f}%")
    subset = [k for k in report if k.startswith("top1_")]
    for k in subset:
        line += f", {k[5:]} {100 * report[k]:.2f}%" if report[k] is not None else ""
    print(line)
    if args.out:
        save_scores(args.out, names.tolist(), labels, {"logits": fused})
        print(f"wrote {args.out}")
    if args.json:
        print(json.dumps(report))
    return 0


@guarded(lambda args: "init-config", "nothing was written")
def cmd_init_config(args: argparse.Namespace) -> int:
    from ..engine.init_config import write_init_config

    config = write_init_config(args.store, args.out, overwrite=args.overwrite, model=args.model, device=args.device,
                               init_body=args.init_body, init_hand=args.init_hand, name=args.name)
    d, a = config["data"], config["model"]["args"]
    print(f"wrote {args.out}: {config['model']['name']} ({a['backbone']}, width {a['base_channels']}) on "
          f"{d['store']} ({d['protocol']}), window {d['window']}, batch {d['batch_size']}, "
          f"{config['trainer']['epochs']} epochs on {config['trainer']['accelerator']}")
    print(f"next: bharnet train -c {args.out}")
    return 0


def add_engine_parsers(sub: argparse._SubParsersAction) -> None:
    from ..engine.init_config import MODELS

    p = sub.add_parser("init-config", help="write a training config sized for a store and this machine",
                       description="Write a complete, commented training config for a dataset store (e.g. from "
                                   "`bharnet data prepare videos`): the window from the clips' lengths, the batch, "
                                   "width and epochs from the data's size and the device, the store's class names. "
                                   "`bharnet train -c OUT` is the next command.")
    p.add_argument("store", help="a dataset store")
    p.add_argument("--model", default="score_fusion", choices=tuple(MODELS),
                   help="expert (body), hand_expert, score_fusion (body + hand, default), bharnet_e, bharnet_e_light")
    p.add_argument("--out", required=True, help="the YAML file to write")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"),
                   help="size it for this device (default: a GPU if torch sees one)")
    p.add_argument("--init-body", help="fine-tune: a trained or converted body expert checkpoint")
    p.add_argument("--init-hand", help="fine-tune: a trained hand expert checkpoint")
    p.add_argument("--name", help="the run's name (default: the store's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_init_config)

    p = sub.add_parser("train", help="train a model from a YAML config",
                       description="Train as a config says (configs/...). Any value can be overridden: "
                                   "bharnet train -c CONFIG optim.lr=0.05 trainer.epochs=30 data.store=PATH. "
                                   "Multi-GPU / multi-node: trainer.devices=N trainer.strategy=ddp (under torchrun "
                                   "or SLURM as usual); CPU processes use gloo.")
    p.add_argument("-c", "--config", required=True, help="YAML config")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=0.05")
    p.add_argument("--print-config", action="store_true", help="print the full config and exit")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start the run folder's training afresh")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("test", help="evaluate a checkpoint on the config's test split",
                       description="Evaluate a checkpoint (.ckpt from training or a bharnet .pt) and write "
                                   "scores (by sample name) and a report next to it (or into --out).")
    p.add_argument("-c", "--config", required=True, help="YAML config the model was trained with")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.store=PATH")
    p.add_argument("--ckpt", required=True, help="checkpoint to evaluate (e.g. runs/NAME/best.pt)")
    p.add_argument("--out", help="folder for scores and report (default: beside the checkpoint)")
    p.add_argument("--print-config", action="store_true", help="print the full config and exit")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("ensemble", help="fuse score files of several streams (J, B, JM, BM, RGB)",
                       description="Weighted sum of score files (from bharnet train/test), matching samples by "
                                   "name, never by order.")
    p.add_argument("scores", nargs="+", help="score files (.npz)")
    p.add_argument("--weights", type=float, nargs="+", help="one weight per file (default: all 1)")
    p.add_argument("--branch", default="logits", help="which output of each file (default: the fused logits)")
    p.add_argument("--softmax", action="store_true", help="fuse probabilities instead of raw scores")
    p.add_argument("--subset", help="also report top-1 on a class subset (paper_hand, hand_window, finger_centric)")
    p.add_argument("--allow-missing", action="store_true", help="fuse only the samples every file has")
    p.add_argument("--out", help="write the fused scores (.npz)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_ensemble)
