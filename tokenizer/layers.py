"""Building blocks of the causal video autoencoder.

Two layouts travel through the network:

* ``frames``: ``(B*T, C, H, W)`` -- every frame on its own, for the spatial-only high-resolution
  stages (plain 2D convolutions, cheap and cuDNN-friendly);
* ``video``: ``(B, C, T, H, W)`` -- for the causal 3D stages at low resolution.

In ``channels_last_3d`` memory the switch between the two is a free view, which is why nothing
here calls ``.contiguous()``.

Causality: a temporal convolution only looks at the current and past frames (all its temporal
padding is on the left) and normalisation is per frame. Streaming (chunked) processing keeps the
last input frames of each temporal convolution in ``self.cache`` so that a clip fed chunk by chunk
gives the same output as the whole clip at once.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def to_frames(video: torch.Tensor) -> torch.Tensor:
    return rearrange(video, "b c t h w -> (b t) c h w")


def to_video(frames: torch.Tensor, batch_size: int) -> torch.Tensor:
    return rearrange(frames, "(b t) c h w -> b c t h w", b=batch_size)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm whose statistics never mix frames (a clip-wide norm would leak the future)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:
            return to_video(super().forward(to_frames(x)), x.shape[0])
        return super().forward(x)


def group_norm(channels: int, affine: bool = True, max_groups: int = 32) -> FrameGroupNorm:
    """Per-frame GroupNorm with the largest group count <= ``max_groups`` that divides ``channels``.

    Few channels per group normalise each channel's scale away; on a small coloured object over a
    plain background that scale *is* the colour, so narrow models want few groups (1 = LayerNorm
    over the whole frame)."""
    groups = max(1, max_groups)
    while channels % groups:
        groups //= 2
    return FrameGroupNorm(groups, channels, eps=1e-6, affine=affine)


class CausalConv3d(nn.Module):
    """3D convolution that is causal in time (left padding only) and can stream chunk by chunk.

    With temporal stride ``s`` and kernel ``k`` the output frame ``j`` sees input frames
    ``s*j-k+1 .. s*j``: the first output frame sees only the first input frame, so ``1 + s*n``
    inputs give ``1 + n`` outputs. Streaming keeps the last ``k - s`` input frames between calls
    (chunks after the first must hold a multiple of ``s`` frames).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, temporal_stride: int = 1,
                 spatial_stride: int = 1):
        super().__init__()
        self.temporal_kernel = kernel_size
        self.temporal_stride = temporal_stride
        self.conv = nn.Conv3d(
            in_channels, out_channels, kernel_size, stride=(temporal_stride, spatial_stride, spatial_stride),
            padding=(0, kernel_size // 2, kernel_size // 2),
        )
        self.streaming = False
        self.cache: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache is None:
            # Replicating the first frame (not zeros) keeps a still image's statistics unchanged.
            history = x[:, :, :1].expand(-1, -1, self.temporal_kernel - 1, -1, -1)
        else:
            history = self.cache
        padded = torch.cat([history, x], dim=2)
        if self.streaming:
            keep = self.temporal_kernel - self.temporal_stride
            self.cache = padded[:, :, padded.shape[2] - keep:] if keep > 0 else padded[:, :, :0]
        return self.conv(padded)


class _ResidualBlock(nn.Module):
    """(norm, SiLU, conv) x 2 beside a shortcut; the subclass names the convolutions of its layout."""

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int, conv, shortcut_conv):
        super().__init__()
        self.norm1 = group_norm(in_channels, max_groups=norm_groups)
        self.conv1 = conv(in_channels, out_channels)
        self.norm2 = group_norm(out_channels, max_groups=norm_groups)
        self.conv2 = conv(out_channels, out_channels)
        self.shortcut = shortcut_conv(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(F.silu(self.norm1(x)))
        hidden = self.conv2(F.silu(self.norm2(hidden)))
        return self.shortcut(x) + hidden


class ResBlock2d(_ResidualBlock):
    """Per-frame residual block (norm, SiLU, conv) x 2 on the ``frames`` layout."""

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int = 32):
        super().__init__(in_channels, out_channels, norm_groups, partial(nn.Conv2d, kernel_size=3, padding=1), nn.Conv2d)


class ResBlock3d(_ResidualBlock):
    """Causal spatio-temporal residual block on the ``video`` layout."""

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int = 32):
        super().__init__(in_channels, out_channels, norm_groups, CausalConv3d, nn.Conv3d)


class SpatialDownsample(nn.Module):
    """Learned 2x spatial downsampling (strided conv) on the ``frames`` layout."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpatioTemporalDownsample(nn.Module):
    """Learned 2x downsampling in time and space: one causal strided 3D conv (``1+2n -> 1+n`` frames)."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv = CausalConv3d(channels, out_channels, temporal_stride=2, spatial_stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpatialUpsample(nn.Module):
    """Learned 2x spatial upsampling: conv to 4x channels, then depth-to-space (pixel shuffle)."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.conv(x), "n (c sh sw) h w -> n c (h sh) (w sw)", sh=2, sw=2)


class SpatioTemporalUpsample(nn.Module):
    """Learned 2x upsampling in time and space (``1+n -> 1+2n`` frames), causal.

    A causal conv makes 8x channels, split into 2 frames x 2x2 pixels. The very first frame of
    the clip stands alone (it was encoded alone), so only the second of its two frames is kept.
    """

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv = CausalConv3d(channels, out_channels * 8)
        self.streaming = False
        self.seen_first_frame = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = rearrange(self.conv(x), "b (c st sh sw) t h w -> b c (t st) (h sh) (w sw)", st=2, sh=2, sw=2)
        if not self.seen_first_frame:
            hidden = hidden[:, :, 1:]
            if self.streaming:
                self.seen_first_frame = True
        return hidden


class _FirstFrameAware(nn.Module):
    """A layer that treats the clip's first frame apart; in streaming, only in the first chunk."""

    streaming = False
    seen_first_frame = False

    def _is_first_chunk(self) -> bool:
        first = not self.seen_first_frame
        if first and self.streaming:
            self.seen_first_frame = True
        return first


class CellMean(_FirstFrameAware):
    """The mean of each latent cell of a video, projected: ``(B, C, 1 + t*n, s*h, s*w) ->
    (B, out, 1 + n, h, w)`` with cells of ``s x s`` pixels over the first frame alone, then
    ``t`` frames (causal, and it streams: later chunks hold multiples of ``t`` frames)."""

    def __init__(self, in_channels: int, out_channels: int, spatial: int, temporal: int):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        self.proj = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        cells = []
        if self._is_first_chunk():
            cells.append(F.avg_pool3d(video[:, :, :1], (1, self.spatial, self.spatial)))
            video = video[:, :, 1:]
        if video.shape[2]:
            cells.append(F.avg_pool3d(video, (self.temporal, self.spatial, self.spatial)))
        return self.proj(torch.cat(cells, dim=2))


class CellExpand(_FirstFrameAware):
    """The inverse layout of :class:`CellMean`: project each latent cell and repeat it over its
    pixels and frames (the first latent frame gives one frame, every other ``t``)."""

    def __init__(self, in_channels: int, out_channels: int, spatial: int, temporal: int):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        self.proj = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.proj(latents).repeat_interleave(self.temporal, dim=2)
        x = x.repeat_interleave(self.spatial, dim=3).repeat_interleave(self.spatial, dim=4)
        return x[:, :, self.temporal - 1:] if self._is_first_chunk() else x


@torch.no_grad()
def cell_mean_picture(video: torch.Tensor, spatial: int = 8, temporal: int = 4) -> torch.Tensor:
    """Every ``spatial x spatial``-pixel, ``temporal``-frame latent cell (the first frame alone)
    painted with its mean colour: what a tokenizer's latent grid holds with no learning at all,
    the trivial baseline a tokenizer must beat. ``(B, C, T, H, W)`` in, the same shape out."""
    channels = video.shape[1]
    pool, expand = CellMean(channels, channels, spatial, temporal), CellExpand(channels, channels, spatial, temporal)
    for layer in (pool, expand):
        nn.init.eye_(layer.proj.weight.view(channels, channels))
        nn.init.zeros_(layer.proj.bias)
    pool.to(video), expand.to(video)
    return expand(pool(video))


def set_streaming(module: nn.Module, streaming: bool) -> None:
    """Switch every causal layer under ``module`` in or out of streaming mode and clear its state."""
    for layer in module.modules():
        if isinstance(layer, CausalConv3d):
            layer.streaming = streaming
            layer.cache = None
        elif isinstance(layer, (SpatioTemporalUpsample, _FirstFrameAware)):
            layer.streaming = streaming
            layer.seen_first_frame = False
