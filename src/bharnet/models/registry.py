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

Each model is registered next to its class (``@register_dual_model`` on the dual-stream classes of
:mod:`bharnet.models.bharnet`, ``@register_model`` on the builders of the ``expert`` and of BHaRNet-M); the
arguments each model adds are its constructor's, listed by ``bharnet models --verbose`` and in its docstring.
A model built here remembers how (``model.bharnet_config``), which is what lets
:func:`bharnet.save_checkpoint` / :func:`bharnet.load_checkpoint` rebuild it.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from torch import nn

from ..checkpoint import CheckpointError, read_checkpoint
from .backbones import GCNBackbone, create_backbone

__all__ = ["create_model", "load_checkpoint", "list_models", "register_model", "register_dual_model", "model_info",
           "BackboneOptions"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder (what :func:`create_model` calls), a one-line summary, whether it takes
    ``(body, hand)``, and where it was registered (``module:qualname`` of the class or builder)."""

    name: str
    builder: Callable[..., nn.Module]
    summary: str
    dual: bool
    source: str = ""


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, summary: str, dual: bool = True) -> Callable[[Callable[..., nn.Module]],
                                                                          Callable[..., nn.Module]]:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, fn, summary, dual, f"{fn.__module__}:{fn.__qualname__}")
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


# ----------------------------------------------------------------------------- dual-stream builders
@dataclass(frozen=True)
class BackboneOptions:
    """The arguments every dual-stream model passes to its two backbones (:func:`~bharnet.models.create_backbone`):
    one backbone family for both streams, each on its own layout; ``num_persons`` body instances, ``num_hands``
    hand instances (0 = left, 1 = right)."""

    backbone: str = "degcn"
    body_layout: str = "ntu_rgbd"
    hand_layout: str = "mediapipe_hand"
    num_persons: int = 2
    num_hands: int = 2
    num_frames: int = 64
    in_channels: int = 3
    base_channels: int = 64
    backbone_kwargs: dict | None = None

    def build(self) -> tuple[GCNBackbone, GCNBackbone]:
        """The (body, hand) backbones."""
        kw = dict(num_frames=self.num_frames, in_channels=self.in_channels, base_channels=self.base_channels,
                  **(self.backbone_kwargs or {}))
        return (create_backbone(self.backbone, layout=self.body_layout, num_persons=self.num_persons, **kw),
                create_backbone(self.backbone, layout=self.hand_layout, num_persons=self.num_hands, **kw))


_BACKBONE_OPTIONS = tuple(f.name for f in fields(BackboneOptions))


def register_dual_model(name: str, summary: str, **defaults: Any) -> Callable[[type], type]:
    """Register a dual-stream class, next to it, as the model ``name``: ``create_model(name, ...)`` takes
    ``num_classes``, the :class:`BackboneOptions` and the class's own constructor arguments (``defaults``
    override the class's defaults: ``score_fusion`` is ``DualStream`` with ``complementary=False``). The class's
    constructor must be ``(body, hand, num_classes, ...)``. Stack it to register several readings of one class.
    """
    def deco(cls: type) -> type:
        own = {k: (p.replace(default=defaults[k]) if k in defaults else p)
               for k, p in inspect.signature(cls).parameters.items() if k not in ("body", "hand", "num_classes")}
        unknown = set(defaults) - set(own)
        if unknown:
            raise TypeError(f"register_dual_model({name!r}): {cls.__name__} has no argument(s) {sorted(unknown)}")

        def build(num_classes: int = 120, **kwargs: Any) -> nn.Module:
            options = BackboneOptions(**{k: kwargs.pop(k) for k in _BACKBONE_OPTIONS if k in kwargs})
            return cls(*options.build(), num_classes, **{**defaults, **kwargs})

        shared = [inspect.Parameter("num_classes", inspect.Parameter.KEYWORD_ONLY, default=120, annotation=int)]
        shared += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
                   for f in fields(BackboneOptions)]
        build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            shared + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own.values()])
        build.__doc__ = cls.__doc__
        build.__module__, build.__qualname__ = cls.__module__, cls.__qualname__
        register_model(name, summary)(build)
        return cls
    return deco
