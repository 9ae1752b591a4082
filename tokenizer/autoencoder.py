"""Causal video encoder and decoder (MAGVIT-v2 spirit, leaner).

Encoder, top to bottom::

    frames (B*T, 3, H, W) --conv2d--> [2D stages: per-frame res blocks, strided conv]
      --view--> video (B, C, T, H', W') --> [causal 3D stages; 2x time+space downsampling]
      --> causal 3D mid blocks --> norm, SiLU, causal conv --> (B, out_channels, t, h, w)

The decoder mirrors it. High-resolution stages use plain 2D convolutions (most of the pixels,
least of the temporal modelling); time is mixed only at low resolution where a 3D conv is cheap.
Temporal down/up-sampling sits in the last/first transitions for the same reason.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    CausalConv3d,
    CellExpand,
    CellMean,
    ResBlock2d,
    ResBlock3d,
    SpatialDownsample,
    SpatialUpsample,
    SpatioTemporalDownsample,
    SpatioTemporalUpsample,
    group_norm,
    to_frames,
    to_video,
)
from .wavelet import haar_analysis, haar_synthesis


class _Stage(nn.Module):
    def __init__(self, blocks: list[nn.Module], resample: nn.Module | None, is_3d: bool):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.resample = resample
        self.is_3d = is_3d


def _layout(x: torch.Tensor, want_video: bool, batch_size: int) -> torch.Tensor:
    if want_video and x.ndim == 4:
        return to_video(x, batch_size)
    if not want_video and x.ndim == 5:
        return to_frames(x)
    return x


def _run_resample(resample: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    needs_video = isinstance(resample, (SpatioTemporalDownsample, SpatioTemporalUpsample))
    return resample(_layout(x, needs_video, batch_size))


class _Coder(nn.Module):
    """What the encoder and decoder share: the residual block classes with the model's norm group
    count bound, the Haar wavelet levels, running blocks and stages in order, and gradient
    checkpointing (``gradient_checkpointing`` is switched by diffusers' ``enable_gradient_checkpointing``)."""

    gradient_checkpointing = False

    def __init__(self, norm_groups: int, wavelet_levels: int):
        super().__init__()
        self.norm_groups = norm_groups
        self.wavelet_levels = wavelet_levels

    def _stage_blocks(self, is_3d: bool, in_width: int, width: int, count: int) -> tuple[list[nn.Module], int]:
        """``count`` residual blocks to ``width`` channels, and the width they leave (``in_width`` if none)."""
        block = ResBlock3d if is_3d else ResBlock2d
        blocks = [block(in_width if index == 0 else width, width, norm_groups=self.norm_groups) for index in range(count)]
        return blocks, width if count else in_width

    def _block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return self._gradient_checkpointing_func(block, x)
        return block(x)

    def _run_blocks(self, blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for block in blocks:
            x = self._block(block, x)
        return x

    def _run_stages(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        for stage in self.stages:
            x = self._run_blocks(stage.blocks, _layout(x, stage.is_3d, batch_size))
            if stage.resample is not None:
                x = _run_resample(stage.resample, x, batch_size)
        return x


class Encoder(_Coder):
    def __init__(self, in_channels: int, out_channels: int, base_channels: int, channel_multipliers: tuple[int, ...],
                 num_res_blocks: int, num_mid_blocks: int, temporal_downsamples: int, causal_3d_stages: int,
                 norm_groups: int = 32, cell_skip: bool = False, wavelet_levels: int = 0):
        super().__init__(norm_groups, wavelet_levels)
        # the network sees the Haar coefficients: 4 channels per level at half the size per level
        in_channels = in_channels * 4**wavelet_levels
        channels = [base_channels * multiplier for multiplier in channel_multipliers]
        num_stages = len(channels)
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.stages = nn.ModuleList()
        previous = channels[0]
        for index, width in enumerate(channels):
            is_3d = index >= num_stages - causal_3d_stages
            blocks, previous = self._stage_blocks(is_3d, previous, width, num_res_blocks)
            resample = None
            if index < num_stages - 1:
                # time is halved in the last ``temporal_downsamples`` transitions (lowest resolutions)
                temporal = index >= num_stages - 1 - temporal_downsamples
                resample = (SpatioTemporalDownsample if temporal else SpatialDownsample)(previous, previous)
            self.stages.append(_Stage(blocks, resample, is_3d))
        self.mid = nn.ModuleList(self._stage_blocks(True, previous, channels[-1], num_mid_blocks)[0])
        last = channels[-1] if num_mid_blocks else previous
        self.norm_out = group_norm(last, max_groups=norm_groups)
        self.conv_out = CausalConv3d(last, out_channels)
        factors = (2 ** (num_stages - 1), 2**temporal_downsamples)
        self.cell_skip = CellMean(in_channels, out_channels, *factors) if cell_skip else None

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        batch_size = video.shape[0]
        if self.wavelet_levels:
            video = haar_analysis(video, self.wavelet_levels)
        x = self._run_stages(self.conv_in(to_frames(video)), batch_size)
        x = self._run_blocks(self.mid, _layout(x, True, batch_size))
        out = self.conv_out(F.silu(self.norm_out(x)))
        return out + self.cell_skip(video) if self.cell_skip is not None else out


class Decoder(_Coder):
    def __init__(self, in_channels: int, out_channels: int, base_channels: int, channel_multipliers: tuple[int, ...],
                 num_res_blocks: int, num_mid_blocks: int, temporal_upsamples: int, causal_3d_stages: int,
                 norm_groups: int = 32, cell_skip: bool = False, wavelet_levels: int = 0):
        super().__init__(norm_groups, wavelet_levels)
        # the network outputs Haar coefficients; forward inverts them onto pixels
        out_channels = out_channels * 4**wavelet_levels
        channels = [base_channels * multiplier for multiplier in reversed(channel_multipliers)]
        num_stages = len(channels)
        self.conv_in = CausalConv3d(in_channels, channels[0])
        self.mid = nn.ModuleList(self._stage_blocks(True, channels[0], channels[0], num_mid_blocks)[0])
        self.stages = nn.ModuleList()
        previous = channels[0]
        for index, width in enumerate(channels):
            is_3d = index < causal_3d_stages
            blocks, previous = self._stage_blocks(is_3d, previous, width, num_res_blocks)
            resample = None
            if index < num_stages - 1:
                temporal = index < temporal_upsamples
                next_width = channels[index + 1]
                resample = (SpatioTemporalUpsample if temporal else SpatialUpsample)(previous, next_width)
                previous = next_width
            self.stages.append(_Stage(blocks, resample, is_3d))
        self.norm_out = group_norm(previous, max_groups=norm_groups)
        self.conv_out = nn.Conv2d(previous, out_channels, 3, padding=1)
        factors = (2 ** (num_stages - 1), 2**temporal_upsamples)
        self.cell_skip = CellExpand(in_channels, out_channels, *factors) if cell_skip else None

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        batch_size = latents.shape[0]
        x = self._run_blocks(self.mid, self.conv_in(latents))
        x = _layout(self._run_stages(x, batch_size), False, batch_size)
        video = to_video(self.conv_out(F.silu(self.norm_out(x))), batch_size)
        if self.cell_skip is not None:
            video = video + self.cell_skip(latents)
        return haar_synthesis(video, self.wavelet_levels) if self.wavelet_levels else video

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight the adaptive GAN weight balances gradients at."""
        return self.conv_out.weight
