"""``bharnet init-config``: a complete, commented training config sized for a store and a machine.

The sizes follow from what is known before training: the number of training clips and their lengths (the window
is the median clip length, between 16 and 64 frames), the device (on a CPU a narrower network, ``base_channels``
32 instead of the paper's 64, ST-GCN instead of DeGCN, and batches of 8; on a GPU the paper's DeGCN, width 64 and
batches of 64), and the number of optimiser steps
(about 3,000 in all, at least 30 epochs, at most the paper's 80). Every value is written out with a comment, so
the file is the place to change them; ``bharnet train -c FILE`` is the next command.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..utils.files import atomic_path

__all__ = ["build_init_config", "write_init_config", "MODELS"]

MODELS = {  # model -> (streams, model args beyond the backbone)
    "expert": (["body"], {"stream": "body"}),
    "hand_expert": (["hand"], {"stream": "hand"}),
    "score_fusion": (["body", "hand"], {}),
    "bharnet_e": (["body", "hand"], {}),
    "bharnet_e_light": (["body", "hand"], {"expert_only": True}),
}


def _device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def build_init_config(store: str | Path, model: str = "score_fusion", device: str = "auto",
                      init_body: str | None = None, init_hand: str | None = None, name: str | None = None
                      ) -> tuple[str, dict]:
    """The config's YAML text (with comments) and its values, for ``store``.

    Raises:
        ValueError: an unknown model or device, a store without a training split, an ``init`` checkpoint that
            does not exist or that the model cannot take.
    """
    from ..data.store import DatasetStore

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be auto, cpu or gpu, got {device!r}")
    for what, path in (("--init-body", init_body), ("--init-hand", init_hand)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{what} {path}: no such checkpoint")
    streams, extra_args = MODELS[model]
    if (init_body or init_hand) and len(streams) < 2:
        raise ValueError(f"--init-body / --init-hand fine-tune the experts of a dual-stream model; {model} has one "
                         "stream (train it from the start, or pick score_fusion / bharnet_e)")
    store_path = Path(store)
    data = DatasetStore(store_path)
    protocol = data.protocols[0] if data.protocols else None
    if protocol is None:
        raise ValueError(f"{store_path}: no split protocol in this store")
    train = data.split(protocol, "train")
    if len(train) == 0:
        raise ValueError(f"{store_path}: no training sample under protocol {protocol}")
    lengths = np.array([data.num_frames(int(i)) for i in train])
    window = int(np.clip(np.median(lengths), 16, 64))
    device = _device(device)
    gpu = device == "gpu"
    batch = min(64 if gpu else 8, max(2, len(train) // 2))
    steps_per_epoch = max(1, math.ceil(len(train) / batch))
    epochs = int(np.clip(round(3000 / steps_per_epoch), 30, 80))
    warmup = max(1, epochs // 16)
    persons = int(data.frames("body", int(train[0])).shape[1])  # the stored person slots
    names = data.class_names
    model_name = "bharnet_e" if model == "bharnet_e_light" else ("expert" if model == "hand_expert" else model)
    args = dict(backbone="degcn" if gpu else "stgcn", num_persons=2 if model == "hand_expert" else persons,
                base_channels=64 if gpu else 32, num_frames=window, **extra_args)
    config = {
        "name": name or store_path.name.removesuffix(".store"),
        "seed": 1, "out_dir": "runs",
        "data": {"store": str(store_path), "protocol": protocol, "window": window, "streams": streams,
                 "batch_size": batch, "test_batch_size": batch, "num_workers": min(4, os.cpu_count() or 1)},
        "model": {"name": model_name, "args": args},
        "init": {"body": init_body, "hand": init_hand},
        "optim": {"lr": 0.1 * batch / 64 if gpu else 0.05},
        "schedule": {"warmup_epochs": warmup, "cosine_period": epochs, "cosine_min_lr": None, "milestones": []},
        "trainer": {"epochs": epochs, "accelerator": device, "progress": True},
        "eval": {"class_names": names},
    }
    counts = np.bincount(data.labels[train], minlength=data.num_classes)
    text = _render(config, dict(
        clips=len(train), classes=data.num_classes, median=int(np.median(lengths)), steps=steps_per_epoch,
        smallest=int(counts.min()), device=device, persons=persons))
    return text, config


def _render(c: dict, why: dict) -> str:
    """The YAML with a comment on every value (yaml.safe_dump drops comments, so it is written by hand)."""
    import yaml

    def v(x) -> str:
        return yaml.safe_dump(x, default_flow_style=True, width=1 << 16).strip().removesuffix("...").strip()

    d, m, a = c["data"], c["model"], c["model"]["args"]
    lines = [
        f"# bharnet training config for {d['store']}: {why['clips']} training clips of {why['classes']} classes "
        f"(the smallest has {why['smallest']}),",
        f"# median length {why['median']} frames; sized for a {why['device'].upper()}. Train with:",
        f"#   bharnet train -c THIS_FILE        (then: bharnet predict VIDEO --ckpt runs/{c['name']}/best.pt)",
        f"name: {v(c['name'])}                # the run folder: runs/<name>",
        f"seed: {c['seed']}",
        "out_dir: runs",
        "data:",
        f"  store: {v(d['store'])}",
        f"  protocol: {v(d['protocol'])}      # the store's split",
        f"  window: {d['window']}               # frames fed to the model: the median clip length, in [16, 64]",
        f"  streams: {v(d['streams'])}",
        f"  batch_size: {d['batch_size']}",
        f"  test_batch_size: {d['test_batch_size']}",
        f"  num_workers: {d['num_workers']}          # data-loading processes",
        "model:",
        f"  name: {v(m['name'])}",
        "  args:",
        f"    backbone: {v(a['backbone'])}      # degcn (the paper's), ctrgcn, stgcn (the cheapest on a CPU)",
        f"    num_persons: {a['num_persons']}        # person slots of this store's clips",
        f"    base_channels: {a['base_channels']}     # network width: the paper's 64; 32 is cheaper on a CPU",
        f"    num_frames: {a['num_frames']}",
    ]
    lines += [f"    {k}: {v(x)}" for k, x in a.items() if k not in ("backbone", "num_persons", "base_channels",
                                                                    "num_frames")]
    lines += [
        "init:                   # trained or converted expert checkpoints to start the two streams from",
        f"  body: {v(c['init']['body'])}",
        f"  hand: {v(c['init']['hand'])}",
        "optim:",
        f"  lr: {v(c['optim']['lr'])}",
        "schedule:               # linear warm-up, then cosine decay to 0 over the run",
        f"  warmup_epochs: {c['schedule']['warmup_epochs']}",
        f"  cosine_period: {c['schedule']['cosine_period']}",
        "  cosine_min_lr: null",
        "  milestones: []",
        "trainer:",
        f"  epochs: {c['trainer']['epochs']}            # about 3,000 optimiser steps ({why['steps']} per epoch), "
        "within [30, 80] epochs",
        f"  accelerator: {c['trainer']['accelerator']}",
        "  progress: true",
        "eval:",
        f"  class_names: {v(c['eval']['class_names'])}",
    ]
    return "\n".join(lines) + "\n"


def write_init_config(store: str | Path, out: str | Path, *, overwrite: bool = False, **options) -> dict:
    """Write :func:`build_init_config`'s text to ``out`` (not over an existing file unless ``overwrite``)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    text, config = build_init_config(store, **options)
    from .config import load_config

    with atomic_path(out) as tmp:
        tmp.write_text(text)
        load_config(tmp)  # the file must be a valid config before it takes the name
    return config
