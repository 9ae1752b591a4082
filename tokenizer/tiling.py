"""Spatial tiling for very large frames (approximate).

The frame is cut into overlapping tiles, each tile runs through the encoder or decoder on its
own, and the outputs are blended with linear ramps across the overlaps. Seams: a tile's border
pixels see zero padding instead of their real neighbours, so tiling is exact only where the
overlap exceeds the network's receptive field (it never fully does for these nets); with the
defaults (encode: 256-pixel tiles, 64 overlap; decode: 32-latent tiles, 8 overlap) the blend
hides the seams but the result differs slightly from untiled processing. Use tiling only when
a frame does not fit in memory; chunking in time is exact and on by default.
"""

from __future__ import annotations

from typing import Callable

import torch


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return sorted(set(starts))


def _ramp(length: int, overlap: int, device, dtype) -> torch.Tensor:
    positions = torch.arange(length, device=device, dtype=dtype)
    distance = torch.minimum(positions, length - 1 - positions) + 1
    return (distance / max(overlap, 1)).clamp(max=1.0)


def tiled_apply(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile_size: int, overlap: int,
                factor: int, upscale: bool) -> torch.Tensor:
    """Apply ``function`` (which scales H, W by ``factor`` up or down) over overlapping tiles.

    ``tile_size`` and ``overlap`` are in the input's units (pixels to encode, latents to decode).
    """
    height, width = x.shape[-2:]
    unit = 1 if upscale else factor
    if tile_size % unit or overlap % unit:
        raise ValueError(f"tile_size and tile_overlap must be multiples of {unit}, got {tile_size} and {overlap}")
    if overlap >= tile_size:
        raise ValueError(f"tile_overlap ({overlap}) must be smaller than tile_size ({tile_size})")
    if height <= tile_size and width <= tile_size:
        return function(x)
    scale = (lambda n: n * factor) if upscale else (lambda n: n // factor)  # noqa: E731
    stride = tile_size - overlap
    output = weights = None
    for top in _starts(height, tile_size, stride):
        for left in _starts(width, tile_size, stride):
            tile = x[..., top:top + tile_size, left:left + tile_size]
            result = function(tile)
            if output is None:
                shape = (*result.shape[:-2], scale(height), scale(width))
                output = torch.zeros(shape, device=result.device, dtype=torch.float32)
                weights = torch.zeros(shape[-2:], device=result.device, dtype=torch.float32)
            tile_height, tile_width = result.shape[-2:]
            mask = torch.outer(_ramp(tile_height, scale(overlap), result.device, torch.float32),
                               _ramp(tile_width, scale(overlap), result.device, torch.float32))
            out_top, out_left = scale(top), scale(left)
            output[..., out_top:out_top + tile_height, out_left:out_left + tile_width] += result.float() * mask
            weights[out_top:out_top + tile_height, out_left:out_left + tile_width] += mask
    return (output / weights).to(x.dtype if x.is_floating_point() else output.dtype)
