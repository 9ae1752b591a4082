"""Orthonormal 2D Haar transform per frame: the tokenizer's optional input / output stage.

``haar_analysis`` turns each frame's 2x2 pixel blocks into four coefficients (the block's average
and its horizontal, vertical and diagonal differences), so ``(B, C, T, H, W)`` becomes
``(B, 4C, T, H/2, W/2)`` per level; ``haar_synthesis`` is its exact inverse. As in Cosmos' tokenizer,
the network then starts at half resolution with the image's detail already separated into
channels, which costs nothing to learn and removes the most expensive full-resolution stage.

Spatial only, on purpose: every frame is transformed alone, so causality, the ``1 + 4k`` frame
grouping and chunked streaming are untouched (a temporal Haar would pair frames across the
first-frame boundary, or need the first frame handled apart like the causal convolutions do).
"""

from __future__ import annotations

import torch

# rows: average, horizontal, vertical and diagonal detail of the block [[a, b], [c, d]]; the
# matrix is symmetric and orthogonal (its own inverse), scaled so energy is preserved
_HAAR = torch.tensor([[1.0, 1.0, 1.0, 1.0],
                      [1.0, -1.0, 1.0, -1.0],
                      [1.0, 1.0, -1.0, -1.0],
                      [1.0, -1.0, -1.0, 1.0]]) / 2.0


def _check(x: torch.Tensor, levels: int, what: str) -> None:
    if x.ndim != 5:
        raise ValueError(f"{what}: expects (B, C, T, H, W), got {tuple(x.shape)}")
    factor = 2**levels
    if x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"{what}: frames {x.shape[-2]}x{x.shape[-1]} must be multiples of {factor} for {levels} Haar levels")


def haar_analysis(video: torch.Tensor, levels: int = 1) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, C * 4**levels, T, H / 2**levels, W / 2**levels)``."""
    _check(video, levels, "haar_analysis")
    matrix = _HAAR.to(device=video.device, dtype=video.dtype)
    x = video
    for _ in range(levels):
        batch, channels, frames, height, width = x.shape
        blocks = x.reshape(batch, channels, frames, height // 2, 2, width // 2, 2)
        # block pixel order (row, column) -> a, b, c, d
        blocks = blocks.permute(0, 1, 2, 3, 5, 4, 6).reshape(batch, channels, frames, height // 2, width // 2, 4)
        coefficients = blocks @ matrix.T
        x = coefficients.permute(0, 5, 1, 2, 3, 4).reshape(batch, 4 * channels, frames, height // 2, width // 2)
    return x


def haar_synthesis(coefficients: torch.Tensor, levels: int = 1) -> torch.Tensor:
    """The exact inverse of :func:`haar_analysis`."""
    if coefficients.ndim != 5 or coefficients.shape[1] % (4**levels):
        raise ValueError(f"haar_synthesis: expects (B, C * 4**{levels}, T, h, w), got {tuple(coefficients.shape)}")
    matrix = _HAAR.to(device=coefficients.device, dtype=coefficients.dtype)
    x = coefficients
    for _ in range(levels):
        batch, channels, frames, height, width = x.shape
        channels //= 4
        parts = x.reshape(batch, 4, channels, frames, height, width).permute(0, 2, 3, 4, 5, 1)
        blocks = parts @ matrix  # orthogonal: the transpose undoes the analysis
        blocks = blocks.reshape(batch, channels, frames, height, width, 2, 2).permute(0, 1, 2, 3, 5, 4, 6)
        x = blocks.reshape(batch, channels, frames, 2 * height, 2 * width)
    return x
