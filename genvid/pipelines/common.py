"""Pieces both genvid pipelines share: the output dataclass, input images, video pre/post-processing."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.utils import BaseOutput

from genvid.errors import GenvidError

OUTPUT_TYPES = ("np", "pil", "pt", "latent")


@dataclass
class GenVidPipelineOutput(BaseOutput):
    """``frames``: for "np" a float array ``(batch, frames, height, width, 3)`` in [0, 1]; for "pil" a
    list (per video) of lists of PIL images; for "pt" a tensor ``(batch, frames, 3, height, width)``
    in [0, 1]; for "latent" the generator's latents or token ids. ``audio``: waveforms
    ``(batch, samples)`` in [-1, 1] where the pipeline produced sound, else None."""

    frames: Any
    audio: Any = None


def check_output_type(output_type: str) -> None:
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")


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
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
