"""Pieces both genvid pipelines share: input images, video pre/post-processing, initial noise (the output
dataclass: genvid.pipelines.output)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genvid.errors import GenvidError

OUTPUT_TYPES = ("np", "pil", "pt", "latent")


def __getattr__(name: str):
    # GenVidPipelineOutput is a diffusers BaseOutput: diffusers is imported only when it is asked for
    if name == "GenVidPipelineOutput":
        from genvid.pipelines.output import GenVidPipelineOutput

        return GenVidPipelineOutput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def random_noise(shape, generator=None, device=None, dtype=None) -> torch.Tensor:
    """Gaussian noise of ``shape`` as diffusers' ``randn_tensor`` draws it: on the generator's device
    when that is the CPU (then moved to ``device``), and with a list of generators one per sample."""
    device = torch.device(device or "cpu")
    generators = generator if isinstance(generator, list) else None
    if generators is not None and len(generators) == 1:
        generator, generators = generators[0], None
    first = generators[0] if generators else generator
    drawn_on = device
    if first is not None and first.device.type != device.type:
        if first.device.type != "cpu":
            raise ValueError(f"cannot draw noise on {device} with a generator on {first.device}")
        drawn_on = torch.device("cpu")
    if generators is not None:
        single = (1, *shape[1:])
        samples = [torch.randn(single, generator=generators[index], device=drawn_on, dtype=dtype)
                   for index in range(shape[0])]
        return torch.cat(samples, dim=0).to(device)
    return torch.randn(shape, generator=generator, device=drawn_on, dtype=dtype).to(device)


def check_output_type(output_type: str, allowed: tuple[str, ...] = OUTPUT_TYPES) -> None:
    if output_type not in allowed:
        raise GenvidError(f"output_type must be one of {', '.join(allowed)}, got {output_type!r}")


def postprocess_video(video: torch.Tensor, output_type: str):
    """``video (batch, channels, frames, height, width)`` in [-1, 1] -> the asked output type."""
    check_output_type(output_type)
    video = ((video.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 1, 3, 4)  # b t c h w, in [0, 1]
    if output_type == "pt":
        return video.cpu()
    array = video.permute(0, 1, 3, 4, 2).cpu().numpy()
    if output_type == "np":
        return array
    from PIL import Image

    return [[Image.fromarray((frame * 255).round().astype(np.uint8)) for frame in clip] for clip in array]


def frames_to_video(frames: torch.Tensor) -> torch.Tensor:
    """A "pt" output's frames ``([batch,] frames, 3, height, width)`` in [0, 1] -> genvid's video
    layout ``([batch,] 3, frames, height, width)`` in [-1, 1] (what ``write_video``, the tokenizer and
    the analyzer take): the inverse of :func:`postprocess_video`."""
    return frames.transpose(-4, -3) * 2 - 1


def as_video_tensor(video: Any, what: str = "video") -> torch.Tensor:
    """(C,T,H,W) or (B,C,T,H,W) tensor/array in [-1, 1] -> (B, C, T, H, W) float."""
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if not isinstance(video, torch.Tensor):
        raise GenvidError(f"{what} must be a tensor (channels, frames, height, width) in [-1, 1], got {type(video).__name__}")
    if video.ndim == 4:
        video = video[None]
    if video.ndim != 5 or video.shape[1] != 3:
        raise GenvidError(
            f"{what} must have shape (3, frames, height, width) or (batch, 3, frames, height, width), got {tuple(video.shape)}"
        )
    return video.float()


def image_to_tensor(image: Any, height: int, width: int) -> torch.Tensor:
    """A PIL image, a path, or a tensor ``(C,H,W)``/``(B,C,H,W)`` in [-1, 1] -> ``(B, 3, 1, height, width)``."""
    from genvid.data.video_io import resize_and_center_crop

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise GenvidError(f"image file not found: {path}")
        from PIL import Image

        image = Image.open(path)
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().float()
        if tensor.ndim == 3:
            tensor = tensor[None]
        if tensor.ndim != 4 or tensor.shape[1] != 3:
            raise GenvidError(
                f"image tensor must be (3, height, width) or (batch, 3, height, width) in [-1, 1], "
                f"got shape {tuple(image.shape)}"
            )
    else:
        raise GenvidError(f"image must be a PIL image, a file path or a tensor, got {type(image).__name__}")
    return resize_and_center_crop(tensor.cpu()[:, :, None], height, width)


def check_prompt_inputs(prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask=None,
                        negative_prompt_attention_mask=None, prompt_needed: bool = True) -> None:
    """One-line errors for the text inputs both pipelines take (a prompt or its embeddings)."""
    for name, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        if text is not None and not isinstance(text, str):
            if not isinstance(text, (list, tuple)) or not all(isinstance(item, str) for item in text):
                raise GenvidError(f"{name} must be a string or a list of strings, got {type(text).__name__}")
            if not text:
                raise GenvidError(f"{name} is an empty list; give at least one")
    for name, text, embeds in (("prompt", prompt, prompt_embeds), ("negative_prompt", negative_prompt, negative_prompt_embeds)):
        if text is not None and embeds is not None:
            raise GenvidError(f"give {name} or {name}_embeds, not both")
    if prompt_needed and prompt is None and prompt_embeds is None:
        raise GenvidError("give a prompt (or prompt_embeds)")
    for name, embeds, mask in (("prompt_embeds", prompt_embeds, prompt_attention_mask),
                               ("negative_prompt_embeds", negative_prompt_embeds, negative_prompt_attention_mask)):
        if embeds is None:
            continue
        if embeds.ndim != 3:
            raise GenvidError(f"{name} must be (batch, length, hidden size), got shape {tuple(embeds.shape)}")
        if mask is not None and tuple(mask.shape) != tuple(embeds.shape[:2]):
            raise GenvidError(f"the attention mask of {name} must be {tuple(embeds.shape[:2])}, got {tuple(mask.shape)}")
    if negative_prompt_embeds is not None and prompt_embeds is not None:
        if negative_prompt_embeds.shape[0] != prompt_embeds.shape[0]:
            raise GenvidError(
                f"negative_prompt_embeds has {negative_prompt_embeds.shape[0]} rows, prompt_embeds {prompt_embeds.shape[0]}"
            )
    prompts = 1 if isinstance(prompt, str) else len(prompt) if prompt is not None else None
    if prompt_embeds is not None:
        prompts = prompt_embeds.shape[0]
    if isinstance(negative_prompt, (list, tuple)) and prompts is not None and len(negative_prompt) != prompts:
        raise GenvidError(f"negative_prompt must be a string or a list as long as prompt ({prompts} prompts)")


def text_or_mask(embeds: torch.Tensor | None, mask: torch.Tensor | None, device):
    """Embeddings on ``device`` with their mask (all True when none is given)."""
    if embeds is None:
        return None, None
    if mask is None:
        mask = torch.ones(embeds.shape[:2], dtype=torch.bool)
    return embeds.to(device), mask.to(device).bool()


def repeat_videos(tensor: torch.Tensor | None, num_videos_per_prompt: int) -> torch.Tensor | None:
    return None if tensor is None else tensor.repeat_interleave(num_videos_per_prompt, dim=0)


class PromptEncoderMixin:
    """``encode_prompt`` as diffusers pipelines have it. A pipeline gives ``_encode_text(texts, device)
    -> (hidden, mask)`` and the negative prompt guidance uses when none is given
    (``default_negative_prompt``; None: the pipeline's own unconditional stream)."""

    default_negative_prompt: str | None = ""
    #: genvid.pipelines.prompt_reading.PromptReader of the folder the pipeline was loaded from (or None)
    prompt_reader = None

    def reads_prompts(self, read_prompt: bool | None) -> bool:
        """A call's ``read_prompt`` (None: the pipeline's ``read_prompts`` config), where it has a reader."""
        wanted = self.config.get("read_prompts", False) if read_prompt is None else read_prompt
        return bool(wanted) and self.prompt_reader is not None

    def encode_prompt(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        do_classifier_free_guidance: bool = True,
        num_videos_per_prompt: int = 1,
        device=None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        read_prompt: bool = False,
    ):
        """Text hidden states and masks, each row repeated ``num_videos_per_prompt`` times; the
        negative ones only with guidance (from ``negative_prompt``, else the pipeline's default).
        Embeddings given are kept (and repeated), so this runs with no text encoder then.
        ``read_prompt``: a prompt far from the training captions' words is encoded as the caption
        the pipeline's ``prompt_reader`` reads it as (genvid.pipelines.prompt_reading; logged).

        Returns what ``__call__`` takes, so a prompt is encoded once for many calls:
        ``(prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask)``.
        """
        device = device or self._execution_device
        prompt_embeds, prompt_attention_mask = text_or_mask(prompt_embeds, prompt_attention_mask, device)
        negative_prompt_embeds, negative_prompt_attention_mask = text_or_mask(
            negative_prompt_embeds, negative_prompt_attention_mask, device
        )
        if prompt_embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt or [""])
            if read_prompt:
                from genvid.pipelines.prompt_reading import read_prompts

                prompts = read_prompts(self, prompts)
            prompt_embeds, prompt_attention_mask = self._encode_text(prompts, device)
        negative_prompt = self.default_negative_prompt if negative_prompt is None else negative_prompt
        if do_classifier_free_guidance and negative_prompt_embeds is None and negative_prompt is not None:
            if isinstance(negative_prompt, str):
                negative_prompt = [negative_prompt] * prompt_embeds.shape[0]
            negative_prompt_embeds, negative_prompt_attention_mask = self._encode_text(list(negative_prompt), device)
        if not do_classifier_free_guidance:
            negative_prompt_embeds = negative_prompt_attention_mask = None
        prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask = (
            repeat_videos(tensor, num_videos_per_prompt)
            for tensor in (prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask)
        )
        return prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask


class StepStateMixin:
    """The state diffusers pipelines expose to ``callback_on_step_end``: ``guidance_scale`` (a
    callback may change ``pipe._guidance_scale``), ``num_timesteps``, and ``interrupt`` (a callback
    sets ``pipe._interrupt = True`` to stop the step loop; what is done so far is decoded)."""

    _guidance_scale = 1.0
    _num_timesteps = 0
    _interrupt = False

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def check_callback_inputs(self, names) -> None:
        unknown = [name for name in names or [] if name not in self._callback_tensor_inputs]
        if unknown:
            raise GenvidError(f"callback_on_step_end_tensor_inputs {unknown} not among {list(self._callback_tensor_inputs)}")

    def callback_inputs(self, callback, tensor_inputs):
        """diffusers' PipelineCallback objects name their own tensor inputs."""
        if callback is None:  # no import of diffusers for a call without a callback (the command line's)
            return tensor_inputs
        from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

        if isinstance(callback, (PipelineCallback, MultiPipelineCallbacks)):
            return callback.tensor_inputs
        return tensor_inputs


#: genvid's own packages: the only component libraries a genvid pipeline imports for diffusers
OWN_PACKAGES = ("genvid", "tokenizer")


def import_component_modules(folder, defaults: tuple[str, ...] = ()) -> None:
    """Import the component modules a saved pipeline's ``model_index.json`` names, when they
    belong to genvid's own packages (plus ``defaults``); other libraries are left to diffusers.

    diffusers 0.42 resolves a component whose library is neither diffusers nor transformers only
    from ``sys.modules``: it never imports a module because a folder names it, so a fresh process
    (the CLI) must import them before loading."""
    names = list(defaults)
    index = Path(folder) / "model_index.json"
    if index.is_file():
        for value in json.loads(index.read_text()).values():
            if isinstance(value, list) and value and isinstance(value[0], str):
                if value[0].split(".")[0] in OWN_PACKAGES:
                    names.append(value[0])
    for name in names:
        importlib.import_module(name)


class OwnComponentsMixin:
    """``from_pretrained`` that first imports genvid's component modules (see
    :func:`import_component_modules`). Put it before ``DiffusionPipeline`` in the bases."""

    #: modules imported whatever the folder says (the pipeline's default component classes)
    component_modules: tuple[str, ...] = ()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        import_component_modules(pretrained_model_name_or_path, cls.component_modules)
        pipeline = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        attach_prompt_reader(pipeline, pretrained_model_name_or_path)
        return pipeline

    def save_pretrained(self, save_directory, **kwargs):
        super().save_pretrained(save_directory, **kwargs)
        if getattr(self, "prompt_reader", None) is not None:
            self.prompt_reader.save(save_directory)


def attach_prompt_reader(pipeline, folder) -> None:
    """Give a loaded pipeline the prompt reader its folder holds (none where it holds none)."""
    if Path(str(folder)).is_dir():
        from genvid.pipelines.prompt_reading import PromptReader

        pipeline.prompt_reader = PromptReader.from_folder(folder)


class GenVidPipelineMixin(OwnComponentsMixin, PromptEncoderMixin, StepStateMixin):
    """What both genvid pipelines add to ``DiffusionPipeline`` (put it first in the bases)."""

    def check_call_options(self, num_videos_per_prompt: int, output_type: str, callback_on_step_end_tensor_inputs) -> None:
        """One-line errors for the ``__call__`` options both pipelines take besides the prompt."""
        self.check_callback_inputs(callback_on_step_end_tensor_inputs)
        if num_videos_per_prompt < 1:
            raise GenvidError(f"num_videos_per_prompt must be >= 1, got {num_videos_per_prompt}")
        check_output_type(output_type)

    @property
    def output_class(self):
        """What ``__call__`` returns: :class:`GenVidPipelineOutput`, a diffusers ``BaseOutput`` (the
        command line's standalone pipeline returns a plain dataclass of the same fields)."""
        from genvid.pipelines.output import GenVidPipelineOutput

        return GenVidPipelineOutput

    def call_output(self, frames, audio, return_dict: bool):
        """The end of ``__call__``: offload hooks released, then the output dataclass, or the tuple
        ``(frames,)`` (``(frames, audio)`` where there is sound) when not ``return_dict``."""
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,) if audio is None else (frames, audio)
        return self.output_class(frames=frames, audio=audio)
