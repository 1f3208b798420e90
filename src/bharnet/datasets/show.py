"""A contact sheet of one sample: body and hand skeletons over time, optionally over the RGB frames.

Needs matplotlib (``pip install "bharnet[viz]"``); the RGB overlay also needs OpenCV (``bharnet[extract]``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.sample import Sample
from ..graphs import get_layout
from ..utils.plotting import pyplot, save_figure

__all__ = ["show_sample"]

_SLOT_COLOURS = ("tab:blue", "tab:red")  # left, right


def _draw_skeleton(ax, xy: np.ndarray, pairs, colour: str, alpha: float = 1.0, marker_size: float = 6) -> None:
    """``xy`` ``(V, 2)``; draws the bones ``pairs`` (child, parent) and the joints."""
    for a, b in pairs:
        if a != b:
            ax.plot([xy[a, 0], xy[b, 0]], [xy[a, 1], xy[b, 1]], "-", color=colour, alpha=alpha, lw=1.5)
    ax.scatter(xy[:, 0], xy[:, 1], s=marker_size, color=colour, alpha=alpha, zorder=3)


def show_sample(sample: Sample, out: str | Path, *, num_frames: int = 6, body_layout: str | None = None,
                video: str | Path | None = None, hands_file: str | Path | None = None,
                class_name: str | None = None) -> Path:
    """Write a PNG: one column per time step; rows = body (x-y), hands (x-y, detected solid / filled
    faint), and with ``video`` the RGB frame with the body's colour-image joints and, with ``hands_file``
    (the per-video extraction output), the raw MediaPipe hands.

    Returns the path written.
    """
    plt = pyplot("drawing")
    out = Path(out)
    T = sample.num_frames
    steps = np.unique(np.linspace(0, T - 1, min(num_frames, T)).round().astype(int))
    body_layout = get_layout(body_layout or ("ntu_rgbd" if sample.body.shape[2] == 25 else "nw_ucla"))
    hand_layout = get_layout("mediapipe_hand")
    hand_pairs = [(a, b) for a, b in hand_layout.bone_pairs() if a < 21]
    rows = ["body"] + (["hands"] if sample.hands is not None else [])
    frames = {}
    if video is not None:
        if "video_frame" not in sample.extras:
            raise ValueError(f"sample {sample.name} has no video frame index; cannot overlay the video")
        from ..video.reader import read_frames

        video_frame = sample.extras["video_frame"]
        frames = read_frames(Path(video), [int(video_frame[t]) for t in steps])
        rows.append("rgb")
    raw = None
    if hands_file is not None:
        from ..data.hands import load_hands

        raw = load_hands(hands_file)
    fig, axes = plt.subplots(len(rows), len(steps), figsize=(2.6 * len(steps), 2.8 * len(rows)), squeeze=False)
    body = sample.body
    present = np.abs(body).sum(axis=(0, 2, 3)) > 0
    lim_lo, lim_hi = body[..., :2][:, present].min(axis=(0, 1, 2)), body[..., :2][:, present].max(axis=(0, 1, 2))
    for col, t in enumerate(steps):
        ax = axes[rows.index("body"), col]
        for m in np.flatnonzero(present):
            _draw_skeleton(ax, body[t, m, :, :2], body_layout.bone_pairs(), f"C{m}")
        ax.set_xlim(lim_lo[0] - 0.1, lim_hi[0] + 0.1)
        ax.set_ylim(lim_lo[1] - 0.1, lim_hi[1] + 0.1)
        ax.set_aspect("equal")
        ax.set_title(f"frame {t}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if "hands" in rows:
            ax = axes[rows.index("hands"), col]
            for slot in range(2):
                xy = sample.hands[t, slot, :, :2].copy()
                if not np.abs(xy).sum():
                    continue
                xy[:, 1] *= -1  # image y points down
                detected = bool(sample.hand_mask[t, slot])
                _draw_skeleton(ax, xy, hand_pairs, _SLOT_COLOURS[slot], alpha=1.0 if detected else 0.3)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            mask = sample.hand_mask[t]
            ax.set_title(f"L {'det' if mask[0] else 'interp'} / R {'det' if mask[1] else 'interp'}", fontsize=8)
        if "rgb" in rows:
            ax = axes[rows.index("rgb"), col]
            vf = int(sample.extras["video_frame"][t])
            image = frames.get(vf)
            colour = sample.extras.get("body_color")
            if image is not None:
                ax.imshow(image)
            if colour is not None:
                for m in np.flatnonzero(np.abs(colour[t]).sum(axis=(1, 2)) > 0):
                    _draw_skeleton(ax, colour[t, m], body_layout.bone_pairs(), f"C{m}", marker_size=3)
                pts = colour[t][np.abs(colour[t]).sum(axis=-1) > 0]
                if pts.size:
                    lo, hi = pts.min(axis=0), pts.max(axis=0)
                    pad = 0.15 * (hi - lo).max()
                    ax.set_xlim(lo[0] - pad, hi[0] + pad)
                    ax.set_ylim(hi[1] + pad, lo[1] - pad)
            if raw is not None and vf < len(raw["landmarks"]):
                for slot in range(2):
                    if raw["detected"][vf, slot]:
                        _draw_skeleton(ax, raw["landmarks"][vf, slot, :, :2], hand_pairs, _SLOT_COLOURS[slot],
                                       marker_size=2)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"video frame {vf}", fontsize=8)
    title = f"{sample.name}  label {sample.label}" + (f" ({class_name})" if class_name else "")
    if sample.hand_mask is not None:
        rate = sample.hand_mask.mean(axis=0)
        title += f"  hands detected: left {rate[0]:.0%}, right {rate[1]:.0%} of {T} frames"
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out, dpi=90)
