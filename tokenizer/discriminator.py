"""3D patch discriminator: a stack of strided 3D convolutions that scores spatio-temporal patches.

Each output logit judges one patch of the clip (real > 0, fake < 0 under the hinge loss). Kept
small and normalised per frame: a GAN on a tokenizer should stay weak (see the training module).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import group_norm


class PatchDiscriminator3d(nn.Module):
    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        self.conv_in = nn.Conv3d(in_channels, base_channels, 3, stride=(1, 2, 2), padding=1)
        channels = base_channels
        self.norms = nn.ModuleList()
        self.convs = nn.ModuleList()
        for index in range(1, num_layers + 1):
            out_channels = base_channels * min(2**index, 8)
            # the last layer keeps the resolution; earlier ones halve time (once) and space
            stride = (2 if index == 1 else 1, 2, 2) if index < num_layers else (1, 1, 1)
            self.convs.append(nn.Conv3d(channels, out_channels, 3, stride=stride, padding=1))
            self.norms.append(group_norm(out_channels))
            channels = out_channels
        self.conv_out = nn.Conv3d(channels, 1, 3, padding=1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv_in(video), 0.2)
        for conv, norm in zip(self.convs, self.norms):
            x = F.leaky_relu(norm(conv(x)), 0.2)
        return self.conv_out(x)
