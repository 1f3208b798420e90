"""The command line's shared error handling: expected failures print one line and exit 1, never a traceback."""
from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from ..checkpoint import CheckpointError
from ..data.sample import DataFormatError

__all__ = ["guarded", "EXPECTED_ERRORS", "add_pose_options", "add_extractor_options", "add_shard_options"]

EXPECTED_ERRORS = (CheckpointError, DataFormatError, FileNotFoundError, FileExistsError, ImportError, ValueError,
                   KeyError)


def guarded(name: Callable[[argparse.Namespace], str], on_interrupt: str):
    """Decorate ``command(args) -> int``: an expected error prints ``bharnet <name>: <message>`` and returns 1;
    Ctrl-C prints ``on_interrupt`` and returns 130. ``name(args)`` gives the command's name."""
    def wrap(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(func)
        def run(args: argparse.Namespace) -> int:
            try:
                return func(args)
            except EXPECTED_ERRORS as e:
                message = e.args[0] if isinstance(e, KeyError) and e.args else e
                print(f"bharnet {name(args)}: {message}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print(f"\nbharnet {name(args)}: interrupted; {on_interrupt}", file=sys.stderr)
                return 130
        return run
    return wrap


def add_pose_options(parser: argparse.ArgumentParser) -> None:
    """The options of skeleton extraction with MediaPipe Pose (``extract-body``, ``predict``)."""
    parser.add_argument("--persons", type=int, default=2, choices=(1, 2), help="people tracked (default 2)")
    parser.add_argument("--mirrored", action="store_true",
                        help="the video is a mirror image (Kinect colour streams: NTU RGB+D, PKU-MMD)")
    parser.add_argument("--hfov", type=float, default=70.0,
                        help="the camera's horizontal field of view in degrees, for the depth (default 70; "
                             "Kinect v2: 84)")
    add_extractor_options(parser)


def add_extractor_options(parser: argparse.ArgumentParser) -> None:
    """How skeletons are taken from video frames (``extract-*``, ``predict``)."""
    parser.add_argument("--extractor", default="tracking", choices=("tracking", "crops"),
                        help="tracking: Pose + Hands tracked on one crop per person (default, real time on 2 "
                             "cores); crops: Hands in static mode on one crop per hand (slower; the previous "
                             "extractor)")
    parser.add_argument("--verbose", action="store_true", help="let MediaPipe's native log lines through")


def add_shard_options(parser: argparse.ArgumentParser) -> None:
    """How a resumable extraction job over many videos is divided (``extract-body``, ``extract-hands``)."""
    parser.add_argument("--shard", default="1/1", help="K/N: process the K-th of N deterministic shards (default 1/1)")
    parser.add_argument("--workers", type=int, help="processes (default: every core)")
    parser.add_argument("--limit", type=int, help="process at most N videos of this shard")
