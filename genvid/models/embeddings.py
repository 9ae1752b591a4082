"""Timestep embeddings for the diffusion transformer."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(timestep: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """``timestep (...)`` (any float scale) -> ``(..., dim)`` float32, cosines first then sines.

    The frequencies span 1 .. 1/max_period, so timesteps on a 0..1000 scale use the whole range;
    that is why genvid's DiT takes timesteps as sigma * 1000 rather than sigma.
    """
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timestep.device) / half
    angles = timestep.float()[..., None] * exponent.exp()
    embedding = torch.cat([angles.cos(), angles.sin()], dim=-1)
    if dim % 2:
        embedding = nn.functional.pad(embedding, (0, 1))
    return embedding


class TimestepEmbedding(nn.Module):
    """Sinusoidal features followed by a two-layer MLP: ``(...)`` -> ``(..., hidden_size)``."""

    def __init__(self, hidden_size: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(
            nn.Linear(frequency_dim, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:
        features = sinusoidal_embedding(timestep, self.frequency_dim)
        return self.mlp(features.to(self.mlp[0].weight.dtype))
