"""The synthetic benchmarks' classes: each action is a body motion and a right-hand shape, grouped into
body-distinct, hand-distinct and mixed classes; a :class:`Benchmark` is a class list with the difficulty of its
rendering (hand misses, occlusions, slot swaps, execution noise). What the classes *look like* is
:mod:`bharnet.datasets.kinematics`; how a clip is rendered is :mod:`bharnet.datasets.synthetic`. Kept apart so
that class names (:mod:`bharnet.datasets.classes`) need no generator.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Action", "Benchmark", "BENCHMARKS", "DEFAULT_BENCHMARK", "get_benchmark", "ACTIONS", "CLASS_NAMES",
           "GROUPS"]


@dataclass(frozen=True)
class Action:
    """One class: a body motion and the right hand's shape (the left hand hangs relaxed)."""

    name: str
    group: str  # "body", "hand" or "mixed"
    body: str  # one of kinematics.BODY_MOTIONS
    hand: str  # a key of kinematics.SHAPES, "snap" or "count"


def _mixed(arms: dict[str, str], shapes: tuple[str, ...], names: dict[tuple[str, str], str]) -> tuple[Action, ...]:
    return tuple(Action(names[arm, shape], "mixed", arm, shape) for arm in arms for shape in shapes)


_BASIC_ACTIONS: tuple[Action, ...] = (
    Action("kick forward", "body", "kick", "relaxed"),
    Action("side kick", "body", "side_kick", "relaxed"),
    Action("knee raise (left)", "body", "knee_raise", "relaxed"),
    Action("squat down", "body", "squat", "relaxed"),
    Action("jump up", "body", "jump", "relaxed"),
    Action("bow", "body", "bow", "relaxed"),
    Action("march in place", "body", "march", "relaxed"),
    Action("make ok sign", "hand", "raise_hand", "ok"),
    Action("make victory sign", "hand", "raise_hand", "victory"),
    Action("thumb up", "hand", "raise_hand", "thumb_up"),
    Action("show fist", "hand", "raise_hand", "fist"),
    Action("point up (number one)", "hand", "raise_hand", "point"),
    Action("snap fingers", "hand", "raise_hand", "snap"),
    Action("count to five", "hand", "raise_hand", "count"),
    Action("point forward", "mixed", "reach", "point"),
    Action("stop sign (palm forward)", "mixed", "reach", "open"),
    Action("punch forward", "mixed", "reach", "fist"),
    Action("shush (finger to lips)", "mixed", "to_face", "point"),
    Action("cover mouth (palm)", "mixed", "to_face", "open"),
    Action("thinking (fist to chin)", "mixed", "to_face", "fist"),
)

_FINE_ACTIONS: tuple[Action, ...] = (
    Action("kick forward", "body", "kick", "relaxed"),
    Action("side kick", "body", "side_kick", "relaxed"),
    Action("step forward", "body", "step_forward", "relaxed"),
    Action("knee raise (left)", "body", "knee_raise", "relaxed"),
    Action("knee raise (right)", "body", "knee_raise_r", "relaxed"),
    Action("squat down", "body", "squat", "relaxed"),
    Action("half squat", "body", "half_squat", "relaxed"),
    Action("jump up", "body", "jump", "relaxed"),
    Action("bow", "body", "bow", "relaxed"),
    Action("march in place", "body", "march", "relaxed"),
    Action("make ok sign", "hand", "raise_hand", "ok"),
    Action("pinch (thumb to index)", "hand", "raise_hand", "pinch"),
    Action("make victory sign", "hand", "raise_hand", "victory"),
    Action("show three fingers", "hand", "raise_hand", "three"),
    Action("show four fingers", "hand", "raise_hand", "four"),
    Action("point up (number one)", "hand", "raise_hand", "point"),
    Action("L sign (thumb and index)", "hand", "raise_hand", "l_sign"),
    Action("rock sign (index and pinky)", "hand", "raise_hand", "rock"),
    Action("call me (thumb and pinky)", "hand", "raise_hand", "call"),
    Action("show fist", "hand", "raise_hand", "fist"),
    Action("thumb up", "hand", "raise_hand", "thumb_up"),
    Action("snap fingers", "hand", "raise_hand", "snap"),
    Action("count to five", "hand", "raise_hand", "count"),
) + _mixed({"reach": "forward", "to_face": "face", "raise_high": "up"}, ("point", "open", "fist", "victory"), {
    ("reach", "point"): "point forward", ("reach", "open"): "stop sign (palm forward)",
    ("reach", "fist"): "punch forward", ("reach", "victory"): "victory sign forward",
    ("to_face", "point"): "shush (finger to lips)", ("to_face", "open"): "cover mouth (palm)",
    ("to_face", "fist"): "thinking (fist to chin)", ("to_face", "victory"): "victory sign at the face",
    ("raise_high", "point"): "point up high", ("raise_high", "open"): "raise open hand",
    ("raise_high", "fist"): "raise fist (cheer)", ("raise_high", "victory"): "raise victory sign"})


@dataclass(frozen=True)
class Benchmark:
    """A class list and the difficulty of its rendering.

    Attributes:
        actions: the classes, in label order.
        subjects: default number of performers.
        miss_rates: short-burst miss rate of a (raised, hanging) hand; the hand on the far side of a turned
            body misses ``far_side`` more often.
        occlusion: probability, per hand and clip, of one long dropout of 10-30 frames.
        swap: probability, per clip, of the two slots swapped for 2-7 frames.
        execution: per-clip standard deviation of each finger's curl (and of the spread) around the shape.
        blur: range of the per-clip fraction by which the seen shape regresses toward the relaxed hand.
    """

    name: str
    actions: tuple[Action, ...]
    subjects: int
    miss_rates: tuple[float, float]
    far_side: float = 0.1
    occlusion: float = 0.0
    swap: float = 0.3
    execution: float = 0.0
    blur: tuple[float, float] = (0.0, 0.0)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.actions)

    @property
    def groups(self) -> dict[str, tuple[int, ...]]:
        return {g: tuple(i for i, a in enumerate(self.actions) if a.group == g) for g in ("body", "hand", "mixed")}


BENCHMARKS: dict[str, Benchmark] = {
    "fine": Benchmark("fine", _FINE_ACTIONS, subjects=15, miss_rates=(0.10, 0.15), occlusion=0.3, swap=0.1,
                      execution=0.12, blur=(0.1, 0.4)),
    "basic": Benchmark("basic", _BASIC_ACTIONS, subjects=24, miss_rates=(0.12, 0.30)),
}
DEFAULT_BENCHMARK = "fine"


def get_benchmark(name: str | Benchmark) -> Benchmark:
    if isinstance(name, Benchmark):
        return name
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown synthetic benchmark {name!r}; choose from {', '.join(BENCHMARKS)}") from None


# The default benchmark's classes (the demo's).
ACTIONS: tuple[Action, ...] = BENCHMARKS[DEFAULT_BENCHMARK].actions
CLASS_NAMES: tuple[str, ...] = BENCHMARKS[DEFAULT_BENCHMARK].class_names
GROUPS: dict[str, tuple[int, ...]] = BENCHMARKS[DEFAULT_BENCHMARK].groups
