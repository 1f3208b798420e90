"""The ``bharnet`` command line: ``bharnet <command> --help`` for each command."""
from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parse_value(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _model_kwargs(args: argparse.Namespace) -> dict:
    kwargs: dict = {}
    for name in ("backbone", "num_classes", "num_frames", "base_channels"):
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value
    for item in args.set or []:
        if "=" not in item:
            raise SystemExit(f"bharnet: --set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        kwargs[key.strip()] = _parse_value(value.strip())
    return kwargs


def cmd_models(args: argparse.Namespace) -> int:
    import inspect

    from ..graphs import get_layout, list_layouts
    from ..models import list_backbones, list_models, model_info

    if args.pretrained:
        from ..models.pretrained import list_releases

        print("released checkpoints `bharnet convert SRC --from NAME --out DST.pt` turns into ready models:")
        print(list_releases())
        return 0
    print("models (bharnet.create_model(name, ...)):")
    for name in list_models():
        entry = model_info(name)
        print(f"  {name:16s} {entry.summary}")
        if args.verbose:
            params = inspect.signature(entry.builder).parameters.values()
            print("                   " + ", ".join(f"{p.name}={p.default!r}" for p in params))
            print(f"                   (defined in {entry.source})")
    print("backbones: " + ", ".join(list_backbones()))
    print("layouts:   " + ", ".join(f"{n} ({get_layout(n).num_joints} joints)" for n in list_layouts()))
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from ..models import create_model
    from ..profiler import format_table, paper_table, profile_model

    if args.paper:
        rows = paper_table(backbone=args.backbone or "degcn")
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print("Costs per sample, NTU RGB+D 120 input (T=64, V=25, M=2 persons / 2 hands), batch 1.")
            print("'ours' = paper convention (thop 0.1.1: conv/linear/norm MACs, leaf-layer parameters);")
            print("'full' = all multiply-adds incl. graph aggregation and attention, and every parameter.\n")
            print(format_table(rows))
        return 0
    if not args.model:
        raise SystemExit("bharnet profile: give a model name (see `bharnet models`) or --paper")
    try:
        model = create_model(args.model, **_model_kwargs(args))
    except (TypeError, ValueError) as e:
        raise SystemExit(f"bharnet profile: {e}") from None
    if getattr(model, "expert_only", False):
        model = model.light()
    p = profile_model(model)
    if args.json:
        print(json.dumps(dict(model=args.model, **p.as_dict())))
    else:
        print(f"{args.model}: paper convention {p.paper_gmacs:.4f} GFLOPs (MACs) / {p.paper_params_m:.4f} M params; "
              f"full {p.full_gmacs:.4f} GMACs / {p.params_m:.4f} M params (per sample)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import next_steps, run_demo
    from .common import guarded

    @guarded(lambda a: "demo", "run `bharnet demo` again (with the same options) to resume")
    def run(args: argparse.Namespace) -> int:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        result = run_demo(args.out, seed=args.seed, full=args.full, epochs=args.epochs, subjects=args.subjects,
                          protocol=args.protocol, modality=args.modality, benchmark=args.benchmark,
                          hand_normalization=args.hand_normalization, progress=not args.quiet)
        print()
        print(result.table())
        print(f"\nTop-1 (%) on {result.counts['test']} test clips of unseen subjects ({args.modality}; benchmark "
              f"'{args.benchmark}', hands {args.hand_normalization}-normalised); chance = 1/classes of the group. "
              "CPU-sized models (DeGCN width 16, 32 frames; the paper's: 64, 64).")
        print(f"Wall time {result.timings['total']:.0f} s. Report: {result.out / 'report.md'}; "
              f"confusion matrices: {result.confusion or '(matplotlib missing)'}\n")
        print(next_steps(result.out))
        return 0

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="bharnet", description="Body-Hand action Recognition Networks.")
    parser.add_argument("--version", action="version", version=f"bharnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("models", help="list models, backbones and skeleton layouts",
                       description="List the registered models, backbones and skeleton layouts.")
    p.add_argument("-v", "--verbose", action="store_true", help="show every constructor argument")
    p.add_argument("--pretrained", action="store_true",
                   help="list the released checkpoints `bharnet convert` turns into ready models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("profile", help="parameters and GFLOPs, in the paper's convention and in full",
                       description="Count parameters and multiply-accumulates of a model (batch 1). "
                                   "--paper prints every cost row of the paper beside ours.")
    p.add_argument("model", nargs="?", help="model name (see `bharnet models`)")
    p.add_argument("--paper", action="store_true", help="reproduce the paper's cost tables (Tables I, II and III)")
    p.add_argument("--backbone", help="degcn (default), ctrgcn or stgcn")
    p.add_argument("--num-classes", type=int, help="classes (default 120)")
    p.add_argument("--num-frames", type=int, help="input length T (default 64)")
    p.add_argument("--base-channels", type=int, help="backbone width (default 64)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other model argument, e.g. --set expert_only=True (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("demo", help="the built-in body+hand benchmark: generate, train BHaRNet-E, report (~8 min)",
                       description="Generate the synthetic body + hand benchmark, train the body and hand experts, "
                                   "then BHaRNet-E fine-tuned from them (CPU-sized), and report every branch's "
                                   "accuracy on the body-distinct, hand-distinct and mixed "
                                   "classes, with a confusion-matrix PNG and a markdown report. Rerunning reuses "
                                   "finished stages and resumes an interrupted training.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--full", action="store_true",
                   help="the Table III ablation: also joint training and BHaRNet-P, fine-tuned from the same experts")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per stage and model (default 3)")
    p.add_argument("--modality", default="bone",
                   help="input stream: joint, bone, joint_motion, bone_motion, or joint+bone for both and their "
                        "ensemble (default bone; see docs/tutorial.md)")
    p.add_argument("--benchmark", default="fine", choices=("fine", "basic"),
                   help="fine: 35 confusable classes (default); basic: the first, saturated 20-class benchmark")
    p.add_argument("--hand-normalization", default="wrist", choices=("wrist", "palm"),
                   help="hand coordinates: wrist (each hand centred on its wrist in every frame; default) or palm "
                        "(one origin per clip, the first wrist)")
    p.add_argument("--subjects", type=int, help="synthetic performers (default: the benchmark's, 15 for fine)")
    p.add_argument("--protocol", default="xsub", choices=("xsub", "xview"), help="split (default xsub)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)

    from .data import add_data_parser
    from .deploy import add_deploy_parsers
    from .engine import add_engine_parsers

    add_data_parser(sub)
    add_engine_parsers(sub)
    add_deploy_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
