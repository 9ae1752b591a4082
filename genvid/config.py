"""Training configs: OmegaConf YAML whose sections mirror constructor arguments.

A config file has five sections, and optionally names the config it changes::

    base: dit/base            # a shipped config's name, or a path ending in .yaml (relative to this file)
    task: dit                 # which training task (see genvid.training.tasks)
    model: {...}              # the model class's constructor arguments
    data: {...}               # genvid.data.DataConfig fields
    task_options: {...}       # the task's options dataclass fields
    training: {...}           # genvid.training.TrainingConfig fields

With ``base:`` the file says only what differs: each key it sets replaces that key of its base
(itself resolved the same way), so ``configs/dit/tiny.yaml`` is ``dit/base`` plus the lines that
make it small. A value replaces whole: a list or a mapping (``task_weights``) is not merged into the
base's. A key cannot be removed, only set (``null`` or the default it should have). Command-line overrides are OmegaConf dot-lists (``model.num_layers=12 training.max_steps=100``)
applied last. An unknown key anywhere is an error naming it.

The shipped configs (the repository's ``configs/`` folder, installed as ``genvid.configs``) are
found by name from any folder: ``genvid train dit/tiny`` (``genvid configs`` lists them).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

from genvid.errors import ConfigError  # noqa: F401  (raised here; importable from here as before)

SECTIONS = ("task", "model", "data", "task_options", "training")
BASE_KEY = "base"
SUFFIX = ".yaml"


def shipped_configs_root() -> Path:
    """The folder of the shipped configs: the installed ``genvid.configs`` package data, or the
    ``configs/`` folder of a source checkout."""
    installed = Path(__file__).parent / "configs"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[1] / "configs"


def shipped_config_names(family: str | None = None) -> list[str]:
    """Names such as ``dit/tiny`` of the shipped training configs (``configs/accelerate/`` holds
    Accelerate's files, not training configs)."""
    root = shipped_configs_root()
    names = sorted(str(path.relative_to(root).with_suffix("")) for path in root.glob(f"*/*{SUFFIX}"))
    return [name for name in names if not name.startswith("accelerate/") and (family is None or name.split("/")[0] == family)]


def find_config(name_or_path: str | Path) -> Path:
    """A config file from a path, or from a shipped name (``dit/tiny``, ``dit/tiny.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path).removesuffix(SUFFIX)
    shipped = shipped_configs_root() / f"{name}{SUFFIX}"
    if not path.is_absolute() and ".." not in path.parts and shipped.is_file():
        return shipped
    raise ConfigError(f"config file not found: {name_or_path} (neither a file nor a shipped config; `genvid configs` lists those)")


def _read(path: Path) -> DictConfig:
    try:
        config = OmegaConf.load(path)
    except Exception as error:  # yaml errors are long; keep the first line
        raise ConfigError(f"cannot parse {path}: {str(error).splitlines()[0]}") from None
    if not isinstance(config, DictConfig):
        raise ConfigError(f"{path} is not a mapping of config sections")
    return config


def _resolve_base(reference: Any, child: Path) -> Path:
    if not isinstance(reference, str) or not reference:
        raise ConfigError(f"{child}: 'base' must name a config (e.g. dit/base) or a .yaml path, got {reference!r}")
    if reference.endswith(SUFFIX) and (child.parent / reference).is_file():
        return child.parent / reference
    try:
        return find_config(reference)
    except ConfigError:
        raise ConfigError(f"{child}: base config {reference!r} not found (a shipped name or a path relative to this file)") from None


def read_config_file(path: str | Path, _seen: tuple[Path, ...] = ()) -> DictConfig:
    """A config file merged over its ``base:`` chain, without the ``base`` key."""
    path = find_config(path)
    if path.resolve() in _seen:
        chain = " -> ".join(str(item) for item in (*_seen, path.resolve()))
        raise ConfigError(f"config bases form a loop: {chain}")
    config = _read(path)
    if BASE_KEY not in config:
        return config
    reference = config.pop(BASE_KEY)
    parent = read_config_file(_resolve_base(reference, path), (*_seen, path.resolve()))
    return _merge_over(parent, config)


def _merge_over(parent: DictConfig, child: DictConfig) -> DictConfig:
    """``child``'s keys replace ``parent``'s, section by section; a value replaces whole (a list or
    a mapping such as ``task_weights`` is a value, not merged into the base's)."""
    merged = OmegaConf.to_container(parent)
    for name, value in OmegaConf.to_container(child).items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name].update(value)
        else:
            merged[name] = value
    return OmegaConf.create(merged)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> DictConfig:
    """Read a YAML config (a path or a shipped name) over its base chain, then apply dot-list
    overrides; checks the top-level sections."""
    config = read_config_file(path) if path is not None else OmegaConf.create({})
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


def check_fractions(values: Any, names: Iterable[str], where: str = "task_options") -> None:
    """A one-line ConfigError naming the first of ``values``' attributes ``names`` (probabilities,
    shares, dropout rates) that is outside [0, 1]."""
    for name in names:
        value = getattr(values, name)
        if not 0 <= value <= 1:
            raise ConfigError(f"{where}.{name} must be in [0, 1], got {value}")


def constructor_keys(cls) -> list[str]:
    """Argument names of ``cls.__init__`` (for validating a ``model:`` section)."""
    parameters = inspect.signature(cls.__init__).parameters
    return [name for name, p in parameters.items() if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def build_dataclass(cls, values: dict[str, Any] | None, where: str):
    """Instantiate a dataclass from a config section, naming any unknown key or wrong-typed value."""
    values = dict(values or {})
    check_keys(values, [field.name for field in dataclasses.fields(cls)], where)
    check_types(values, field_types(cls), where)
    return _construct(cls, values, where)


def build_model(cls, values: dict[str, Any] | None, where: str = "model"):
    values = dict(values or {})
    check_keys(values, constructor_keys(cls), where)
    check_types(values, default_types(cls), where)
    return _construct(cls, values, where)


def _construct(cls, values: dict[str, Any], where: str):
    # constructors check their own ranges with ValueError; as config errors they read as one line
    try:
        return cls(**values)
    except ConfigError:
        raise
    except ValueError as error:
        message = " ".join(str(error).split())
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None


def field_types(cls) -> dict[str, Any]:
    """A dataclass's field annotations (what a config value must be)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: check by defaults instead
        return {field.name: type(field.default) for field in dataclasses.fields(cls) if field.default is not dataclasses.MISSING}


def default_types(cls) -> dict[str, Any]:
    """Constructor arguments whose default is a plain number, flag or string expect that type."""
    parameters = inspect.signature(cls.__init__).parameters
    return {name: type(p.default) for name, p in parameters.items() if type(p.default) in (bool, int, float, str)}


def _fits(value, kind) -> bool:
    if kind is Any or value is None and kind is not bool:  # None: an optional left for the owner to check
        return True
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(kind))
    if origin is not None:
        kind = origin
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if kind in (list, tuple):
        return isinstance(value, (list, tuple))
    if kind is dict:
        return isinstance(value, dict)
    return True


def _describe(kind) -> str:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(kind) if arg is not type(None))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
    return names.get(typing.get_origin(kind) or kind, getattr(kind, "__name__", str(kind)))


def check_types(values: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    for key, value in values.items():
        kind = expected.get(key)
        if kind is not None and not _fits(value, kind):
            # YAML reads a bare no / yes / off / on as a boolean
            hint = f" (quote it: {where}.{key}=\"'{'no' if not value else 'yes'}'\")" if isinstance(value, bool) else ""
            raise ConfigError(f"{where}.{key}={value!r} must be {_describe(kind)}{hint}")
