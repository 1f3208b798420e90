"""The in-memory record every reader produces and every writer consumes.

Array layout is frame-major, ``(T, M, V, C)`` (frames, persons, joints, coordinates), because a sample
is stored as one contiguous run of frames in the dataset store; the feeders transpose to the models'
``(C, T, V, M)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Sample", "DataFormatError"]


class DataFormatError(ValueError):
    """A data file is malformed. The message names the file (and the line, where there is one)."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass
class Sample:
    """One action clip.

    Attributes:
        name: unique sample id (NTU ``S001C001P001R001A001``, NW-UCLA ``a01_s01_e00_v01``, ...).
        label: 0-based class index.
        body: ``(T, M, V, C)`` float32 body joints; absent persons are zero.
        hands: ``(T, 2, 21, C)`` float32 MediaPipe hands, slot 0 = left, slot 1 = right, or None.
        hand_mask: ``(T, 2)`` bool, True where the hand was detected in that frame (False where the
            coordinates were interpolated, held or are zero), or None.
        meta: small JSON-serialisable extras (subject, camera/view, setup, ...), used by split rules.
        extras: further per-frame arrays, each with the body's leading T, e.g. ``body_color``
            ``(T, M, V, 2)`` colour-image pixels of the joints and ``video_frame`` ``(T,)`` (NTU).
    """

    name: str
    label: int
    body: np.ndarray
    hands: np.ndarray | None = None
    hand_mask: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.body = np.asarray(self.body, dtype=np.float32)
        if self.body.ndim != 4:
            raise ValueError(f"sample {self.name}: body must be (T, M, V, C), got shape {self.body.shape}")
        if self.hands is not None:
            self.hands = np.asarray(self.hands, dtype=np.float32)
            if self.hands.ndim != 4 or self.hands.shape[0] != self.body.shape[0]:
                raise ValueError(f"sample {self.name}: hands must be (T, 2, 21, C) with the body's T="
                                 f"{self.body.shape[0]}, got shape {self.hands.shape}")
            if self.hand_mask is None:
                self.hand_mask = np.abs(self.hands).sum(axis=(2, 3)) > 0
        if self.hand_mask is not None:
            self.hand_mask = np.asarray(self.hand_mask, dtype=bool)
            if self.hand_mask.shape != (self.body.shape[0], 2):
                raise ValueError(f"sample {self.name}: hand_mask must be (T, 2), got {self.hand_mask.shape}")

        for key, value in self.extras.items():
            value = np.asarray(value)
            if value.shape[:1] != self.body.shape[:1]:
                raise ValueError(f"sample {self.name}: extra {key!r} must have the body's T={self.body.shape[0]} "
                                 f"frames first, got shape {value.shape}")
            self.extras[key] = value

    @property
    def num_frames(self) -> int:
        return int(self.body.shape[0])


class VideoError(DataFormatError):
    """A video cannot be opened or decoded."""


class NoPersonError(DataFormatError):
    """No person was found in a video (no body in the skeleton file, or Pose found no one)."""
