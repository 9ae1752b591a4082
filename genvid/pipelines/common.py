"""Pieces both genvid pipelines share: the output dataclass and video post-processing."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.utils import BaseOutput

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
