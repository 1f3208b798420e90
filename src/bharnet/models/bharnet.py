"""The BHaRNet assemblies: experts, score fusion, joint training, cross-attention, P and E.

Every dual-stream model is called as ``model(body, hand)`` with ``body``: ``(N, C, T, V_B, M)``
(persons) and ``hand``: ``(N, C, T, V_H, I)`` (hand instances: 0 = left, 1 = right) and
returns a :class:`~bharnet.models.output.ModelOutput`; a single expert is called as
``model(x)``. :class:`~bharnet.losses.BHaRNetLoss` turns any of these outputs into the paper's loss.

Interpretations (see ``docs/architecture.md``):

* Score fusion and joint training average the two logit vectors ([P] §III-B); BHaRNet-E sums
  its four branches ([P] eq. 11). ``fusion="noisy_or"`` replaces either rule by
  ``p = 1 - prod_i (1 - sigmoid(y_i))`` (the journal extension's Noisy-OR; its exact form is
  unpublished, this is the standard one).
* Cross-attention tokens are all ``T' * I * V`` positions of the final feature map (800 for
  NTU-120 at T=64), except in BHaRNet-P, which attends over pooled tokens (eqs. 6-8) and
  merges its three axis outputs by their mean before one classifier per stream (the only
  reading that reproduces the paper's 4.53 M parameters).
* BHaRNet-E's interactive branches use the attended features without a residual skip (the
  raw features live on in the expert branches), each direction followed by a 256-256-256
  GELU feed-forward layer with pre-LayerNorm and a residual: this reproduces the paper's
  2.75 M / 2.72 G. Individual losses go to the interactive branches only, the complementary
  loss to the two expert branches' fused logits (``complementary_on``; see :class:`BHaRNetE`).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .attention import BidirectionalCrossAttention
from .backbones import GCNBackbone, create_backbone
from .heads import Classifier, check_fusion, fuse_logits, pool_features, tokens
from .output import ModelOutput
from .registry import register_dual_model, register_model

__all__ = ["Expert", "BodyHandModel", "DualStream", "CrossAttentionNet", "BHaRNetP", "BHaRNetE"]


class Expert(nn.Module):
    """One backbone and its classifier: the body or hand expert. ``model(x)`` with ``x``:
    ``(N, C, T, V, M)``. ``num_trunks=2`` builds DeGCN's default "two-stream" model: two
    independent trunks on the same input, logits summed, each trained by its own loss."""

    def __init__(self, backbones: list[GCNBackbone], num_classes: int, stream: str = "body",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.stream = stream
        self.backbones = nn.ModuleList(backbones)
        self.heads = nn.ModuleList(Classifier(b.out_channels, num_classes, dropout) for b in backbones)

    @property
    def backbone(self) -> GCNBackbone:
        return self.backbones[0]

    def input_spec(self) -> dict[str, tuple[int, ...]]:
        """``{stream: (C, T, V, M)}``: ``model(x)`` (:mod:`bharnet.models.inputs`)."""
        return {self.stream: self.backbone.input_spec()["x"]}

    def forward(self, x: Tensor) -> ModelOutput:
        if len(self.backbones) == 1:
            logits = self.heads[0](pool_features(self.backbones[0](x)))
            return ModelOutput(logits, {self.stream: logits}, (self.stream,))
        branches = {f"{self.stream}_{i}": h(pool_features(b(x)))
                    for i, (b, h) in enumerate(zip(self.backbones, self.heads))}
        return ModelOutput(fuse_logits(list(branches.values()), "sum"), branches, tuple(branches), "sum")


@register_model("expert", "single-stream expert on body (or hand) skeletons; model(x)", dual=False)
def expert(backbone: str = "degcn", num_classes: int = 120, stream: str = "body", layout: str | None = None,
           num_persons: int = 2, num_frames: int = 64, in_channels: int = 3, base_channels: int = 64,
           num_trunks: int = 1, dropout: float = 0.0, backbone_kwargs: dict | None = None) -> Expert:
    """``stream="hand"`` defaults the layout to the padded MediaPipe hand; ``num_trunks=2`` is
    DeGCN's two-stream model (two trunks on the same input, logits summed)."""
    if stream not in ("body", "hand"):
        raise ValueError(f"stream must be 'body' or 'hand', got {stream!r}")
    layout = layout or ("ntu_rgbd" if stream == "body" else "mediapipe_hand")
    trunks = [create_backbone(backbone, layout=layout, num_persons=num_persons, num_frames=num_frames,
                              in_channels=in_channels, base_channels=base_channels, **(backbone_kwargs or {}))
              for _ in range(num_trunks)]
    return Expert(trunks, num_classes, stream, dropout)


class BodyHandModel(nn.Module):
    """Two backbones (body, hand) and expert-checkpoint loading."""

    expert_heads: dict[str, str] = {}
    # True where the expert heads classify the raw backbone features (so an expert can stand alone).
    standalone_experts = False

    def __init__(self, body: GCNBackbone, hand: GCNBackbone) -> None:
        super().__init__()
        self.body_backbone, self.hand_backbone = body, hand

    def input_spec(self) -> dict[str, tuple[int, ...]]:
        """``{"body": (C, T, V_B, M), "hand": (C, T, V_H, I)}``: ``model(body, hand)`` (see :mod:`.inputs`)."""
        return {"body": self.body_backbone.input_spec()["x"], "hand": self.hand_backbone.input_spec()["x"]}

    def load_expert(self, source: str | Path | Mapping[str, Tensor] | nn.Module, stream: str) -> None:
        """Initialise the ``stream`` ("body" or "hand") backbone, and its expert classifier where
        the model has one, from a trained :class:`Expert` or the matching stream of a trained
        :class:`DualStream` (module, state dict or checkpoint path)."""
        if stream not in ("body", "hand"):
            raise ValueError(f"stream must be 'body' or 'hand', got {stream!r}")
        from ..checkpoint import read_checkpoint, state_dict_of

        if isinstance(source, (str, Path)):
            data = read_checkpoint(source)
            recipe = data.get("model") or {}
            source_stream = recipe.get("kwargs", {}).get("stream", "body") if recipe.get("name") == "expert" else None
            state = data["state_dict"]
        else:
            source_stream = source.stream if isinstance(source, Expert) else None
            state = state_dict_of(source)
        if source_stream is not None and source_stream != stream:
            raise ValueError(f"load_expert: {source if isinstance(source, (str, Path)) else 'the source'} is a "
                             f"{source_stream} expert; it cannot initialise the {stream} stream")

        def has(prefix: str) -> bool:
            return any(k.startswith(prefix) for k in state)

        if has("backbones.1."):
            raise ValueError("the source is a two-trunk expert (num_trunks=2); one backbone cannot take both trunks")
        prefix, head_prefix = "backbones.0.", "heads.0."
        if not has(prefix):  # the matching stream of a dual-stream model
            prefix = f"{stream}_backbone."
            # BHaRNet-E's expert heads classify raw features; the heads of the attention models read
            # attended features, so they are no expert classifier to start from
            head_prefix = (f"{stream}_expert." if has(f"{stream}_expert.") else
                           "" if has("cross.") or has("pam.") else f"{stream}_head.")
        backbone = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        if not backbone:
            raise ValueError(f"no {stream} expert weights ('backbones.0.*' or '{stream}_backbone.*') in the source")
        getattr(self, f"{stream}_backbone").load_state_dict(backbone)
        head_name = self.expert_heads.get(stream)
        head = {k.removeprefix(head_prefix): v for k, v in state.items() if head_prefix and k.startswith(head_prefix)}
        if head_name is not None and head:
            getattr(self, head_name).load_state_dict(head)
        elif head_name is not None:
            warnings.warn(f"load_expert: the source has no standalone {stream} classifier; {head_name} keeps its "
                          "initial weights (only the backbone was loaded)", stacklevel=2)

    def features(self, body: Tensor, hand: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, C, T, V, M)`` body and hand inputs of the same N samples -> their backbones' features."""
        nb, nh = (x.shape[0] if isinstance(x, Tensor) and x.dim() else None for x in (body, hand))
        if nb != nh and nb is not None and nh is not None:
            # attention and fusion would broadcast one stream's samples over the other's
            raise ValueError(f"{type(self).__name__}: body and hand inputs must hold the same samples, got "
                             f"N={nb} body and N={nh} hand sequences")
        return self.body_backbone(body), self.hand_backbone(hand)

    def expert(self, stream: str) -> Expert:
        """A standalone copy of the ``stream`` ("body" or "hand") expert: its backbone and expert
        classifier. Its logits equal this model's ``branches`` entry of that expert."""
        import copy
        if stream not in ("body", "hand"):
            raise ValueError(f"stream must be 'body' or 'hand', got {stream!r}")
        head_name = self.expert_heads.get(stream)
        if head_name is None or not self.standalone_experts:
            raise ValueError(f"{type(self).__name__} has no {stream} expert classifier (its heads read "
                             "attended features)")
        head: Classifier = getattr(self, head_name)
        backbone: GCNBackbone = getattr(self, f"{stream}_backbone")
        model = Expert([copy.deepcopy(backbone)], head.fc.out_features, stream).train(self.training)
        model.heads[0].load_state_dict(head.state_dict())
        config = getattr(self, "bharnet_config", None)
        if config is not None:
            kw = config["kwargs"]
            keep = ("backbone", "num_classes", "num_frames", "in_channels", "base_channels", "backbone_kwargs")
            model.bharnet_config = {"name": "expert", "kwargs": {
                **{k: kw[k] for k in keep if k in kw}, "stream": stream,
                "layout": kw.get(f"{stream}_layout", "ntu_rgbd" if stream == "body" else "mediapipe_hand"),
                "num_persons": kw.get("num_persons" if stream == "body" else "num_hands", 2)}}
        return model


# (decorators apply from the bottom up: the registry lists score_fusion first)
@register_dual_model("dual_stream", "two experts fused at the score level (any fusion; e.g. BHaRNet-E's light model)")
@register_dual_model("joint_training", "body + hand experts trained jointly with the complementary loss",
                     complementary=True)
@register_dual_model("score_fusion", "body + hand experts, logits averaged, no complementary loss", complementary=False)
class DualStream(BodyHandModel):
    """Body expert + hand expert, fused at the score level ([P] §III-A/B).

    ``complementary=False``: score fusion of two independently trained experts (their losses do
    not interact). ``complementary=True``: joint training with ``L_B + L_H + L_cpl``.
    """

    expert_heads = {"body": "body_head", "hand": "hand_head"}
    standalone_experts = True

    def __init__(self, body: GCNBackbone, hand: GCNBackbone, num_classes: int, fusion: str = "mean",
                 complementary: bool = True, dropout: float = 0.0) -> None:
        super().__init__(body, hand)
        self.fusion, self.complementary = check_fusion(fusion), complementary
        self.body_head = Classifier(body.out_channels, num_classes, dropout)
        self.hand_head = Classifier(hand.out_channels, num_classes, dropout)

    def forward(self, body: Tensor, hand: Tensor) -> ModelOutput:
        fb, fh = self.features(body, hand)
        yb, yh = self.body_head(pool_features(fb)), self.hand_head(pool_features(fh))
        return ModelOutput(fuse_logits([yb, yh], self.fusion), {"body": yb, "hand": yh}, ("body", "hand"),
                           self.fusion, self.complementary)


@register_dual_model("fast_attention", "full-token FAVOR+ (Performer) cross-attention between the streams",
                     attention="favor", ffn_hidden=256)
@register_dual_model("cross_attention", "full-token exact softmax cross-attention between the streams",
                     attention="softmax", ffn_hidden=0)
class CrossAttentionNet(BodyHandModel):
    """Full-token cross-attention between the streams (Table III "Cross-Attention" / "Fast
    Attention"): ``F~_B, F~_H = CrossAttn(F_B, F_H)`` over all ``T'·I·V`` positions, residual
    inside the attention, then GAP and one classifier per stream; losses as in joint training.

    The registry's ``cross_attention`` (exact softmax) has no feed-forward layer — its true parameter
    count is the paper's 2.46 M; ``fast_attention`` (FAVOR+) has BHaRNet-E's per-direction module
    (``ffn_hidden=256``), the reading under which its cost is the paper's 2.72 GFLOPs."""

    expert_heads = {"body": "body_head", "hand": "hand_head"}

    def __init__(self, body: GCNBackbone, hand: GCNBackbone, num_classes: int, attention: str = "favor",
                 heads: int = 8, dim_head: int = 64, num_features: int | None = None, redraw_interval: int = 1000,
                 ffn_hidden: int = 0, fusion: str = "mean", complementary: bool = True, dropout: float = 0.0) -> None:
        super().__init__(body, hand)
        dim = body.out_channels
        self.fusion, self.complementary = check_fusion(fusion), complementary
        self.cross = BidirectionalCrossAttention(dim=dim, heads=heads, dim_head=dim_head, kernel=attention,
                                                 residual=True, ffn_hidden=ffn_hidden, num_features=num_features,
                                                 redraw_interval=redraw_interval)
        self.body_head = Classifier(dim, num_classes, dropout)
        self.hand_head = Classifier(dim, num_classes, dropout)

    def forward(self, body: Tensor, hand: Tensor) -> ModelOutput:
        fb, fh = self.features(body, hand)
        tb, th = self.cross(tokens(fb), tokens(fh))
        yb, yh = self.body_head(tb.mean(1)), self.hand_head(th.mean(1))
        return ModelOutput(fuse_logits([yb, yh], self.fusion), {"body": yb, "hand": yh}, ("body", "hand"),
                           self.fusion, self.complementary)


COMPLEMENTARY_TARGETS = ("all", "experts", "experts+all")  # BHaRNet-E's readings of the complementary term
_PAM_AXES = {"T": (1, 4), "V": (1, 3), "I": (3, 4)}  # axes of (N, I, C, T, V) pooled before attention


@register_dual_model("bharnet_p", "BHaRNet-P: Pooling Attention Module over (T, V, I)")
class BHaRNetP(BodyHandModel):
    """BHaRNet-P: the Pooling Attention Module ([P] eqs. 6-8, Fig. 3).

    For each axis ``a`` in (T, V, I): pool the other two axes, cross-attend (FAVOR+, one
    bidirectional pair per axis), pool ``a``; merge the three vectors of a stream (``merge``:
    ``mean`` or ``sum``) and classify. Shapes: features ``(N, I, C, T, V)`` give ``T'``, ``V`` and
    ``I`` tokens of width ``C``.
    """

    expert_heads = {"body": "body_head", "hand": "hand_head"}

    def __init__(self, body: GCNBackbone, hand: GCNBackbone, num_classes: int, attention: str = "favor",
                 heads: int = 8, dim_head: int = 64, num_features: int | None = None, redraw_interval: int = 1000,
                 merge: str = "mean", fusion: str = "mean", complementary: bool = True, dropout: float = 0.0) -> None:
        super().__init__(body, hand)
        if merge not in ("mean", "sum"):
            raise ValueError(f"merge must be 'mean' or 'sum', got {merge!r}")
        dim = body.out_channels
        self.merge, self.fusion, self.complementary = merge, check_fusion(fusion), complementary
        self.pam = nn.ModuleDict({
            axis: BidirectionalCrossAttention(dim=dim, heads=heads, dim_head=dim_head, kernel=attention,
                                              residual=True, num_features=num_features,
                                              redraw_interval=redraw_interval)
            for axis in _PAM_AXES})
        self.body_head = Classifier(dim, num_classes, dropout)
        self.hand_head = Classifier(dim, num_classes, dropout)

    @staticmethod
    def pooled_tokens(f: Tensor, axis: str) -> Tensor:
        """``(N, I, C, T, V) -> (N, L_axis, C)`` with the two other axes averaged."""
        pooled = f.mean(_PAM_AXES[axis])  # (N, C, T) / (N, C, V) / (N, I, C)
        return pooled if axis == "I" else pooled.transpose(1, 2)

    def forward(self, body: Tensor, hand: Tensor) -> ModelOutput:
        fb, fh = self.features(body, hand)
        vb, vh = [], []
        for axis, pair in self.pam.items():
            tb, th = pair(self.pooled_tokens(fb, axis), self.pooled_tokens(fh, axis))
            vb.append(tb.mean(1))
            vh.append(th.mean(1))
        merge = torch.mean if self.merge == "mean" else torch.sum
        yb, yh = self.body_head(merge(torch.stack(vb), 0)), self.hand_head(merge(torch.stack(vh), 0))
        return ModelOutput(fuse_logits([yb, yh], self.fusion), {"body": yb, "hand": yh}, ("body", "hand"),
                           self.fusion, self.complementary)


@register_dual_model("bharnet_e", "BHaRNet-E: expert + interactive branches per stream, logits summed")
class BHaRNetE(BodyHandModel):
    """BHaRNet-E: the Expertized Branch model ([P] §III-D, eqs. 9-11, Fig. 4 left).

    Four branches share the two backbones: body expert ``F_B``, hand expert ``F_H``, and the
    interactive ``F~_B, F~_H`` from full-token cross-attention; each has its own classifier and the
    prediction is their sum. Individual losses act on the interactive branches only ([P]: "applying
    individual losses only on interactive branches"); the complementary loss ("applied across
    branches", which in §III-B is the CE of the fused body + hand logits) acts on the fused logits that
    ``complementary_on`` names [INT: the paper gives no formula for E]:

    * ``"experts"`` (default): ``CE(y1 + y2)``, the expert pair, i.e. the light model's prediction;
    * ``"all"``: ``CE(y1 + y2 + y3 + y4)``, the fused prediction (this project's first reading);
    * ``"experts+all"``: both terms.

    The evidence (docs/architecture.md, ``benchmarks/ablation.py``; 3 seeds on the built-in benchmark):
    under ``"all"`` the expert heads learn only through the four-branch sum, whose interactive half
    already carries the prediction, and the light model falls to 57 % (bone stream) against 93 % with
    ``"experts"``, contradicting the paper's light model 0.3 points below the full one; with
    ``"experts"`` the light model is within a point of the full model, and the full model is no worse
    (92.6 against 90.4 %).

    ``fusion="mean"`` fuses by the mean instead of the sum, in the prediction (same argmax) and in the
    complementary term (a different loss: the mean's logits are a quarter / half as large): §III-B's
    "averaging logit vectors". It measured the same as the sum (within the seeds' spread).

    ``complementary=False`` (Table III's "w/o L_c" column) gives every branch, the experts included,
    its own cross-entropy term [INT]: under the literal reading (interactive terms only) the expert
    heads would get no gradient at all and add untrained logits to the prediction and to the light
    model, which cannot be the ablation the paper reports.

    ``expert_only=True`` (or :meth:`light`) skips the attention and interactive heads: the light
    model, predicting ``y_body_expert + y_hand_expert``.
    """

    expert_heads = {"body": "body_expert", "hand": "hand_expert"}
    standalone_experts = True

    def __init__(self, body: GCNBackbone, hand: GCNBackbone, num_classes: int, attention: str = "favor",
                 heads: int = 8, dim_head: int = 64, num_features: int | None = None, redraw_interval: int = 1000,
                 ffn_hidden: int = 256, fusion: str = "sum", complementary: bool = True,
                 complementary_on: str = "experts", expert_only: bool = False, dropout: float = 0.0) -> None:
        super().__init__(body, hand)
        if complementary_on not in COMPLEMENTARY_TARGETS:
            raise ValueError(f"complementary_on must be one of {COMPLEMENTARY_TARGETS}, got {complementary_on!r}")
        dim = body.out_channels
        self.fusion, self.complementary, self.expert_only = check_fusion(fusion), complementary, expert_only
        self.complementary_on = complementary_on
        self.cross = BidirectionalCrossAttention(dim=dim, heads=heads, dim_head=dim_head, kernel=attention,
                                                 residual=False, ffn_hidden=ffn_hidden, num_features=num_features,
                                                 redraw_interval=redraw_interval)
        self.body_expert = Classifier(dim, num_classes, dropout)
        self.hand_expert = Classifier(dim, num_classes, dropout)
        self.body_interactive = Classifier(dim, num_classes, dropout)
        self.hand_interactive = Classifier(dim, num_classes, dropout)

    def forward(self, body: Tensor, hand: Tensor) -> ModelOutput:
        return self.classify(*self.features(body, hand))

    def classify(self, fb: Tensor, fh: Tensor) -> ModelOutput:
        """The branches from the backbones' features ``(N, M, C, T', V)`` (BHaRNet-M reuses ``fb`` as its guide)."""
        branches = {"body_expert": self.body_expert(pool_features(fb)),
                    "hand_expert": self.hand_expert(pool_features(fh))}
        if self.expert_only:
            return ModelOutput(fuse_logits(list(branches.values()), self.fusion), branches, (), self.fusion, False)
        tb, th = self.cross(tokens(fb), tokens(fh))
        branches["body_interactive"] = self.body_interactive(tb.mean(1))
        branches["hand_interactive"] = self.hand_interactive(th.mean(1))
        individual = ("body_interactive", "hand_interactive") if self.complementary else tuple(branches)
        fused = fuse_logits(list(branches.values()), self.fusion)
        targets = {}
        if self.complementary and self.complementary_on != "all":
            targets["experts"] = fuse_logits([branches["body_expert"], branches["hand_expert"]], self.fusion)
            if self.complementary_on == "experts+all":
                targets["all"] = fused
        return ModelOutput(fused, branches, individual, self.fusion, self.complementary, targets)

    def light(self) -> DualStream:
        """A standalone copy of the expert-only model (two backbones and the two expert heads),
        without the attention and interactive heads; its logits equal this model's expert-only logits."""
        import copy
        num_classes = self.body_expert.fc.out_features
        model = DualStream(copy.deepcopy(self.body_backbone), copy.deepcopy(self.hand_backbone), num_classes,
                           fusion=self.fusion, complementary=False).train(self.training)
        model.body_head.load_state_dict(self.body_expert.state_dict())
        model.hand_head.load_state_dict(self.hand_expert.state_dict())
        config = getattr(self, "bharnet_config", None)
        if config is not None:  # so that the light model saves and reloads on its own
            dropped = {"attention", "heads", "dim_head", "num_features", "redraw_interval", "ffn_hidden",
                       "expert_only", "fusion", "complementary", "complementary_on"}
            kwargs = {k: v for k, v in config["kwargs"].items() if k not in dropped}
            model.bharnet_config = {"name": "dual_stream",
                                    "kwargs": dict(kwargs, fusion=self.fusion, complementary=False)}
        return model
