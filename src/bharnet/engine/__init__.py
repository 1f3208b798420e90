"""Training and evaluation on Lightning: configs, the module and data module, metrics, score ensembles."""
from .config import DEFAULTS, ConfigError, apply_overrides, dump_config, load_config
from .schedule import lr_at

__all__ = ["DEFAULTS", "ConfigError", "apply_overrides", "dump_config", "load_config", "lr_at"]
