"""Experiment configs: YAML files on top of the defaults below, ``_base_`` inheritance, and command-line
overrides ``section.key=value`` (values parsed as YAML: ``optim.lr=0.05``, ``data.streams=[body,hand]``).

Every key must exist in :data:`DEFAULTS` (a misspelt key is an error that suggests the closest one); only
``model.args`` is free-form, because it is handed to :func:`bharnet.create_model`, which checks it.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "ConfigError", "load_config", "merge_config", "apply_overrides", "dump_config"]

DEFAULTS: dict[str, Any] = {
    "name": None,  # run name; defaults to the config file's path under configs/ or its stem
    "seed": 1,
    "out_dir": "runs",
    "data": {
        "store": None,  # a dataset store (bharnet data prepare ...)
        "protocol": "xsub",
        "window": 64,
        "sampling": "crop_resize",  # or "ucla", "fixed" (2s-AGCN stores, converted Shift-GCN), "uniform" (pyskl)
        "modality": "joint",  # joint, bone, joint_motion, bone_motion
        "streams": ["body"],  # ["body"], ["hand"] or ["body", "hand"]
        "hand_missing": "interpolate",  # undetected hand frames: "interpolate" (the store's) or "zero"
        "repeat": 1,
        "rotation": 0.3,
        "p_interval_train": [0.5, 1.0],
        "p_interval_test": [0.95],
        "batch_size": 64,
        "test_batch_size": 64,
        "num_workers": 2,
    },
    "model": {"name": "expert", "args": {}},
    # expert checkpoints for the dual-stream fine-tuning; joint / bone: BHaRNet-E checkpoints for BHaRNet-M
    "init": {"body": None, "hand": None, "joint": None, "bone": None},
    "loss": {"lambda_body": 1.0, "lambda_hand": 1.0, "lambda_cpl": 1.0, "label_smoothing": 0.1},
    "optim": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 4e-4},
    "schedule": {  # per epoch; see bharnet.engine.schedule.lr_at
        "warmup_epochs": 5,
        "cosine_period": 60,
        "cosine_min_lr": 0.01,
        "milestones": [35, 60, 75],
        "gamma": 0.1,
    },
    "trainer": {
        "epochs": 80,
        "accelerator": "auto",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "auto",  # auto: 16-mixed on a GPU (as DeGCN trains), 32-true on CPU
        "gradient_clip": 0.0,
        "sync_batchnorm": True,  # with several processes: batch statistics over the global batch
        "eval_every": 1,
        "log_every_n_steps": 20,
        "progress": True,
        "limit_train_batches": None,
        "limit_val_batches": None,
    },
    "eval": {
        "class_names": None,  # "ntu120", "ntu60", "nw_ucla", "pku_mmd" or a list
        "subset": None,  # a named subset ("paper_hand", "hand_window", "finger_centric") or a list of class indices
        "confusion_classes": None,  # a named subset or list: classes drawn in the confusion-matrix plot
    },
}

FREE_FORM = ("model.args",)


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


def merge_config(base: dict, update: dict, prefix: str = "") -> dict:
    """A copy of ``base`` (e.g. :data:`DEFAULTS`) with ``update``'s keys set, section by section; a key that
    ``base`` lacks is a :class:`ConfigError` naming it (free-form sections take any key)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        path = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(_unknown(path, base, prefix))
        if path in FREE_FORM:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {path!r} must be a mapping, got {value!r}")
            out[key] = {**out[key], **value}
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {path!r} is a section; give its keys ({', '.join(base[key])})")
            out[key] = merge_config(base[key], value, path + ".")
        else:
            out[key] = value
    return out


def _unknown(path: str, section: dict, prefix: str) -> str:
    options = [prefix + k for k in section]
    close = difflib.get_close_matches(path, options, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; keys here: {', '.join(options)}"
    return f"unknown config key {path!r}{hint}"


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: _base_ inheritance loops")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections")
    base = data.pop("_base_", None)
    if base is None:
        return data
    parent = _read_yaml((path.parent / base), seen + (path.resolve(),))
    return _deep_update(parent, data)


def _deep_update(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """``["optim.lr=0.05", "data.streams=[body,hand]"]`` applied on a validated config."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        path, text = item.split("=", 1)
        path = path.strip()
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        keys = path.split(".")
        node, defaults, prefix = config, DEFAULTS, ""
        for i, key in enumerate(keys):
            here = prefix + key
            free = any(here.startswith(f + ".") for f in FREE_FORM)
            if not free and (not isinstance(defaults, dict) or key not in defaults):
                raise ConfigError(_unknown(here, defaults if isinstance(defaults, dict) else {}, prefix))
            if i == len(keys) - 1:
                if not free and isinstance(defaults[key], dict) and here not in FREE_FORM:
                    raise ConfigError(f"config key {here!r} is a section; override one of its keys")
                node[key] = value
            else:
                node = node.setdefault(key, {})
                defaults = defaults[key] if not free else {}
                prefix = here + "."
    return config


# keys whose values may take several types (Lightning's own options), and integer keys that must be >= 1
_FLEXIBLE = ("trainer.devices", "trainer.precision", "trainer.strategy", "trainer.accelerator")
_POSITIVE = ("data.window", "data.repeat", "data.batch_size", "data.test_batch_size", "trainer.epochs",
             "trainer.eval_every", "trainer.log_every_n_steps", "trainer.num_nodes")


def _check_types(config: dict, defaults: dict = DEFAULTS, prefix: str = "") -> None:
    """Every value has its default's type or is null (numbers: int or float for a float default), so
    that a mistyped override fails here, naming its key, instead of deep inside training."""
    for key, default in defaults.items():
        path, value = prefix + key, config.get(key)
        if path in FREE_FORM or path in _FLEXIBLE or default is None or value is None:  # None: off / auto
            continue
        if isinstance(default, dict):
            _check_types(value, default, path + ".")
            continue
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        elif isinstance(default, list):
            ok, kind = isinstance(value, list), f"a list, e.g. {default}"
        else:
            continue
        if not ok:
            raise ConfigError(f"config key {path!r} must be {kind}, got {value!r}")
        if path in _POSITIVE and value < 1:
            raise ConfigError(f"config key {path!r} must be at least 1, got {value!r}")
        if path == "data.num_workers" and value < 0:
            raise ConfigError(f"config key {path!r} must be at least 0, got {value!r}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """Defaults <- YAML file (with ``_base_`` chain) <- overrides, every key checked."""
    data = _read_yaml(Path(path)) if path is not None else {}
    config = merge_config(DEFAULTS, data)
    config = apply_overrides(config, list(overrides or []))
    _check_types(config)
    if config["name"] is None and path is not None:
        p = Path(path)
        parts = p.with_suffix("").parts
        config["name"] = "/".join(parts[parts.index("configs") + 1:]) if "configs" in parts else p.stem
    return config


def dump_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
