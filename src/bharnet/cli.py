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

    from .graphs import get_layout, list_layouts
    from .models import list_backbones, list_models, model_info

    print("models (bharnet.create_model(name, ...)):")
    for name in list_models():
        entry = model_info(name)
        print(f"  {name:16s} {entry.summary}")
        if args.verbose:
            params = inspect.signature(entry.builder).parameters.values()
            print("                   " + ", ".join(f"{p.name}={p.default!r}" for p in params))
    print("backbones: " + ", ".join(list_backbones()))
    print("layouts:   " + ", ".join(f"{n} ({get_layout(n).num_joints} joints)" for n in list_layouts()))
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from .models import create_model
    from .profiler import format_table, paper_table, profile_model

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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="bharnet", description="Body-Hand action Recognition Networks.")
    parser.add_argument("--version", action="version", version=f"bharnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("models", help="list models, backbones and skeleton layouts",
                       description="List the registered models, backbones and skeleton layouts.")
    p.add_argument("-v", "--verbose", action="store_true", help="show every constructor argument")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("profile", help="parameters and GFLOPs, in the paper's convention and in full",
                       description="Count parameters and multiply-accumulates of a model (batch 1). "
                                   "--paper prints every cost row of the paper beside ours.")
    p.add_argument("model", nargs="?", help="model name (see `bharnet models`)")
    p.add_argument("--paper", action="store_true", help="reproduce the paper's cost tables (Tables I and III)")
    p.add_argument("--backbone", help="degcn (default), ctrgcn or stgcn")
    p.add_argument("--num-classes", type=int, help="classes (default 120)")
    p.add_argument("--num-frames", type=int, help="input length T (default 64)")
    p.add_argument("--base-channels", type=int, help="backbone width (default 64)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other model argument, e.g. --set expert_only=True (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_profile)

    from .data.cli import add_data_parser
    from .engine.cli import add_engine_parsers

    add_data_parser(sub)
    add_engine_parsers(sub)
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
