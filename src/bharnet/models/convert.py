"""Load weights trained with the reference implementations into bharnet models.

``convert_degcn_state_dict`` maps a WoominM/DeGCN_pytorch ``Model`` state dict (one of its
streams) onto :func:`bharnet.create_backbone("degcn")` plus a classifier, so that published DeGCN
checkpoints can initialise a BHaRNet expert. The arithmetic is identical; only the layout of a
few tensors differs (merged branch projections, time-last kernels, subset-minor channel order).

``convert_shiftgcn_state_dict`` maps a kchengiva/Shift-GCN ``Model`` state dict onto the state dict of
``create_model("expert", backbone="shiftgcn")``: the same tensors under other names, the spatial batch norm's
channels reordered from joint-major to channel-major, and the release's fixed shift permutations checked
against the ones the backbone computes. Every key of the release must be used and every key of the model
filled, with the same shapes: anything else is a :class:`ConversionError` naming the key.

``convert_ctrgcn_state_dict`` maps a Uason-Chen/CTR-GCN ``Model`` state dict onto
``create_model("expert", backbone="ctrgcn")``: the three per-subset CTR-GCs of a block become one
convolution each for queries, keys, values and topology (subset-major rows), the three 1x1 projections of the
temporal branches one merged projection, and the ``(k, 1)`` temporal kernels time-last ``(1, k)``; the same
strict accounting of keys as for Shift-GCN.
"""
from __future__ import annotations

import re

import torch
from torch import Tensor

__all__ = ["convert_degcn_state_dict", "convert_shiftgcn_state_dict", "convert_ctrgcn_state_dict",
           "convert_pyskl_state_dict", "ConversionError"]


class ConversionError(ValueError):
    """A released state dict does not fit the architecture it is converted to; the message names the key."""

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _subset_minor(w: Tensor, groups: int, subsets: int) -> Tensor:
    """Reorder output rows from (group, subset, channel) to (group, channel, subset)."""
    rows = w.shape[0]
    c = rows // (groups * subsets)
    return w.reshape(groups, subsets, c, *w.shape[1:]).transpose(1, 2).reshape(rows, *w.shape[1:])


def _subset_major(w: Tensor, groups: int, subsets: int) -> Tensor:
    """Reorder output rows from (group, subset, channel) to (subset, group, channel)."""
    rows = w.shape[0]
    return w.reshape(groups, subsets, rows // (groups * subsets), *w.shape[1:]).transpose(0, 1).reshape(
        rows, *w.shape[1:])


def convert_degcn_state_dict(state: dict[str, Tensor], stream: int = 0, groups: int = 4
                             ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Return ``(backbone_state, head_state)`` for stream ``stream`` of a DeGCN ``Model`` state dict.

    ``head_state`` holds ``weight``/``bias`` of the stream's ``fc``; it is empty if absent.
    """
    state = {k.removeprefix("module."): v for k, v in state.items()}
    out: dict[str, Tensor] = {}
    for k in _BN:
        if f"data_bn.{k}" in state:
            out[f"input_norm.bn.{k}"] = state[f"data_bn.{k}"]
    prefix = f"streams.{stream}."
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"block-(\d+)_", k))})
    if not blocks:
        raise KeyError(f"no DeGCN blocks under '{prefix}' in this state dict")
    for i in blocks:
        _convert_block(state, f"{prefix}block-{i}_tcngcn.", f"blocks.{i}.", groups, out)
    head = {}
    if f"fc.{stream}.weight" in state:
        head = {"weight": state[f"fc.{stream}.weight"], "bias": state[f"fc.{stream}.bias"]}
    return out, head


def _convert_block(state: dict[str, Tensor], src: str, dst: str, groups: int, out: dict[str, Tensor]) -> None:
    """One ``Basic_Block`` of the release (keys under ``src``) into one of our blocks (under ``dst``)."""

    def get(name: str) -> Tensor:
        return state[src + name]

    def put_bn(mine: str, theirs: str) -> None:  # statistics are absent from gradient dicts
        for k_ in _BN:
            if src + f"{theirs}.{k_}" in state:
                out[dst + f"{mine}.{k_}"] = get(f"{theirs}.{k_}")

    k = get("gcn.A").shape[0]
    out[dst + "spatial.conv.A"] = get("gcn.A")
    if src + "gcn.conv.weight" in state:  # ST_GC stem
        out[dst + "spatial.conv.conv.weight"] = _subset_minor(get("gcn.conv.weight"), 1, k)
        out[dst + "spatial.conv.conv.bias"] = _subset_minor(get("gcn.conv.bias"), 1, k)
    else:  # grouped CTR_GC
        out[dst + "spatial.conv.alpha"] = get("gcn.alpha")
        for mine, theirs in (("conv_q", "conv1"), ("conv_k", "conv2")):
            out[dst + f"spatial.conv.{mine}.weight"] = get(f"gcn.{theirs}.weight").flatten(2)
            out[dst + f"spatial.conv.{mine}.bias"] = get(f"gcn.{theirs}.bias")
        for mine, theirs in (("conv_v", "conv3"), ("conv_w", "conv4")):
            out[dst + f"spatial.conv.{mine}.weight"] = _subset_major(get(f"gcn.{theirs}.weight"), groups, k)
            out[dst + f"spatial.conv.{mine}.bias"] = _subset_major(get(f"gcn.{theirs}.bias"), groups, k)
    put_bn("spatial.bn", "gcn.bn")
    for mine, theirs in (("spatial.down", "residual1"), ("residual", "residual2"), ("temporal.strided", "tcn.conv1x1")):
        if src + f"{theirs}.conv.weight" in state:
            out[dst + f"{mine}.0.weight"] = get(f"{theirs}.conv.weight")
            out[dst + f"{mine}.0.bias"] = get(f"{theirs}.conv.bias")
            put_bn(f"{mine}.1", f"{theirs}.bn")
    branches = ("tcn.tcn1.0", "tcn.tcn2.0", "tcn.maxpool3x1.0")  # one merged projection here
    out[dst + "temporal.proj.0.weight"] = torch.cat([get(f"{b}.conv.weight") for b in branches])
    out[dst + "temporal.proj.0.bias"] = torch.cat([get(f"{b}.conv.bias") for b in branches])
    for k_ in _BN[:4]:
        if src + f"{branches[0]}.bn.{k_}" in state:
            out[dst + f"temporal.proj.1.{k_}"] = torch.cat([get(f"{b}.bn.{k_}") for b in branches])
    if src + f"{branches[0]}.bn.num_batches_tracked" in state:
        out[dst + "temporal.proj.1.num_batches_tracked"] = get(f"{branches[0]}.bn.num_batches_tracked")
    for j, b in enumerate(("tcn.tcn1.2", "tcn.tcn2.2")):
        t = dst + f"temporal.temporal.{j}."
        out[t + "offsets"] = get(f"{b}.tr")
        out[t + "weight"] = get(f"{b}.conv_out.0.weight").flatten(2)
        out[t + "bias"] = get(f"{b}.conv_out.0.bias")
        put_bn(f"temporal.temporal.{j}.bn", f"{b}.conv_out.1")
    put_bn("temporal.pool_bn", "tcn.maxpool3x1.3")


def convert_shiftgcn_state_dict(state: dict[str, Tensor], num_joints: int = 25) -> dict[str, Tensor]:
    """A Shift-GCN ``Model`` state dict -> the state dict of ``create_model("expert", backbone="shiftgcn")``
    (``backbones.0.*``, ``heads.0.fc.*``). Raises :class:`ConversionError` on an unknown, missing or
    misshapen key."""
    from .backbones.shiftgcn import joint_shift

    state = {k.removeprefix("module."): v for k, v in state.items()}
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def take(key: str) -> Tensor:
        if key not in state:
            raise ConversionError(f"Shift-GCN state dict: missing key {key!r}")
        used.add(key)
        return state[key]

    def bn(src: str, dst: str, reorder: tuple[int, int] | None = None) -> None:
        for k in _BN:
            if k == "num_batches_tracked" and f"{src}.{k}" not in state:  # older PyTorch did not save it
                out[f"{dst}.{k}"] = torch.tensor(0)
                continue
            t = take(f"{src}.{k}")
            if reorder is not None and t.dim() == 1:  # (V * D) joint-major -> (D * V) channel-major
                v, d = reorder
                if t.numel() != v * d:
                    raise ConversionError(f"Shift-GCN state dict: {src}.{k} has {t.numel()} entries, "
                                          f"expected {v} joints x {d} channels")
                t = t.reshape(v, d).t().reshape(-1)
            out[f"{dst}.{k}"] = t

    bn("data_bn", "backbones.0.input_norm.bn")
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"l(\d+)\.", k))})
    if blocks != list(range(1, 11)):
        raise ConversionError(f"Shift-GCN state dict: expected blocks l1..l10, found {[f'l{b}' for b in blocks]}")
    for b in blocks:
        src, dst = f"l{b}.", f"backbones.0.blocks.{b - 1}."
        weight = take(src + "gcn1.Linear_weight")
        cin, cout = weight.shape
        out[dst + "gcn.weight"] = weight
        out[dst + "gcn.bias"] = take(src + "gcn1.Linear_bias").reshape(-1)
        out[dst + "gcn.feature_mask"] = take(src + "gcn1.Feature_Mask").reshape(-1, cin)
        for name, channels, sign in (("shift_in", cin, 1), ("shift_out", cout, -1)):
            flat = take(src + f"gcn1.{name}").long()
            expected = joint_shift(channels, num_joints, sign)  # (C, V): source joint of channel c at joint v
            mine = (expected.t() * channels + torch.arange(channels)[None, :]).reshape(-1)  # the release's form
            if flat.shape != mine.shape or not torch.equal(flat, mine):
                raise ConversionError(f"Shift-GCN state dict: {src}gcn1.{name} is not the released joint shift "
                                      f"for {num_joints} joints and {channels} channels")
        bn(src + "gcn1.bn", dst + "gcn.bn", reorder=(num_joints, cout))
        if src + "gcn1.down.0.weight" in state:
            out[dst + "gcn.down.0.weight"] = take(src + "gcn1.down.0.weight")
            out[dst + "gcn.down.0.bias"] = take(src + "gcn1.down.0.bias")
            bn(src + "gcn1.down.1", dst + "gcn.down.1")
        for name in ("bn", "bn2"):
            bn(src + f"tcn1.{name}", dst + f"tcn.{name}")
        for name in ("shift_in.xpos", "shift_in.ypos", "shift_out.xpos", "shift_out.ypos", "temporal_linear.weight",
                     "temporal_linear.bias"):
            out[dst + f"tcn.{name}"] = take(src + f"tcn1.{name}")
        if src + "residual.conv.weight" in state:
            out[dst + "residual.0.weight"] = take(src + "residual.conv.weight")
            out[dst + "residual.0.bias"] = take(src + "residual.conv.bias")
            bn(src + "residual.bn", dst + "residual.1")
    out["heads.0.fc.weight"] = take("fc.weight")
    out["heads.0.fc.bias"] = take("fc.bias")
    unused = sorted(set(state) - used)
    if unused:
        raise ConversionError(f"Shift-GCN state dict: {len(unused)} key(s) this architecture has no place for, "
                              f"e.g. {unused[0]!r}")
    return out


class _StrictState:
    """A released state dict read key by key: a missing key, and at the end an unused one, is a
    :class:`ConversionError` naming it (``what`` names the release in the message)."""

    def __init__(self, state: dict[str, Tensor], what: str) -> None:
        self.state = {k.removeprefix("module."): v for k, v in state.items()}
        self.what, self.used = what, set()

    def __contains__(self, key: str) -> bool:
        return key in self.state

    def take(self, key: str) -> Tensor:
        if key not in self.state:
            raise ConversionError(f"{self.what} state dict: missing key {key!r}")
        self.used.add(key)
        return self.state[key]

    def bn(self, src: str) -> dict[str, Tensor]:
        """A batch norm's five tensors (``num_batches_tracked`` is absent from old PyTorch's files)."""
        out = {k: self.take(f"{src}.{k}") for k in _BN[:4]}
        key = f"{src}.num_batches_tracked"
        out["num_batches_tracked"] = self.take(key) if key in self.state else torch.tensor(0)
        return out

    def check_all_used(self) -> None:
        unused = sorted(set(self.state) - self.used)
        if unused:
            raise ConversionError(f"{self.what} state dict: {len(unused)} key(s) this architecture has no place for, "
                                  f"e.g. {unused[0]!r}")


def convert_ctrgcn_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A CTR-GCN ``Model`` state dict (``data_bn``, ``l1..l10``, ``fc``) -> the state dict of
    ``create_model("expert", backbone="ctrgcn")`` (``backbones.0.*``, ``heads.0.fc.*``). Raises
    :class:`ConversionError` on an unknown or missing key (shapes are checked against the model by the caller)."""
    src = _StrictState(state, "CTR-GCN")
    out: dict[str, Tensor] = {}

    def put_bn(theirs: str, mine: str) -> None:
        out.update({f"{mine}.{k}": v for k, v in src.bn(theirs).items()})

    put_bn("data_bn", "backbones.0.input_norm.bn")
    blocks = sorted({int(m.group(1)) for k in src.state if (m := re.match(r"l(\d+)\.", k))})
    if blocks != list(range(1, 11)):
        raise ConversionError(f"CTR-GCN state dict: expected blocks l1..l10, found {[f'l{b}' for b in blocks]}")
    for b in blocks:
        s, d = f"l{b}.", f"backbones.0.blocks.{b - 1}."
        g = s + "gcn1."
        subsets = sorted({int(m.group(1)) for k in src.state if (m := re.match(re.escape(g) + r"convs\.(\d+)\.", k))})
        if not subsets or subsets != list(range(len(subsets))):
            raise ConversionError(f"CTR-GCN state dict: {g}convs.* must hold subsets 0..K-1, found {subsets}")
        if g + "PA" not in src:
            raise ConversionError(f"CTR-GCN state dict: missing key {g + 'PA'!r} (a non-adaptive CTR-GCN, "
                                  "adaptive=False, is not supported)")
        out[d + "spatial.conv.A"] = src.take(g + "PA")
        out[d + "spatial.conv.alpha"] = src.take(g + "alpha")
        for mine, theirs in (("conv_q", "conv1"), ("conv_k", "conv2"), ("conv_v", "conv3"), ("conv_w", "conv4")):
            w = torch.cat([src.take(f"{g}convs.{k}.{theirs}.weight") for k in subsets])
            out[d + f"spatial.conv.{mine}.weight"] = w.flatten(2) if mine in ("conv_q", "conv_k") else w
            out[d + f"spatial.conv.{mine}.bias"] = torch.cat([src.take(f"{g}convs.{k}.{theirs}.bias") for k in subsets])
        if g + "down.0.weight" in src:
            out[d + "spatial.down.0.weight"] = src.take(g + "down.0.weight")
            out[d + "spatial.down.0.bias"] = src.take(g + "down.0.bias")
            put_bn(g + "down.1", d + "spatial.down.1")
        put_bn(g + "bn", d + "spatial.bn")
        t = s + "tcn1.branches."
        projections = (f"{t}0", f"{t}1", f"{t}2")  # one merged 1x1 projection here
        out[d + "temporal.proj.0.weight"] = torch.cat([src.take(f"{p}.0.weight") for p in projections])
        out[d + "temporal.proj.0.bias"] = torch.cat([src.take(f"{p}.0.bias") for p in projections])
        bns = [src.bn(f"{p}.1") for p in projections]
        for k in _BN[:4]:
            out[d + f"temporal.proj.1.{k}"] = torch.cat([bn[k] for bn in bns])
        out[d + "temporal.proj.1.num_batches_tracked"] = bns[0]["num_batches_tracked"]
        for j in (0, 1):
            out[d + f"temporal.temporal.{j}.0.weight"] = src.take(f"{t}{j}.3.conv.weight").transpose(2, 3).contiguous()
            out[d + f"temporal.temporal.{j}.0.bias"] = src.take(f"{t}{j}.3.conv.bias")
            put_bn(f"{t}{j}.3.bn", d + f"temporal.temporal.{j}.1")
        put_bn(f"{t}2.4", d + "temporal.pool_bn")
        out[d + "temporal.strided.0.weight"] = src.take(f"{t}3.0.weight")
        out[d + "temporal.strided.0.bias"] = src.take(f"{t}3.0.bias")
        put_bn(f"{t}3.1", d + "temporal.strided.1")
        if s + "residual.conv.weight" in src:
            out[d + "residual.0.weight"] = src.take(s + "residual.conv.weight")
            out[d + "residual.0.bias"] = src.take(s + "residual.conv.bias")
            put_bn(s + "residual.bn", d + "residual.1")
    out["heads.0.fc.weight"] = src.take("fc.weight")
    out["heads.0.fc.bias"] = src.take("fc.bias")
    src.check_all_used()
    return out


def convert_pyskl_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A pyskl recognizer state dict (``backbone.*`` of its ``STGCN``, ``cls_head.fc_cls.*``) -> the state dict of
    ``create_model("expert", backbone="pyskl_stgcn" | "stgcnpp")``: the same tensors, temporal kernels
    ``(C_out, C_in, k, 1)`` turned to bharnet's time-last ``(C_out, C_in, 1, k)``, the residual's ``conv`` / ``bn``
    as ``0`` / ``1``. Raises :class:`ConversionError` for a key outside the backbone and the head."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("cls_head.fc_cls."):
            out["heads.0.fc." + key.removeprefix("cls_head.fc_cls.")] = value
            continue
        if not key.startswith("backbone."):
            raise ConversionError(f"pyskl state dict: key {key!r} is neither the STGCN backbone nor its GCNHead")
        name = key.removeprefix("backbone.")
        if name.startswith("data_bn."):
            name = "input_norm.bn." + name.removeprefix("data_bn.")
        else:
            m = re.match(r"gcn\.(\d+)\.(.*)$", name)
            if m is None:
                raise ConversionError(f"pyskl state dict: unexpected backbone key {key!r}")
            rest = m.group(2).replace("residual.conv.", "residual.0.").replace("residual.bn.", "residual.1.")
            name = f"blocks.{m.group(1)}.{rest}"
        if value.dim() == 4 and value.shape[3] == 1 and value.shape[2] > 1:  # a (k, 1) temporal kernel
            value = value.transpose(2, 3).contiguous()
        out["backbones.0." + name] = value
    return out
