"""``GenVidDiffusionPipeline``: genvid's diffusion sampling steps as a diffusers ``DiffusionPipeline``
(``from_pretrained`` / ``save_pretrained``, offload hooks, LoRA loading). Import it from
:mod:`genvid.pipelines.diffusion` or :mod:`genvid`; the steps themselves are
:class:`genvid.pipelines.diffusion.DiffusionSampling`."""

from __future__ import annotations

from diffusers import DiffusionPipeline

from genvid.pipelines.diffusion import DiffusionSampling
from genvid.pipelines.lora import LoraLoaderMixin
from genvid.pipelines.memory import MemoryMixin


class GenVidDiffusionPipeline(DiffusionSampling, LoraLoaderMixin, MemoryMixin, DiffusionPipeline):
    __doc__ = DiffusionSampling.__doc__


GenVidDiffusionPipeline.__module__ = "genvid.pipelines.diffusion"  # where users import it from
