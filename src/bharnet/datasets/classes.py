"""Class names and named class subsets of the benchmarks."""
from __future__ import annotations

from .synthetic_actions import BENCHMARKS as _SYNTHETIC

__all__ = ["CLASS_NAMES", "SUBSETS", "class_names", "resolve_subset"]

_NTU120 = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up", "clapping", "reading", "writing", "tear up paper", "wear jacket", "take off jacket",
    "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket", "hopping",
    "jump up", "make a phone call", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)", "rub two hands together",
    "nod head/bow", "shake head", "wipe face", "salute", "put the palms together", "cross hands in front",
    "sneeze/cough", "staggering", "falling", "touch head (headache)", "touch chest", "touch back", "touch neck",
    "nausea or vomiting", "use a fan/feeling warm", "punching/slapping other person", "kicking other person",
    "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other", "put on headphone", "take off headphone",
    "shoot at the basket", "bounce ball", "tennis bat swing", "juggling table tennis balls", "hush (quite)",
    "flick hair", "thumb up", "thumb down", "make ok sign", "make victory sign", "staple book", "counting money",
    "cutting nails", "cutting paper (using scissors)", "snapping fingers", "open bottle", "sniff (smell)",
    "squat down", "toss a coin", "fold paper", "ball up paper", "play magic cube", "apply cream on face",
    "apply cream on hand back", "put on bag", "take off bag", "put something into a bag",
    "take something out of a bag", "open a box", "move heavy objects", "shake fist", "throw up cap/hat",
    "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot", "butt kicks",
    "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person", "grab other person's stuff",
    "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)
# pyskl's GestureDataset.label_names (Jester's 27 dynamic gestures, then HaGRID's 13 static ones).
_HAGRID = ("Doing other things", "Drumming Fingers", "No gesture", "Pulling Hand In", "Pulling Two Fingers In",
           "Pushing Hand Away", "Pushing Two Fingers Away", "Rolling Hand Backward", "Rolling Hand Forward",
           "Shaking Hand", "Sliding Two Fingers Down", "Sliding Two Fingers Left", "Sliding Two Fingers Right",
           "Sliding Two Fingers Up", "Stop Sign", "Swiping Down", "Swiping Left", "Swiping Right", "Swiping Up",
           "Dislike", "Like", "Turning Hand Clockwise", "Turning Hand Counterclockwise", "Zooming In With Full Hand",
           "Zooming In With Two Fingers", "Zooming Out With Full Hand", "Zooming Out With Two Fingers", "Call",
           "Fist", "Four", "Mute", "OK", "One", "Palm", "Peace", "Rock", "Three-Middle", "Three-Left", "Two Up",
           "No Gesture")
_NW_UCLA = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
            "donning", "doffing", "throw", "carry")

CLASS_NAMES: dict[str, tuple[str, ...]] = {"ntu120": _NTU120, "ntu60": _NTU120[:60], "nw_ucla": _NW_UCLA,
                                          "hagrid": _HAGRID,
                                          "synthetic": _SYNTHETIC["fine"].class_names,
                                          "synthetic_basic": _SYNTHETIC["basic"].class_names}

# 0-based NTU indices. "paper_hand" are the four the paper names (§IV-C, Fig. 5); "hand_window" the 10-class
# window most consistent with Fig. 5 (an interpretation); "finger_centric" a candidate pool (unverified).
SUBSETS: dict[str, tuple[int, ...]] = {
    "paper_hand": (70, 71, 74, 76),
    "hand_window": tuple(range(68, 78)),
    "finger_centric": (30, 65, 66, 68, 69, 70, 71, 72, 73, 74, 75, 76, 80, 81, 82, 83, 119),
    # the groups of the built-in synthetic benchmarks (bharnet.datasets.synthetic)
    **{f"synthetic_{group}": classes for group, classes in _SYNTHETIC["fine"].groups.items()},
    **{f"synthetic_basic_{group}": classes for group, classes in _SYNTHETIC["basic"].groups.items()},
}


def class_names(spec: str | list[str] | None, num_classes: int) -> list[str]:
    """Names for ``num_classes`` classes: a dataset name, an explicit list, or numbers."""
    if spec is None:
        return [str(i) for i in range(num_classes)]
    if spec == "synthetic" and num_classes == len(CLASS_NAMES["synthetic_basic"]):
        spec = "synthetic_basic"  # a 20-class run of the first benchmark, from before "fine" was the default
    names = list(CLASS_NAMES[spec]) if isinstance(spec, str) else list(spec)
    if len(names) < num_classes:
        raise ValueError(f"class names {spec!r} cover {len(names)} classes, the model has {num_classes}")
    return names[:num_classes]


def resolve_subset(spec: str | list[int] | None) -> tuple[str, list[int]] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in SUBSETS:
            raise ValueError(f"unknown class subset {spec!r}; built-in: {', '.join(SUBSETS)} (or give a list)")
        return spec, list(SUBSETS[spec])
    return "subset", [int(c) for c in spec]
