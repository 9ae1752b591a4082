"""What genvid's pipelines return: a diffusers ``BaseOutput`` (attribute, key or index access).
Import it from :mod:`genvid.pipelines.common`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diffusers.utils import BaseOutput


@dataclass
class GenVidPipelineOutput(BaseOutput):
    """``frames``: for "np" a float array ``(batch, frames, height, width, 3)`` in [0, 1]; for "pil" a
    list (per video) of lists of PIL images; for "pt" a tensor ``(batch, frames, 3, height, width)``
    in [0, 1]; for "latent" the generator's latents or token ids. ``audio``: waveforms
    ``(batch, samples)`` in [-1, 1] where the pipeline produced sound, else None."""

    frames: Any
    audio: Any = None


GenVidPipelineOutput.__module__ = "genvid.pipelines.common"  # where users import it from
