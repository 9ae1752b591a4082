"""Rotary position embeddings: 1D for the LM, 3D (time, height, width) for the DiT."""

from __future__ import annotations

import torch


def rotary_angles(positions: torch.Tensor, dim: int, theta: float = 10000.0) -> torch.Tensor:
    """Angles ``(..., dim // 2)`` for integer or float ``positions`` of shape ``(...)``."""
    if dim % 2:
        raise ValueError(f"rotary dimension must be even, got {dim}")
    inverse_frequency = 1.0 / (theta ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim))
    return positions.float()[..., None] * inverse_frequency


def rotary_cos_sin(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of ``(..., dim // 2)`` angles, each repeated to ``(..., dim)`` (interleaved pairs)."""
    angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos(), angles.sin()


def split_3d_dims(head_dim: int) -> tuple[int, int, int]:
    """Split a head dimension over (time, height, width), each part even; time gets the remainder."""
    spatial = (head_dim // 3) // 2 * 2
    temporal = head_dim - 2 * spatial
    return temporal, spatial, spatial


def grid_indices(num_frames: int, height: int, width: int, device=None) -> list[torch.Tensor]:
    """Each token's (time, row, column) index, three ``(num_frames * height * width,)`` tensors
    for tokens flattened as ``(t h w)``."""
    grid = torch.meshgrid(
        torch.arange(num_frames, device=device),
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    return [axis.reshape(-1) for axis in grid]


def rotary_3d(num_frames: int, height: int, width: int, head_dim: int, theta: float = 10000.0, device=None):
    """cos/sin ``(num_frames * height * width, head_dim)`` for tokens flattened as ``(t h w)``."""
    dims = split_3d_dims(head_dim)
    grid = grid_indices(num_frames, height, width, device)
    angles = [rotary_angles(axis, dim, theta) for axis, dim in zip(grid, dims) if dim > 0]
    return rotary_cos_sin(torch.cat(angles, dim=-1))


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x (..., length, dim)`` by ``cos``/``sin`` broadcastable to it; computed in float32."""
    dtype = x.dtype
    x = x.float()
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return (x * cos + rotated * sin).to(dtype)
