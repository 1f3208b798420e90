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
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .convert import (
    ConversionError,
    convert_ctrgcn_state_dict,
    convert_degcn_state_dict,
    convert_pyskl_state_dict,
    convert_shiftgcn_state_dict,
)

__all__ = ["Release", "RELEASES", "DATASETS", "convert_release", "detect_pyskl_architecture", "list_releases"]

DATASETS = {"ntu60": 60, "ntu120": 120, "hagrid": 40}

Converted = tuple[dict, dict[str, torch.Tensor], dict[str, str]]  # model kwargs, state dict, preprocessing


@dataclass(frozen=True)
class Release:
    """A family of released checkpoints and how to rebuild them.

    Attributes:
        name: the ``--from`` value.
        paper: the method and where its weights are published.
        model: ``create_model`` name and arguments (``num_classes`` comes from the dataset; a release whose
            architecture varies, pyskl's, completes them from the file's keys).
        preprocessing: what the weights expect (see :class:`bharnet.deploy.inputs.ModelSpec`), per dataset
            (``"*"``: every dataset).
        datasets: the ``--dataset`` values this release has weights for.
        files: known checkpoint files -> dataset and protocol.
    """

    name: str
    paper: str
    model: dict
    preprocessing: dict[str, dict[str, str]]
    datasets: tuple[str, ...] = ("ntu60", "ntu120")
    files: dict[str, tuple[str, str]] = field(default_factory=dict)

    def preprocessing_for(self, dataset: str) -> dict[str, str]:
        return dict(self.preprocessing.get(dataset, self.preprocessing.get("*", {})))


_NTU_BODY = {"stream": "body", "layout": "ntu_rgbd", "num_persons": 2}

RELEASES: dict[str, Release] = {
    "shift-gcn": Release(
        "shift-gcn", "Shift-GCN (Cheng et al., CVPR 2020), github.com/kchengiva/Shift-GCN, save_models/ "
        "(CC BY-NC 4.0)",
        {"name": "expert", "kwargs": {"backbone": "shiftgcn", **_NTU_BODY, "num_frames": 300}},
        {"*": {"body_normalization": "2s-agcn"}},
        files={"ntu_ShiftGCN_joint_xsub.pt": ("ntu60", "xsub"), "ntu_ShiftGCN_joint_xview.pt": ("ntu60", "xview"),
               "ntu120_ShiftGCN_joint_xsub.pt": ("ntu120", "xsub"),
               "ntu120_ShiftGCN_joint_xsetup.pt": ("ntu120", "xset")}),
    "pyskl": Release(
        "pyskl", "pyskl (Duan et al., ACM MM 2022), github.com/kennymckormick/pyskl (Apache-2.0): its STGCN family "
        "(ST-GCN, ST-GCN++) on NTU-60/120 3D skeletons (configs/stgcn*/..._3dkp), and the ST-GCN++ gesture model "
        "on MediaPipe hands (HaGRID + Jester, 40 classes, demo/hagrid.pth); the architecture is read from the file",
        {"name": "expert", "kwargs": {}},
        {"hagrid": {"hand_normalization": "pyskl-2d", "sampling": "uniform"},
         "*": {"body_normalization": "pyskl", "sampling": "uniform"}},
        datasets=("ntu60", "ntu120", "hagrid"),
        files={"hagrid.pth": ("hagrid", "test")}),
    "degcn": Release(
        "degcn", "DeGCN (Myung et al., TIP 2024), github.com/WoominM/DeGCN_pytorch (its two-trunk model)",
        {"name": "expert", "kwargs": {"backbone": "degcn", **_NTU_BODY, "num_frames": 64, "num_trunks": 2}},
        {"*": {"body_normalization": "reference"}}),
    "ctrgcn": Release(
        "ctrgcn", "CTR-GCN (Chen et al., ICCV 2021), github.com/Uason-Chen/CTR-GCN (its README's Google Drive "
        "folder of NTU-60/120 models)",
        {"name": "expert", "kwargs": {"backbone": "ctrgcn", **_NTU_BODY, "num_frames": 64}},
        {"*": {"body_normalization": "reference"}}),
}

def list_releases() -> str:
    """What ``bharnet convert`` accepts, for ``bharnet models --pretrained``."""
    lines = []
    for r in RELEASES.values():
        lines.append(f"--from {r.name}: {r.paper}")
        for file, (dataset, protocol) in r.files.items():
            lines.append(f"    {file}  ->  --dataset {dataset} ({protocol})")
        lines.append(f"    --dataset {' | '.join(r.datasets)}")
        for dataset, prep in r.preprocessing.items():
            what = "" if len(r.preprocessing) == 1 else ("others: " if dataset == "*" else f"{dataset}: ")
            frames = r.model["kwargs"].get("num_frames")
            lines.append(f"    preprocessing {what}" + ", ".join(f"{k} {v}" for k, v in prep.items())
                         + (f"; input {frames} frames" if frames else ""))
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


def _convert_pyskl(state: dict[str, torch.Tensor], dataset: str) -> Converted:
    arch = detect_pyskl_architecture(state)
    expected = "mediapipe_hand21" if dataset == "hagrid" else "ntu_rgbd"
    if arch["layout"] != expected:
        raise ConversionError(f"this pyskl model is on the {arch['layout']} skeleton, --dataset {dataset} needs "
                              f"{expected}")
    kwargs = dict(arch, num_persons=1 if dataset == "hagrid" else 2,
                  num_frames=10 if dataset == "hagrid" else 100)  # the configs' UniformSample clip_len
    kwargs["stream"] = "hand" if dataset == "hagrid" else "body"
    return kwargs, convert_pyskl_state_dict(state), {}


def _convert_degcn(state: dict[str, torch.Tensor], dataset: str) -> Converted:
    converted = {}
    for trunk in range(RELEASES["degcn"].model["kwargs"]["num_trunks"]):
        try:
            backbone, head = convert_degcn_state_dict(state, stream=trunk)
        except KeyError as e:
            raise ConversionError(str(e.args[0])) from None
        converted.update({f"backbones.{trunk}.{k}": v for k, v in backbone.items()})
        converted.update({f"heads.{trunk}.fc.{k}": v for k, v in head.items()})
    return {}, converted, {}


_CONVERTERS = {
    "shift-gcn": lambda state, dataset: ({}, convert_shiftgcn_state_dict(state), {}),
    "ctrgcn": lambda state, dataset: ({}, convert_ctrgcn_state_dict(state), {}),
    "pyskl": _convert_pyskl,
    "degcn": _convert_degcn,
}


def detect_pyskl_architecture(state: dict[str, torch.Tensor]) -> dict:
    """The ``create_model("expert", ...)`` arguments of a pyskl ``STGCN`` + ``GCNHead`` state dict, read from its
    keys and shapes: layout (from the joint count), input channels, ``gcn_adaptive`` (``A`` a parameter: ``init``;
    a ``PA``: ``importance``, pyskl's default; its ``offset`` variant is told apart by nothing but values and is
    not supported), ``gcn_with_res``, ``tcn_type``, the stages, ``data_bn_type``. The width-changing stages are
    taken to downsample too, as in all of pyskl's configs (strides leave no trace in a state dict).
    Another pyskl backbone (CTR-GCN, AAGCN, MS-G3D, DG-STGCN) is a :class:`ConversionError` naming it."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("backbone.net.") for k in state):
        raise ConversionError("this is pyskl's CTR-GCN: its graph convolution aggregates with the transposed "
                              "topology and its temporal module is MS-G3D's, so bharnet's ctrgcn does not match it "
                              "(the official CTR-GCN's weights convert with --from ctrgcn)")
    for marker, family in (("conv_a", "AAGCN"), ("gcn3d", "MS-G3D"), ("pre.", "DG-STGCN"), ("conv_d", "AAGCN")):
        if any(marker in k and k.startswith("backbone.") for k in state):
            raise ConversionError(f"this looks like pyskl's {family} (keys with {marker!r}); only its STGCN family "
                                  "(ST-GCN, ST-GCN++) converts")
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"backbone\.gcn\.(\d+)\.", k))})
    if not blocks or blocks != list(range(len(blocks))) or "backbone.gcn.0.gcn.conv.weight" not in state:
        raise ConversionError("not a pyskl STGCN state dict: no backbone.gcn.<i>.gcn.conv.weight keys")
    head = state.get("cls_head.fc_cls.weight")
    if head is None:
        raise ConversionError("pyskl state dict: missing key 'cls_head.fc_cls.weight' (the GCNHead)")
    a = state.get("backbone.gcn.0.gcn.A")
    if a is None:
        raise ConversionError("pyskl state dict: missing key 'backbone.gcn.0.gcn.A'")
    k, v = a.shape[0], a.shape[-1]
    layouts = {25: "ntu_rgbd", 21: "mediapipe_hand21"}
    if v not in layouts:
        what = " (COCO-17: pyskl's 2D HRNet skeletons; bharnet has no COCO layout)" if v == 17 else ""
        raise ConversionError(f"pyskl model on a {v}-joint skeleton{what}: bharnet converts NTU-25 and MediaPipe-21")
    in_channels = state["backbone.gcn.0.gcn.conv.weight"].shape[1]
    widths = [state[f"backbone.gcn.{b}.gcn.conv.weight"].shape[0] // k for b in blocks]
    base = widths[0]
    has_stem = in_channels != base
    first_stage = 1 if has_stem else 2
    stages = [first_stage + i for i in range(len(blocks))]
    inflate = [s for s, w, prev in zip(stages[1:], widths[1:], widths[:-1]) if w != prev]
    if any(w != base * 2 ** inflate.index(s) * 2 for s, w in zip(stages, widths) if s in inflate):
        raise ConversionError(f"pyskl state dict: block widths {widths} do not follow ch_ratio 2")
    down = sorted(set(inflate) | {s for s, b in zip(stages, blocks) if b and f"backbone.gcn.{b}.residual.conv.weight"
                                  in state and widths[b] == widths[b - 1]})
    bn = state.get("backbone.data_bn.weight")
    data_bn = "none" if bn is None else ("VC" if bn.numel() == v * in_channels else "MVC")
    adaptive = "init" if "backbone.gcn.0.gcn.PA" not in state else "importance"
    with_res = any(re.match(r"backbone\.gcn\.\d+\.gcn\.down\.", key) for key in state)
    tcn = "mstcn" if any(".tcn.branches." in key for key in state) else "unit_tcn"
    backbone_kwargs = {"num_stages": stages[-1], "inflate_stages": inflate, "down_stages": down, "data_bn": data_bn}
    if (adaptive, with_res, tcn) == ("init", True, "mstcn"):
        backbone = "stgcnpp"
    else:
        backbone = "pyskl_stgcn"
        backbone_kwargs.update(gcn_adaptive=adaptive, gcn_with_res=with_res, tcn_type=tcn)
    return {"backbone": backbone, "layout": layouts[v], "in_channels": in_channels, "base_channels": base,
            "backbone_kwargs": backbone_kwargs, "num_classes": head.shape[0]}


def convert_release(source: str | Path, release: str, dataset: str, out: str | Path | None = None,
                    modality: str = "joint") -> torch.nn.Module:
    """Convert a released checkpoint into a bharnet model (saved to ``out`` when given) whose recipe, class
    names and preprocessing travel with it. ``modality``: the input stream the weights were trained on (the
    releases publish joint, bone and motion models; the file does not say which)."""
    from ..checkpoint import save_checkpoint
    from ..data.transforms import MODALITIES
    from .registry import create_model

    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; choose from {', '.join(RELEASES)}")
    spec = RELEASES[release]
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if dataset not in spec.datasets:
        raise ValueError(f"--dataset {dataset} does not go with --from {release} (it has {', '.join(spec.datasets)})")
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    source = Path(source)
    state = _read_state(source)
    num_classes = DATASETS[dataset]
    try:
        arch, converted, _ = _CONVERTERS[release](state, dataset)
    except ConversionError as e:
        raise ConversionError(f"{source}: {e}") from None
    arch.pop("num_classes", None)  # the dataset's count; a different head is a shape error below
    kwargs = dict(spec.model["kwargs"], **arch, num_classes=num_classes)
    model = create_model(spec.model["name"], **kwargs)
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
        "config": {"data": {"modality": modality, "window": kwargs["num_frames"]},
                   "eval": {"class_names": dataset}},
        "preprocessing": spec.preprocessing_for(dataset),
        "source": {"release": release, "file": source.name, "sha256": _sha256(source), "dataset": dataset,
                   "paper": spec.paper},
    }
    if out is not None:
        save_checkpoint(out, model, extra=model.checkpoint_extra)
    return model
