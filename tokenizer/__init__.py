"""Causal video tokenizer for genvid (a sibling package: never imports genvid).

``from tokenizer import VideoTokenizer`` -- see tokenizer.model for the API.
"""

from .bottlenecks import FiniteScalarQuantizer, GaussianBottleneck, LookupFreeQuantizer, codebook_statistics
from .model import AutoencoderOutput, VideoTokenizer

__all__ = [
    "AutoencoderOutput",
    "FiniteScalarQuantizer",
    "GaussianBottleneck",
    "LookupFreeQuantizer",
    "VideoTokenizer",
    "codebook_statistics",
]
