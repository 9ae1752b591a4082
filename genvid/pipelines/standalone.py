"""The command line's pipeline: genvid's diffusion sampling steps on genvid's networks, loaded from
a saved pipeline folder with torch, safetensors and ``tokenizers`` only.

Every ``genvid generate`` used to spend most of its time importing before the first step: diffusers'
utilities (``torch._dynamo``), its model base (torchao, peft, transformers' quantization configs),
its scheduler (scipy), and transformers' model code for the text encoder (``torch._dynamo`` again,
torchao). The components' diffusers classes are their networks plus diffusers' config, loading and
adapter machinery (:class:`genvid.models.dit.DiTNetwork`, :class:`tokenizer.model.TokenizerNetwork`,
:class:`genvid.text.TextEncoderNetwork`), so :func:`load` builds those networks from the same
``config.json`` values (the constructor's defaults for keys a config lacks, as diffusers does) and
the same safetensors weights, runs the packaged MiniLM through :mod:`genvid.models.bert`, samples with
:class:`genvid.pipelines.flow_scheduler.FlowMatchEuler` or :class:`genvid.pipelines.flow_multistep.FlowDPMSolver`, and runs the same steps
(:class:`genvid.pipelines.diffusion.DiffusionSampling`): the video is equal to the bit
(tests/test_dit_pipeline.py). A folder naming anything else (another pipeline, library or text
encoder, an audio codec, weights that are not float32) is declined: :func:`load` returns None and
the command loads :class:`genvid.pipelines.diffusion.GenVidDiffusionPipeline`, as do ``--lora`` and
``--quantize``.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genvid.models.dit import DiTNetwork
from genvid.pipelines.common import attach_prompt_reader
from genvid.pipelines.diffusion import DiffusionSampling
from genvid.pipelines.flow_multistep import FlowDPMSolver
from genvid.pipelines.flow_scheduler import FlowMatchEuler
from genvid.text import TextEncoderNetwork
from tokenizer.model import TokenizerNetwork

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


class Declined(Exception):
    """The folder holds something this loader does not build exactly as diffusers would."""


class Settings(dict):
    """A component's configuration with attribute access, as diffusers' ``FrozenDict`` reads."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PlainModel:
    """``config``, ``dtype`` and ``device`` as a diffusers ``ModelMixin`` gives them, for a network
    built here: ``class Standalone(PlainModel, SomeNetwork)`` with ``network = SomeNetwork``."""

    network: type[torch.nn.Module]

    def __init__(self, **arguments):
        parameters = list(inspect.signature(self.network.__init__).parameters.values())[1:]
        values = {parameter.name: parameter.default for parameter in parameters}
        values.update(arguments)
        self._settings = Settings(values)  # set before the network's __init__, as register_to_config does
        self.network.__init__(self, **arguments)

    @property
    def config(self) -> Settings:
        return self._settings

    def register_to_config(self, **values) -> None:
        self._settings.update(values)

    @property
    def dtype(self) -> torch.dtype:
        return next((parameter.dtype for parameter in self.parameters() if parameter.is_floating_point()), torch.float32)

    @property
    def device(self) -> torch.device:
        return next((parameter.device for parameter in self.parameters()), torch.device("cpu"))


@dataclass
class VelocityOutput:
    sample: torch.Tensor


class StandaloneTransformer(PlainModel, DiTNetwork):
    network = DiTNetwork
    output_class = VelocityOutput


class StandaloneVideoTokenizer(PlainModel, TokenizerNetwork):
    network = TokenizerNetwork


class StandaloneTextEncoder(PlainModel, TextEncoderNetwork):
    """The packaged MiniLM (or any BERT folder) through :mod:`genvid.models.bert`."""

    network = TextEncoderNetwork

    @staticmethod
    def load_encoder(path):
        from genvid.models.bert import UnsupportedEncoder, WordPieceTokenizer, load_bert

        try:
            return WordPieceTokenizer(path), load_bert(path)
        except UnsupportedEncoder as error:
            raise Declined(f"text encoder: {error}") from None

    def tokens(self, prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokenizer(prompts, max_length, self.config.padding)

    def last_hidden_state(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask)


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
    def config(self) -> Settings:
        return Settings(self._config)

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


@dataclass
class StandaloneOutput:
    """``frames`` and ``audio`` as :class:`genvid.pipelines.common.GenVidPipelineOutput` holds them."""

    frames: Any
    audio: Any = None


class StandaloneDiffusionPipeline(DiffusionSampling, StandalonePipeline):
    """genvid's diffusion sampling on the standalone base (what ``genvid generate`` runs)."""

    output_class = StandaloneOutput


#: the pipeline class a ``model_index.json`` names -> the one this base runs it with
STANDALONE = {"GenVidDiffusionPipeline": StandaloneDiffusionPipeline}


def _settings(folder: Path, class_name: str) -> dict:
    config = json.loads((folder / "config.json").read_text())
    if config.get("_class_name") != class_name:
        raise Declined(f"{folder} holds a {config.get('_class_name')}")
    return {key: value for key, value in config.items() if not key.startswith("_")}


def _network(network_class, folder: Path, class_name: str):
    """A network from a diffusers model folder: its config's constructor arguments, its float32 weights."""
    from safetensors import safe_open

    settings = _settings(folder, class_name)
    parameters = inspect.signature(network_class.network.__init__).parameters
    arguments = {key: value for key, value in settings.items() if key in parameters}  # diffusers drops the rest
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise Declined(f"no {WEIGHTS_NAME} in {folder}")
    with safe_open(str(weights), framework="pt") as file:
        state = {name: file.get_tensor(name) for name in file.keys()}
    if any(tensor.dtype != torch.float32 for tensor in state.values()):
        raise Declined(f"{weights} holds weights that are not float32")
    model = network_class(**arguments)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise Declined(f"{weights}: {str(error).splitlines()[0]}") from None
    return model.eval()


def _text_encoder(folder: Path):
    settings = _settings(folder, "TextEncoder")
    known = {key: settings[key] for key in ("model_name_or_path", "max_length", "padding") if key in settings}
    return StandaloneTextEncoder(**known)


#: diffusers scheduler class names -> the sampler reproducing them here
SAMPLERS = {"FlowMatchEulerDiscreteScheduler": FlowMatchEuler, "DPMSolverMultistepScheduler": FlowDPMSolver}

#: (library, class name) in a model_index.json -> how this base builds that component
BUILDERS = {
    ("genvid.models.dit", "VideoDiffusionTransformer"):
        lambda folder: _network(StandaloneTransformer, folder, "VideoDiffusionTransformer"),
    ("tokenizer.model", "VideoTokenizer"): lambda folder: _network(StandaloneVideoTokenizer, folder, "VideoTokenizer"),
    ("genvid.text", "TextEncoder"): _text_encoder,
}


def _component(folder: Path, library: str, class_name: str):
    if library == "diffusers" and class_name in SAMPLERS:
        scheduler = SAMPLERS[class_name].from_folder(folder)
        if scheduler is None:
            raise Declined(f"{folder}: a scheduler config the standalone sampler does not reproduce")
        return scheduler
    builder = BUILDERS.get((library, class_name))
    if builder is None:
        raise Declined(f"component {library}.{class_name}")
    return builder(folder)


def load(folder) -> StandalonePipeline | None:
    """The pipeline saved in ``folder`` on the standalone base, or None where its ``model_index.json``
    names a pipeline or a component this base does not build exactly as diffusers would (use the
    diffusers class then)."""
    folder = Path(folder)
    index = json.loads((folder / "model_index.json").read_text())
    pipeline_class = STANDALONE.get(index.get("_class_name"))
    if pipeline_class is None:
        return None
    parameters = inspect.signature(pipeline_class.__init__).parameters
    arguments = {}
    try:
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
            arguments[name] = _component(folder / name, library, class_name)
    except Declined:
        return None
    pipeline = pipeline_class(**arguments)
    attach_prompt_reader(pipeline, folder)
    return pipeline
