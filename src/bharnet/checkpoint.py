"""Checkpoints that load without running pickled code.

A checkpoint is a ``torch.save`` file holding only tensors and plain containers::

    {"format": "bharnet-checkpoint", "version": 1,
     "model": {"name": <registry name>, "kwargs": {...}},   # how to rebuild it
     "state_dict": {...}, "extra": {...}}                    # extra: user metadata (plain types)

It is read with ``torch.load(weights_only=True)``, PyTorch's restricted unpickler: a file that
tries to construct any other object (e.g. call ``os.system``) is rejected with
:class:`CheckpointError` before anything runs. This module is the file format alone; rebuilding a model from a
checkpoint's recipe is :func:`bharnet.models.load_checkpoint` (it needs the model registry).
"""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .utils.files import atomic_path

__all__ = ["CheckpointError", "save_checkpoint", "read_checkpoint", "state_dict_of"]

FORMAT = "bharnet-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unsafe, malformed or does not fit the model."""


def save_checkpoint(path: str | os.PathLike, model: nn.Module, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and build recipe to ``path`` atomically (:func:`bharnet.utils.files.atomic_path`).

    ``extra`` must hold plain data (numbers, strings, lists, dicts, tensors).
    """
    path = Path(path)
    config = getattr(model, "bharnet_config", None)
    payload = {"format": FORMAT, "version": VERSION, "model": config,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "extra": extra or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely. Accepts bharnet checkpoints and plain state dicts (or dicts with a
    ``state_dict``/``model`` entry, as other toolboxes write them); returns a bharnet-style dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # the restricted unpickler's notes on odd pickle protocols
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # PyTorch's message advises weights_only=False; only its unpickler's own reason is relevant
        code = next((line.strip() for line in str(e).split("\n") if "GLOBAL" in line), None)  # a named callable
        if code is not None:
            raise CheckpointError(f"{path}: refused to load: the file would construct objects other than tensors "
                                  f"and plain data, which could run code ({code}); nothing was run") from None
        reason = next((line for line in str(e).partition("WeightsUnpickler error:")[2].split("\n") if line.strip()),
                      "").strip()
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt, or not a checkpoint"
                              + (f": {reason})" if reason else ")")) from None
    except Exception as e:  # noqa: BLE001 - garbage bytes fail anywhere inside the unpickler
        detail = str(e).splitlines()[0] if str(e) else "truncated or corrupt"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {detail})") from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        if data.get("version") != VERSION:
            raise CheckpointError(f"{path}: checkpoint version {data.get('version')} is not supported "
                                  f"(this bharnet reads version {VERSION})")
        state, recipe = data.get("state_dict"), data.get("model")
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path}: malformed checkpoint: 'state_dict' is not a mapping of tensors")
        if recipe is not None and not (isinstance(recipe, dict) and isinstance(recipe.get("name"), str)
                                       and isinstance(recipe.get("kwargs", {}), dict)):
            raise CheckpointError(f"{path}: malformed checkpoint: 'model' must be {{'name': str, 'kwargs': dict}}")
        return data
    if isinstance(data, dict):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), dict):
                return {"format": None, "model": None, "state_dict": data[key], "extra": {}}
        if data and all(isinstance(v, torch.Tensor) for v in data.values()):
            return {"format": None, "model": None, "state_dict": data, "extra": {}}
    raise CheckpointError(f"{path}: no state dict found in this file")


def state_dict_of(source: str | os.PathLike | nn.Module | Any) -> dict[str, torch.Tensor]:
    """Weights from a checkpoint path (read safely), a module, or a mapping of tensors."""
    if isinstance(source, (str, os.PathLike)):
        return read_checkpoint(source)["state_dict"]
    if isinstance(source, nn.Module):
        return source.state_dict()
    return dict(source)
