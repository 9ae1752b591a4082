"""Causal 1D layers shared by the audio codec's encoder and its decoders (left padding only, so a
sample never depends on later ones)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only: output ``t`` sees inputs up to ``t * stride + stride - 1``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation)
        self.left_padding = (kernel_size - 1) * dilation + 1 - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))


class CausalConvTranspose1d(nn.ConvTranspose1d):
    """Upsampling by ``stride`` whose output ``t`` depends on inputs up to ``t // stride``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out[..., : x.shape[-1] * self.stride[0]]


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, kernel_size: int = 7):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(), CausalConv1d(channels, channels, kernel_size, dilation=dilation), nn.ELU(), CausalConv1d(channels, channels, 1)
        )

    def forward(self, x):
        return x + self.block(x)
