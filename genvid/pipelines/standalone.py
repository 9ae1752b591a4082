"""A pipeline base for the command line: the few services of diffusers' ``DiffusionPipeline`` that
genvid's sampling steps call, without importing ``diffusers.pipelines``.

Importing ``diffusers.pipelines`` imports every diffusers model (its pipeline module reaches for
``AutoencoderKL``, whose package imports all autoencoders, UNets and transformers, and with them
peft and transformers' model code): seconds of every ``genvid generate`` that the demo never uses.
:func:`load` builds the same components from the same folder with the same ``from_pretrained``
calls and runs them through the same steps (:class:`genvid.pipelines.diffusion.DiffusionSampling`),
so it writes the same video; Python users keep the diffusers class,
:class:`genvid.pipelines.diffusion.GenVidDiffusionPipeline` (``save_pretrained``, offload hooks, LoRA).
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import torch
from diffusers.configuration_utils import FrozenDict
from tqdm.auto import tqdm

from genvid.pipelines.common import OWN_PACKAGES
from genvid.pipelines.diffusion import DiffusionSampling


class StandalonePipeline:
    """What the sampling steps use of ``DiffusionPipeline``: registered components, a ``config``,
    ``progress_bar``, ``_execution_device``, ``to`` and (with no offload hooks here) a no-op
    ``maybe_free_model_hooks``."""

    def __init__(self):
        self._components: dict[str, object] = {}
        self._config: dict[str, object] = {}
        self._progress_bar_config: dict = {}

    def register_modules(self, **modules) -> None:
        for name, module in modules.items():
            self._components[name] = module
            setattr(self, name, module)

    def register_to_config(self, **values) -> None:
        self._config.update(values)

    @property
    def config(self) -> FrozenDict:
        return FrozenDict(self._config)

    @property
    def components(self) -> dict[str, object]:
        return dict(self._components)

    def _modules(self):
        return [module for module in self._components.values() if isinstance(module, torch.nn.Module)]

    @property
    def _execution_device(self) -> torch.device:
        for module in self._modules():
            for parameter in module.parameters():
                return parameter.device
        return torch.device("cpu")

    device = _execution_device

    def to(self, device) -> "StandalonePipeline":
        for module in self._modules():
            module.to(device)
        return self

    def set_progress_bar_config(self, **kwargs) -> None:
        self._progress_bar_config = kwargs

    def progress_bar(self, iterable=None, total=None):
        return tqdm(iterable, total=total, **self._progress_bar_config)

    def maybe_free_model_hooks(self) -> None:
        """No hooks are ever installed on this base."""


class StandaloneDiffusionPipeline(DiffusionSampling, StandalonePipeline):
    """genvid's diffusion sampling on the standalone base (what ``genvid generate`` runs)."""


#: the pipeline class a ``model_index.json`` names -> the one this base runs it with
STANDALONE = {"GenVidDiffusionPipeline": StandaloneDiffusionPipeline}


def _component_class(library: str, class_name: str):
    """A component's class, or None where this base cannot vouch for loading it as diffusers would
    (libraries other than genvid's own and diffusers' schedulers)."""
    if library.split(".")[0] in OWN_PACKAGES:
        return getattr(importlib.import_module(library), class_name)
    if library == "diffusers" and class_name.endswith("Scheduler"):
        from diffusers import schedulers

        return getattr(schedulers, class_name)
    return None


def load(folder) -> StandalonePipeline | None:
    """The pipeline saved in ``folder`` on the standalone base, or None where its ``model_index.json``
    names a pipeline or a component library this base does not load (use the diffusers class then)."""
    folder = Path(folder)
    index = json.loads((folder / "model_index.json").read_text())
    pipeline_class = STANDALONE.get(index.get("_class_name"))
    if pipeline_class is None:
        return None
    parameters = inspect.signature(pipeline_class.__init__).parameters
    arguments = {}
    for name, value in index.items():
        if name.startswith("_") or name not in parameters:
            continue
        if not (isinstance(value, list) and len(value) == 2):
            arguments[name] = value  # a pipeline option saved in the index (default guidance, ...)
            continue
        library, class_name = value
        if library is None:  # an optional component saved as absent
            arguments[name] = None
            continue
        component_class = _component_class(library, class_name)
        if component_class is None:
            return None
        arguments[name] = component_class.from_pretrained(str(folder / name))
    return pipeline_class(**arguments)
