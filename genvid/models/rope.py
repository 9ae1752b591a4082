"""Rotary position embeddings: 1D for the LM, 3D (time, height, width) for the DiT."""

from __future__ import annotations

import torch


def rotary_angles(positions: torch.Tensor, dim: int, theta: float = 10000.0) -> torch.Tensor:
    """Angles ``(..., dim // 2)`` for integer or float ``positions`` of shape ``(...)``."""
    if dim % 2:
        raise ValueError(f"rotary dimension must be even, got {dim}")
    inverse_frequency = 1.0 / (theta ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim))
    return positions.float()[..., None] * inverse_frequency


def rotary_table(angles: torch.Tensor) -> torch.Tensor:
    """The rotation of each pair of channels, ``(..., dim // 2, 2)``: cos and sin of ``(..., dim // 2)``
    angles side by side, the layout :func:`torch.view_as_complex` reads as ``cos + i sin``."""
    return torch.stack((angles.cos(), angles.sin()), dim=-1)


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
    """Rotary table ``(num_frames * height * width, head_dim // 2, 2)`` (see :func:`rotary_table`)
    for tokens flattened as ``(t h w)``."""
    dims = split_3d_dims(head_dim)
    grid = grid_indices(num_frames, height, width, device)
    angles = [rotary_angles(axis, dim, theta) for axis, dim in zip(grid, dims) if dim > 0]
    return rotary_table(torch.cat(angles, dim=-1))


def apply_rotary(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate each channel pair ``(2i, 2i + 1)`` of ``x (..., length, dim)`` by the angles of a
    :func:`rotary_table` broadcastable to ``(..., length, dim // 2, 2)``; computed in float32."""
    dtype = x.dtype
    pairs = x.float().unflatten(-1, (-1, 2))
    if torch.compiler.is_compiling():
        # inductor generates no code for complex numbers: the same products in real arithmetic
        cos, sin = table.unbind(-1)
        real, imaginary = pairs.unbind(-1)
        rotated = torch.stack((real * cos - imaginary * sin, imaginary * cos + real * sin), dim=-1)
    else:
        # one complex product instead of six elementwise passes (the rotation is most of a
        # small model's non-matmul time): the same two products and sum per channel
        rotated = torch.view_as_real(torch.view_as_complex(pairs) * torch.view_as_complex(table))
    return rotated.flatten(-2).to(dtype)
