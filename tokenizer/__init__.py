"""Causal video tokenizer for genvid (a sibling package: never imports genvid).

``from tokenizer import VideoTokenizer`` -- see tokenizer.model for the API.
"""

from .bottlenecks import FiniteScalarQuantizer, GaussianBottleneck, LookupFreeQuantizer, codebook_statistics
from .diffusers_vae import DiffusersVideoAutoencoder
from .discriminator import PatchDiscriminator3d
from .model import AutoencoderOutput, VideoTokenizer
from .training_module import LossWeights, TokenizerTrainingModule

__all__ = [
    "AutoencoderOutput",
    "DiffusersVideoAutoencoder",
    "FiniteScalarQuantizer",
    "GaussianBottleneck",
    "LookupFreeQuantizer",
    "LossWeights",
    "PatchDiscriminator3d",
    "TokenizerTrainingModule",
    "VideoTokenizer",
    "codebook_statistics",
]
from .audio_codec import AudioCodec, AudioCodecOutput
from .residual_vq import ResidualVectorQuantizer, VectorQuantizer

__all__ += ["AudioCodec", "AudioCodecOutput", "ResidualVectorQuantizer", "VectorQuantizer"]
