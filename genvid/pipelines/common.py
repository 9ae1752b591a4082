"""Pieces both genvid pipelines share: the output dataclass and video post-processing."""

from __future__ import annotations

from dataclasses import dataclass
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
