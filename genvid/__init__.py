"""genvid: text-to-video generative modeling.

One causal video tokenizer (``tokenizer`` package) feeds two generators: an autoregressive
multimodal LM (:class:`GenVidARPipeline`) and a latent diffusion transformer
(:class:`GenVidDiffusionPipeline`).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "GenVidDiffusionPipeline": "genvid.pipelines.diffusion",
    "GenVidARPipeline": "genvid.pipelines.ar",
    "GenVidUpscalePipeline": "genvid.pipelines.upscale",
    "VideoDiffusionTransformer": "genvid.models.dit",
    "VideoSuperResolution": "genvid.models.super_resolution",
    "VideoLanguageModel": "genvid.models.lm",
    "TextEncoder": "genvid.text",
    "demo_path": "genvid.demo",
}

__all__ = list(_LAZY) + ["__version__"]


def __getattr__(name: str):
    # Lazy so that `import genvid` (and the CLI's --help) does not import torch and diffusers.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genvid' has no attribute {name!r}")
