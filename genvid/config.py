"""Training configs: OmegaConf YAML whose sections mirror constructor arguments.

A config file has five sections::

    task: dit                 # which training task (see genvid.training.tasks)
    model: {...}              # the model class's constructor arguments
    data: {...}               # genvid.data.DataConfig fields
    task_options: {...}       # the task's options dataclass fields
    training: {...}           # genvid.training.TrainingConfig fields

Command-line overrides are OmegaConf dot-lists (``model.depth=12 training.max_steps=100``).
An unknown key anywhere is an error naming it.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

SECTIONS = ("task", "model", "data", "task_options", "training")


class ConfigError(ValueError):
    """A config that cannot be used as written; the message names the key or file."""


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> DictConfig:
    """Read a YAML config and apply dot-list overrides; checks the top-level sections."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            config = OmegaConf.load(path)
        except Exception as error:  # yaml errors are long; keep the first line
            raise ConfigError(f"cannot parse {path}: {str(error).splitlines()[0]}") from None
    else:
        config = OmegaConf.create({})
    overrides = list(overrides)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
    if overrides:
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(overrides))
    unknown = [key for key in config.keys() if key not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown config section {unknown[0]!r}; expected one of {', '.join(SECTIONS)}")
    return config


def section(config: DictConfig, name: str) -> dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    return OmegaConf.to_container(value, resolve=True)


def check_keys(values: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = set(allowed)
    for key in values:
        if key not in allowed:
            raise ConfigError(f"unknown config key '{where}.{key}'; allowed keys: {', '.join(sorted(allowed))}")


def constructor_keys(cls) -> list[str]:
    """Argument names of ``cls.__init__`` (for validating a ``model:`` section)."""
    parameters = inspect.signature(cls.__init__).parameters
    return [name for name, p in parameters.items() if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def build_dataclass(cls, values: dict[str, Any] | None, where: str):
    """Instantiate a dataclass from a config section, naming any unknown key."""
    values = dict(values or {})
    check_keys(values, [field.name for field in dataclasses.fields(cls)], where)
    return cls(**values)


def build_model(cls, values: dict[str, Any] | None, where: str = "model"):
    values = dict(values or {})
    check_keys(values, constructor_keys(cls), where)
    return cls(**values)
