"""One way to build every model: ``bharnet.create_model(name, **kwargs)``.

Common keyword arguments (all optional):

``backbone``        ``"degcn"`` (default), ``"ctrgcn"`` or ``"stgcn"``
``num_classes``     120
``num_frames``      input length T, 64
``in_channels``     3 (x, y, z; 2.5D MediaPipe hands also carry 3)
``base_channels``   64 (the paper's width; smaller values give CPU-sized models)
``body_layout``     dual-stream models: ``"ntu_rgbd"``; ``num_persons`` 2
``hand_layout``     dual-stream models: ``"mediapipe_hand"`` (21 joints + 4 dummies = 25); ``num_hands`` 2
``stream``          the ``expert``: ``"body"`` (default) or ``"hand"``, with ``layout`` and ``num_persons``
                    (default: the stream's layout, 2)
``backbone_kwargs`` extra arguments for the backbone constructor (e.g. ``{"eta": 4}``)

The arguments each model adds are listed by ``bharnet models --verbose`` and in its docstring.
A model built here remembers how (``model.bharnet_config``), which is what lets
:func:`bharnet.save_checkpoint` / :func:`bharnet.load_checkpoint` rebuild it.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..checkpoint import CheckpointError, read_checkpoint
from .backbones import create_backbone
from .bharnet import BHaRNetE, BHaRNetP, CrossAttentionNet, DualStream, Expert

__all__ = ["create_model", "load_checkpoint", "list_models", "register_model", "model_info"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    summary: str
    dual: bool


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, summary: str, dual: bool = True) -> Callable[[Callable[..., nn.Module]],
                                                                          Callable[..., nn.Module]]:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, fn, summary, dual)
        return fn
    return deco


def list_models() -> list[str]:
    return list(_MODELS)


def model_info(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name; see this module's docstring for common arguments."""
    entry = model_info(name)
    accepted = inspect.signature(entry.builder).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise TypeError(f"create_model({name!r}): unknown argument(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(accepted)}")
    model = entry.builder(**kwargs)
    model.bharnet_config = {"name": name, "kwargs": dict(kwargs)}
    return model


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None, strict: bool = True) -> nn.Module:
    """Load weights into ``model``, or rebuild the model from the checkpoint's recipe when ``model``
    is None. The checkpoint's ``extra`` dict is attached to the result as ``checkpoint_extra``."""
    data = read_checkpoint(path)
    if model is None:
        config = data.get("model")
        if not config:
            raise CheckpointError(f"{path}: the checkpoint does not say how to build its model; "
                                  f"pass model= to load it into one")
        try:
            model = create_model(config["name"], **config.get("kwargs", {}))
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: the checkpoint's model recipe does not build with this bharnet: {e}"
                                  ) from None
    try:
        model.load_state_dict(data["state_dict"], strict=strict)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit {type(model).__name__}: {e}") from None
    model.checkpoint_extra = data.get("extra", {})
    return model


# ----------------------------------------------------------------------------- builders
def _backbones(backbone: str, body_layout: str, hand_layout: str, num_persons: int, num_hands: int, num_frames: int,
               in_channels: int, base_channels: int, backbone_kwargs: dict | None):
    kw = dict(num_frames=num_frames, in_channels=in_channels, base_channels=base_channels, **(backbone_kwargs or {}))
    return (create_backbone(backbone, layout=body_layout, num_persons=num_persons, **kw),
            create_backbone(backbone, layout=hand_layout, num_persons=num_hands, **kw))


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


def _dual_builder(cls: type, **defaults: Any) -> Callable[..., nn.Module]:
    """A builder for a dual-stream class; ``defaults`` override the class's own defaults."""
    extra = {k: (p.replace(default=defaults[k]) if k in defaults else p)
             for k, p in inspect.signature(cls).parameters.items() if k not in ("body", "hand", "num_classes")}

    def build(backbone: str = "degcn", num_classes: int = 120, body_layout: str = "ntu_rgbd",
              hand_layout: str = "mediapipe_hand", num_persons: int = 2, num_hands: int = 2, num_frames: int = 64,
              in_channels: int = 3, base_channels: int = 64, backbone_kwargs: dict | None = None,
              **kwargs: Any) -> nn.Module:
        body, hand = _backbones(backbone, body_layout, hand_layout, num_persons, num_hands, num_frames, in_channels,
                                base_channels, backbone_kwargs)
        return cls(body, hand, num_classes, **{**defaults, **kwargs})

    params = [p for p in inspect.signature(build).parameters.values() if p.kind != p.VAR_KEYWORD]
    build.__signature__ = inspect.Signature(params + list(extra.values()))  # type: ignore[attr-defined]
    build.__doc__ = cls.__doc__
    return build


register_model("score_fusion", "body + hand experts, logits averaged, no complementary loss")(
    _dual_builder(DualStream, complementary=False))
register_model("joint_training", "body + hand experts trained jointly with the complementary loss")(
    _dual_builder(DualStream, complementary=True))
register_model("cross_attention", "full-token exact softmax cross-attention between the streams")(
    _dual_builder(CrossAttentionNet, attention="softmax", ffn_hidden=0))
register_model("fast_attention", "full-token FAVOR+ (Performer) cross-attention between the streams")(
    _dual_builder(CrossAttentionNet, attention="favor", ffn_hidden=256))
register_model("bharnet_p", "BHaRNet-P: Pooling Attention Module over (T, V, I)")(_dual_builder(BHaRNetP))
register_model("bharnet_e", "BHaRNet-E: expert + interactive branches per stream, logits summed")(
    _dual_builder(BHaRNetE))
register_model("dual_stream", "two experts fused at the score level (any fusion; e.g. BHaRNet-E's light model)")(
    _dual_builder(DualStream))


def _bharnet_m(top_k: int = 4, freeze_skeleton: bool = True, **kwargs: Any) -> nn.Module:
    from .rgb import BHaRNetM

    build = model_info("bharnet_e").builder
    return BHaRNetM(build(**kwargs), build(**kwargs), kwargs.get("num_classes", 120), top_k, freeze_skeleton)


_bharnet_m.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    list(inspect.signature(_bharnet_m).parameters.values())[:2]
    + [p.replace(kind=p.KEYWORD_ONLY) for p in inspect.signature(model_info("bharnet_e").builder).parameters.values()])
_bharnet_m.__doc__ = """BHaRNet-M: two BHaRNet-E (joint, bone; frozen) and a ResNet-18 on the skeleton-weighted ST-ROI
image; ``model(body, hand, roi)``. ``freeze_skeleton=False`` fine-tunes the BHaRNet-E models through a
cross-entropy on the summed logits. Other arguments go to both BHaRNet-E models."""
register_model("bharnet_m", "BHaRNet-M: frozen BHaRNet-E joint + bone, ResNet-18 on the ST-ROI image; "
               "model(body, hand, roi)")(_bharnet_m)
