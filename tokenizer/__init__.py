"""Causal video tokenizer for genvid (a sibling package: never imports genvid).

``from tokenizer import VideoTokenizer`` -- see tokenizer.model for the API.

Names are imported on first use, so that a submodule (``tokenizer.layers``, ``tokenizer.model``)
loads without the diffusers classes the others bring.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "AutoencoderOutput": "model",
    "DiffusersVideoAutoencoder": "diffusers_vae",
    "FiniteScalarQuantizer": "bottlenecks",
    "GaussianBottleneck": "bottlenecks",
    "LookupFreeQuantizer": "bottlenecks",
    "LossWeights": "training_module",
    "PatchDiscriminator3d": "discriminator",
    "TokenizerTrainingModule": "training_module",
    "VideoTokenizer": "model",
    "codebook_statistics": "bottlenecks",
    "AudioCodec": "audio_codec",
    "AudioCodecOutput": "audio_codec",
    "ResidualVectorQuantizer": "residual_vq",
    "VectorQuantizer": "residual_vq",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
