"""LoRA adapters on genvid pipelines, with diffusers' method names and file layout.

A LoRA file is ``pytorch_lora_weights.safetensors`` holding peft-layout keys under the component's
name (``transformer.blocks.0.self_attention.to_qkv.lora_A.weight``) and the adapter's
``LoraConfig`` as JSON in the safetensors metadata (``lora_adapter_metadata``, keys under the same
prefix), as diffusers' ``save_lora_weights`` writes it; so a genvid adapter loads with diffusers'
loaders and a diffusers-written one for a genvid model loads here. The models take adapters through
diffusers' ``PeftAdapterMixin``; this mixin only routes pipeline calls to the components.

Example::

    >>> pipe = GenVidDiffusionPipeline.from_pretrained("runs/base/final")
    >>> pipe.load_lora_weights("runs/pink/final", adapter_name="pink")
    >>> pipe.load_lora_weights("runs/slow/final", adapter_name="slow")
    >>> pipe.set_adapters(["pink", "slow"], [1.0, 0.5])
    >>> pipe.fuse_lora()          # fold the active adapters into the weights (faster sampling)
    >>> pipe.unfuse_lora()        # and back
    >>> pipe.unload_lora_weights()
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genvid.errors import GenvidError

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
#: the safetensors metadata entry diffusers keeps the adapter's LoraConfig in
METADATA_KEY = "lora_adapter_metadata"


def lora_file(path: str | Path) -> Path:
    """A LoRA safetensors file, or the folder that holds ``pytorch_lora_weights.safetensors``."""
    path = Path(path)
    if path.is_dir():
        path = path / LORA_WEIGHT_NAME
    if not path.is_file():
        raise GenvidError(f"no LoRA weights at {path} (expected a .safetensors file or a folder with {LORA_WEIGHT_NAME})")
    if path.suffix != ".safetensors":
        raise GenvidError(f"LoRA weights must be a .safetensors file, got {path.name}")
    return path


def write_lora_file(path: str | Path, state: dict[str, torch.Tensor], config: dict, prefix: str) -> Path:
    """Write peft-layout adapter weights and their LoraConfig (as a dict) under ``prefix``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"{prefix}.{key}": value.detach().cpu().contiguous() for key, value in state.items()}
    plain = {key: sorted(value) if isinstance(value, set) else value for key, value in config.items()}
    metadata = {f"{prefix}.{key}": value for key, value in plain.items()}
    save_file(tensors, str(path), metadata={"format": "pt", METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    return path


def read_lora_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Weights and the (prefixed) LoraConfig metadata of a LoRA file (None when it has none)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = lora_file(path)
    with safe_open(str(path), framework="pt") as handle:
        raw = (handle.metadata() or {}).get(METADATA_KEY)
    return load_file(str(path)), json.loads(raw) if raw else None


class LoraLoaderMixin:
    """``load_lora_weights`` / ``set_adapters`` / ``fuse_lora`` / ``unfuse_lora`` /
    ``unload_lora_weights`` for pipelines whose models carry diffusers' ``PeftAdapterMixin``."""

    #: components a LoRA file may hold weights for (its key prefixes)
    _lora_loadable_modules = ("transformer",)

    def _lora_components(self) -> dict:
        components = {}
        for name in self._lora_loadable_modules:
            component = getattr(self, name, None)
            if component is not None and hasattr(component, "load_lora_adapter"):
                components[name] = component
        return components

    def _adapted_components(self) -> dict:
        return {name: c for name, c in self._lora_components().items() if getattr(c, "peft_config", None)}

    def load_lora_weights(self, pretrained_model_name_or_path_or_dict, adapter_name: str | None = None, **kwargs):
        """Add an adapter from a LoRA file or folder (or a state dict in the file's layout).
        ``adapter_name``: its name for :meth:`set_adapters` (default: ``default_0``, ``default_1`` ...)."""
        source = pretrained_model_name_or_path_or_dict
        if isinstance(source, dict):
            state, metadata = source, kwargs.pop("metadata", None)
        else:
            state, metadata = read_lora_file(source)
        loaded = False
        for name, component in self._lora_components().items():
            if not any(key.startswith(f"{name}.") for key in state):
                continue
            if adapter_name is not None and adapter_name in (getattr(component, "peft_config", None) or {}):
                raise GenvidError(f"adapter name {adapter_name!r} is already loaded into {name}; choose another")
            component.load_lora_adapter(
                state, prefix=name, adapter_name=adapter_name, metadata=metadata, _pipeline=self, **kwargs
            )
            loaded = True
        if not loaded:
            names = ", ".join(self._lora_loadable_modules)
            raise GenvidError(f"the LoRA weights hold no keys for this pipeline's {names} (keys start with {next(iter(state), '?')!r})")

    def get_list_adapters(self) -> dict[str, list[str]]:
        """Loaded adapter names per component."""
        return {name: list(component.peft_config) for name, component in self._adapted_components().items()}

    def get_active_adapters(self) -> list[str]:
        active = []
        for component in self._adapted_components().values():
            active += [name for name in component.active_adapters() if name not in active]
        return active

    def set_adapters(self, adapter_names: str | list[str], adapter_weights: float | list[float] | None = None):
        """Make these adapters the active ones, each scaled by its weight (default 1)."""
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        loaded = {adapter for adapters in self.get_list_adapters().values() for adapter in adapters}
        unknown = [name for name in names if name not in loaded]
        if unknown:
            raise GenvidError(f"unknown adapter(s) {unknown}; loaded: {sorted(loaded) or 'none'}")
        weights = adapter_weights if isinstance(adapter_weights, list) else [adapter_weights] * len(names)
        if len(weights) != len(names):
            raise GenvidError(f"{len(names)} adapter names but {len(weights)} adapter weights")
        for component in self._adapted_components().values():
            mine = [(name, weight) for name, weight in zip(names, weights) if name in component.peft_config]
            if mine:
                component.set_adapters([name for name, _ in mine], [weight for _, weight in mine])

    def fuse_lora(self, lora_scale: float = 1.0, safe_fusing: bool = False, adapter_names: list[str] | None = None):
        """Fold the active (or the named) adapters into the base weights, scaled by ``lora_scale``."""
        components = self._adapted_components()
        if not components:
            raise GenvidError("fuse_lora: no LoRA adapter is loaded")
        for component in components.values():
            component.fuse_lora(lora_scale=lora_scale, safe_fusing=safe_fusing, adapter_names=adapter_names)

    def _on_adapted_components(self, method: str) -> None:
        for component in self._adapted_components().values():
            getattr(component, method)()

    def unfuse_lora(self):
        """Take fused adapters back out of the base weights (the adapters stay loaded)."""
        self._on_adapted_components("unfuse_lora")

    def unload_lora_weights(self):
        """Remove every adapter: the components are their base models again."""
        self._on_adapted_components("unload_lora")

    def delete_adapters(self, adapter_names: str | list[str]):
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        for component in self._adapted_components().values():
            present = [name for name in names if name in component.peft_config]
            if present:
                component.delete_adapters(present)

    def disable_lora(self):
        self._on_adapted_components("disable_lora")

    def enable_lora(self):
        self._on_adapted_components("enable_lora")


def parse_adapter(text: str) -> tuple[str, float]:
    """``PATH[:SCALE]`` -> ``(path, scale)``; a path may itself hold colons when no scale follows."""
    path, _, scale = text.rpartition(":")
    if path:
        try:
            return path, float(scale)
        except ValueError:
            pass
    return text, 1.0


def load_adapters(pipeline, specs: list[str]) -> list[str]:
    """Load each ``PATH[:SCALE]`` as adapter ``lora_<i>`` and activate them all at their scales."""
    names, scales = [], []
    for index, spec in enumerate(specs):
        path, scale = parse_adapter(spec)
        names.append(f"lora_{index}")
        scales.append(scale)
        pipeline.load_lora_weights(path, adapter_name=names[-1])
    pipeline.set_adapters(names, scales)
    return names
