"""The field's released checkpoints, converted into ready bharnet models (``bharnet convert``).

A converted checkpoint is an ordinary bharnet checkpoint: :func:`bharnet.load_checkpoint` rebuilds the model from
its recipe (called as ``model(x)``, ``x`` ``(N, C, T, V, M)``), and its ``extra`` says how inputs must be prepared
(``preprocessing``), which classes the logits are (``config.eval.class_names``) and where the weights came from
(``source``: the file, its SHA-256, the release). :mod:`bharnet.deploy.predict` reads all of it, so
``bharnet predict --ckpt converted.pt`` prints real class names.

The released file is read with ``torch.load(weights_only=True)`` (tensors only, never pickled code); a key or a
shape that does not fit the architecture is a :class:`~bharnet.models.convert.ConversionError` naming it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .convert import ConversionError, convert_degcn_state_dict, convert_pyskl_state_dict, convert_shiftgcn_state_dict

__all__ = ["Release", "RELEASES", "DATASETS", "convert_release", "list_releases"]

DATASETS = {"ntu60": 60, "ntu120": 120, "hagrid": 40}


@dataclass(frozen=True)
class Release:
    """A family of released checkpoints and how to rebuild them.

    Attributes:
        name: the ``--from`` value.
        paper: the method and where its weights are published.
        model: ``create_model`` name and arguments (``num_classes`` comes from the dataset).
        preprocessing: what the weights expect (see :class:`bharnet.deploy.predict.ModelSpec`).
        modality: the input stream the weights were trained on.
        files: known checkpoint files -> dataset and protocol.
    """

    name: str
    paper: str
    model: dict
    preprocessing: dict
    modality: str = "joint"
    files: dict[str, tuple[str, str]] = field(default_factory=dict)


RELEASES: dict[str, Release] = {
    "shift-gcn": Release(
        "shift-gcn", "Shift-GCN (Cheng et al., CVPR 2020), github.com/kchengiva/Shift-GCN, save_models/ "
        "(CC BY-NC 4.0)",
        {"name": "expert", "kwargs": {"backbone": "shiftgcn", "stream": "body", "layout": "ntu_rgbd",
                                      "num_persons": 2, "num_frames": 300}},
        {"body_normalization": "2s-agcn"},
        files={"ntu_ShiftGCN_joint_xsub.pt": ("ntu60", "xsub"), "ntu_ShiftGCN_joint_xview.pt": ("ntu60", "xview"),
               "ntu120_ShiftGCN_joint_xsub.pt": ("ntu120", "xsub"),
               "ntu120_ShiftGCN_joint_xsetup.pt": ("ntu120", "xset")}),
    "pyskl": Release(
        "pyskl", "pyskl's ST-GCN++ gesture model on MediaPipe hands (HaGRID + Jester, 40 classes), "
        "github.com/kennymckormick/pyskl demo/hagrid.pth (Apache-2.0 repository)",
        {"name": "expert", "kwargs": {"backbone": "stgcnpp", "stream": "hand", "layout": "mediapipe_hand21",
                                      "num_persons": 1, "num_frames": 10, "in_channels": 2,
                                      "backbone_kwargs": {"num_stages": 6, "inflate_stages": [6],
                                                          "down_stages": [6]}}},
        {"hand_normalization": "pyskl-2d", "sampling": "uniform"},
        files={"hagrid.pth": ("hagrid", "test")}),
    "degcn": Release(
        "degcn", "DeGCN (Myung et al., TIP 2024), github.com/WoominM/DeGCN_pytorch (its two-trunk model)",
        {"name": "expert", "kwargs": {"backbone": "degcn", "stream": "body", "layout": "ntu_rgbd", "num_persons": 2,
                                      "num_frames": 64, "num_trunks": 2}},
        {"body_normalization": "reference"}),
}


def list_releases() -> str:
    """What ``bharnet convert`` accepts, for ``bharnet models --pretrained``."""
    lines = []
    for r in RELEASES.values():
        lines.append(f"--from {r.name}: {r.paper}")
        for file, (dataset, protocol) in r.files.items():
            lines.append(f"    {file}  ->  --dataset {dataset} ({protocol})")
        prep = ", ".join(f"{k} {v}" for k, v in r.preprocessing.items())
        lines.append(f"    preprocessing: {prep}; input: {r.modality} stream, {r.model['kwargs']['num_frames']} frames")
    return "\n".join(lines)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    from ..checkpoint import CheckpointError, read_checkpoint

    try:
        data = read_checkpoint(path)
    except CheckpointError as e:
        raise ConversionError(str(e)) from None
    state = data["state_dict"]
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ConversionError(f"{path}: entry {bad[0]!r} is not a tensor; expected a released state dict")
    return state


def convert_release(source: str | Path, release: str, dataset: str, out: str | Path | None = None
                    ) -> torch.nn.Module:
    """Convert a released checkpoint into a bharnet model (saved to ``out`` when given) whose recipe, class
    names and preprocessing travel with it."""
    from ..checkpoint import save_checkpoint
    from .registry import create_model

    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; choose from {', '.join(RELEASES)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r} for {release}; choose from {', '.join(DATASETS)}")
    if (dataset == "hagrid") != (release == "pyskl"):
        raise ValueError(f"--dataset {dataset} does not go with --from {release}")
    spec = RELEASES[release]
    source = Path(source)
    state = _read_state(source)
    num_classes = DATASETS[dataset]
    kwargs = dict(spec.model["kwargs"], num_classes=num_classes)
    model = create_model(spec.model["name"], **kwargs)
    if release == "shift-gcn":
        converted = convert_shiftgcn_state_dict(state)
    elif release == "pyskl":
        if dataset != "hagrid":
            raise ValueError("--from pyskl: only the gesture model (--dataset hagrid) is known here; pyskl's NTU "
                             "checkpoints need their own recipe")
        converted = convert_pyskl_state_dict(state)
    else:
        converted = {}
        for trunk in range(kwargs.get("num_trunks", 1)):
            try:
                backbone, head = convert_degcn_state_dict(state, stream=trunk)
            except KeyError as e:
                raise ConversionError(f"{source}: {e.args[0]}") from None
            converted.update({f"backbones.{trunk}.{k}": v for k, v in backbone.items()})
            converted.update({f"heads.{trunk}.fc.{k}": v for k, v in head.items()})
    mine = model.state_dict()
    for key, value in converted.items():
        if key not in mine:
            raise ConversionError(f"{source}: converted key {key!r} has no place in {release}'s architecture")
        if tuple(value.shape) != tuple(mine[key].shape):
            what = " (the class count: is --dataset right?)" if key.startswith("heads.") else ""
            raise ConversionError(f"{source}: {key} has shape {tuple(value.shape)}, the {dataset} model's is "
                                  f"{tuple(mine[key].shape)}{what}")
    missing = sorted(set(mine) - set(converted))
    if missing:
        raise ConversionError(f"{source}: the converted weights lack {len(missing)} tensor(s), e.g. {missing[0]!r}")
    model.load_state_dict(converted)
    model.eval()
    model.checkpoint_extra = {
        "config": {"data": {"modality": spec.modality, "window": kwargs["num_frames"]},
                   "eval": {"class_names": dataset}},
        "preprocessing": dict(spec.preprocessing),
        "source": {"release": release, "file": source.name, "sha256": _sha256(source), "dataset": dataset,
                   "paper": spec.paper},
    }
    if out is not None:
        save_checkpoint(out, model, extra=model.checkpoint_extra)
    return model
