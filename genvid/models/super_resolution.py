"""Video super-resolution: a low-resolution clip in, the same clip at ``scale_factor`` times the size out.

Readable top to bottom: bicubic upsampling of every frame (the base) + a learned residual:
the input's high-pass (each pixel minus its 3x3 mean) -> causal conv stem (this frame and the
``temporal_kernel - 1`` frames before it) -> transformer
blocks with self-attention inside local windows of one frame (alternate blocks shift the windows
by half a window so neighbouring windows exchange information, as in Swin) and an MLP with a 3x3
depthwise conv (the positions inside a window come from it and from the stem) -> a conv to
``3 * scale_factor**2`` channels -> pixel shuffle -> added to the base.

Why this shape (VideoPoet upsamples tokens with windowed attention; genvid works on pixels):

* Pixels, not latents: the demo tokenizer's 8x compression leaves 8x8 latent cells at 64x64, too
  coarse to put a sharp edge back; the low-resolution pixels are the richest condition there is.
* Residual over bicubic with a zero-initialised head: the untrained model *is* bicubic
  upsampling, so training only has to learn what bicubic gets wrong (edges, ringing) and can
  never start worse than the baseline it is measured against.
* Exactly bicubic where the input is flat: the residual path reads only the high-pass and has no
  biases, RMSNorm (no shift) and GELU, so a flat region gives a zero residual whatever the weights.
  Bicubic is exact there, and a synthetic clip is mostly flat background: measured on the first
  version (LayerNorm, biases, a norm before the head) after 200 steps, the background had picked up
  a small noisy residual and SSIM fell below bicubic's (0.983 vs 0.994) for +0.15 dB PSNR. The
  head also reads the residual stream unnormalised, so the size of a correction can follow the
  contrast of the edge it corrects.
* Causal in time and windowed in space: any frame count and any size work (frames are padded at
  the start by repeating the first one; the windows by masked padding), and a long clip upsamples
  in chunks of frames with bounded memory, exactly as it would whole
  (:meth:`VideoSuperResolution.upscale_in_chunks`).

Every attention goes through :func:`genvid.models.attention.attention`.

Example::

    >>> model = VideoSuperResolution(hidden_size=32, num_blocks=2)
    >>> model(torch.rand(1, 3, 5, 32, 32) * 2 - 1).shape      # (1, 3, 5, 64, 64)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange
from torch import nn

from genvid.errors import GenvidError
from genvid.models.attention import attention


def bicubic_upsample(video: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """Every frame of ``(B, C, T, h, w)`` upsampled ``scale_factor`` times with bicubic
    interpolation: the baseline the model improves on (and its base)."""
    batch = video.shape[0]
    frames = rearrange(video, "b c t h w -> (b t) c h w")
    upsampled = F.interpolate(frames, scale_factor=scale_factor, mode="bicubic", align_corners=False)
    return rearrange(upsampled, "(b t) c h w -> b c t h w", b=batch)


def area_downsample(video: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """Every frame of ``(B, C, T, H, W)`` reduced ``scale_factor`` times by averaging each
    ``scale_factor x scale_factor`` block (what a camera sensor of fewer, larger pixels sees):
    how training and evaluation make the low-resolution input from a true high-resolution clip."""
    batch, _, _, height, width = video.shape
    if height % scale_factor or width % scale_factor:
        raise GenvidError(f"a {height}x{width} clip does not divide by the scale factor {scale_factor}")
    frames = rearrange(video, "b c t h w -> (b t) c h w")
    return rearrange(F.avg_pool2d(frames, scale_factor), "(b t) c h w -> b c t h w", b=batch)


def high_pass(video: torch.Tensor) -> torch.Tensor:
    """Each pixel of ``(B, C, T, h, w)`` minus the mean of its 3x3 neighbourhood (borders
    replicated): zero wherever the picture is flat or a linear ramp, where bicubic is already exact."""
    height, width = video.shape[-2:]
    padded = F.pad(video, (1, 1, 1, 1, 0, 0), mode="replicate")
    # the mean of the neighbours' differences, not pixel minus pooled mean: exactly zero on a flat
    # region (a pooled mean rounds, and the network would amplify that rounding)
    differences = [
        padded[..., row : row + height, column : column + width] - video
        for row in range(3) for column in range(3) if (row, column) != (1, 1)
    ]
    return -sum(differences) / 9


class WindowAttention(nn.Module):
    """Self-attention among the pixels of each ``window x window`` square of one frame.

    ``shift`` moves the window grid by that many pixels down and right; the frame is padded to
    whole windows and the padding is masked out of every key set, so any size works."""

    def __init__(self, hidden_size: int, num_heads: int, window_size: int, shift: int):
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift = shift
        self.to_qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        self.to_out = nn.Linear(hidden_size, hidden_size, bias=False)

    def _pad(self, height: int, width: int) -> tuple[int, int, int, int]:
        window, shift = self.window_size, self.shift
        bottom = (-(height + shift)) % window
        right = (-(width + shift)) % window
        return shift, bottom, shift, right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (frames, height, width, channels)`` -> the same shape."""
        _, height, width, _ = x.shape
        top, bottom, left, right = self._pad(height, width)
        window = self.window_size
        padded = F.pad(x, (0, 0, left, right, top, bottom))
        windows = rearrange(padded, "n (hb wh) (wb ww) d -> (n hb wb) (wh ww) d", wh=window, ww=window)
        query, key, value = rearrange(self.to_qkv(windows), "w l (three h e) -> three w h l e", three=3, h=self.num_heads)
        mask = None
        if top or bottom or left or right:
            valid = F.pad(x.new_ones(1, height, width, 1, dtype=torch.bool), (0, 0, left, right, top, bottom))
            valid = rearrange(valid, "n (hb wh) (wb ww) d -> (n hb wb) d (wh ww)", wh=window, ww=window)
            mask = valid.repeat(x.shape[0], 1, 1)[:, :, None, :]  # (windows, 1, 1, keys)
        out = attention(query, key, value, attention_mask=mask)
        out = self.to_out(rearrange(out, "w h l e -> w l (h e)"))
        out = rearrange(
            out, "(n hb wb) (wh ww) d -> n (hb wh) (wb ww) d",
            n=x.shape[0], hb=padded.shape[1] // window, wh=window, ww=window,
        )
        return out[:, top : top + height, left : left + width]


class ConvFeedForward(nn.Module):
    """Linear -> 3x3 depthwise conv -> GELU -> linear: an MLP that also sees its neighbours, which
    tells the window attention where inside the frame each pixel sits."""

    def __init__(self, hidden_size: int, mlp_ratio: float):
        super().__init__()
        inner = int(hidden_size * mlp_ratio)
        self.expand = nn.Linear(hidden_size, inner, bias=False)
        self.depthwise = nn.Conv2d(inner, inner, 3, padding=1, groups=inner, bias=False)
        self.contract = nn.Linear(inner, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = rearrange(self.expand(x), "n h w d -> n d h w")
        hidden = rearrange(F.gelu(self.depthwise(hidden)), "n d h w -> n h w d")
        return self.contract(hidden)


class Block(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, window_size: int, shift: int, mlp_ratio: float, eps: float):
        super().__init__()
        self.norm1 = nn.RMSNorm(hidden_size, eps=eps)
        self.attention = WindowAttention(hidden_size, num_heads, window_size, shift)
        self.norm2 = nn.RMSNorm(hidden_size, eps=eps)
        self.feed_forward = ConvFeedForward(hidden_size, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class VideoSuperResolution(ModelMixin, ConfigMixin):
    """``scale_factor`` x video super-resolution, a residual over bicubic upsampling.

    Args:
        in_channels: colour channels (3).
        scale_factor: how many times larger the output is on each side (an integer >= 2).
        hidden_size: width of the stem and the blocks.
        num_blocks: window-attention blocks (odd ones shift their windows by half a window).
        num_heads: attention heads (``hidden_size`` must divide by it).
        window_size: side of the attention windows, in low-resolution pixels.
        mlp_ratio: MLP width over ``hidden_size``.
        temporal_kernel: frames the stem reads (this one and the ones before it): 1 = per frame.
        eps: RMSNorm epsilon (features much smaller than its square root stay small: near-flat noise is not blown up).

    ``forward(video)``: ``(B, C, T, h, w)`` in [-1, 1] -> ``(B, C, T, h * s, w * s)``, not clamped
    (what the loss sees); the pipeline clamps.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        scale_factor: int = 2,
        hidden_size: int = 32,
        num_blocks: int = 4,
        num_heads: int = 2,
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        temporal_kernel: int = 3,
        eps: float = 1e-2,
    ):
        super().__init__()
        if scale_factor < 2:
            raise ValueError(f"scale_factor must be an integer >= 2, got {scale_factor}")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must divide by num_heads ({num_heads})")
        if window_size < 1 or temporal_kernel < 1 or num_blocks < 0:
            raise ValueError(
                f"window_size and temporal_kernel must be >= 1 and num_blocks >= 0, got "
                f"{window_size}, {temporal_kernel}, {num_blocks}"
            )
        self.stem = nn.Conv3d(in_channels, hidden_size, (temporal_kernel, 3, 3), bias=False)
        self.blocks = nn.ModuleList(
            Block(hidden_size, num_heads, window_size, (window_size // 2) * (index % 2), mlp_ratio, eps)
            for index in range(num_blocks)
        )
        self.head = nn.Conv2d(hidden_size, in_channels * scale_factor**2, 3, padding=1, bias=False)
        # zero-initialised: the untrained model returns bicubic upsampling exactly
        nn.init.zeros_(self.head.weight)

    @property
    def temporal_context(self) -> int:
        """Earlier frames each output frame depends on."""
        return self.config.temporal_kernel - 1

    def check_input(self, video: torch.Tensor) -> None:
        if not isinstance(video, torch.Tensor) or video.ndim != 5 or video.shape[1] != self.config.in_channels:
            shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise GenvidError(
                f"super-resolution takes a video (batch, {self.config.in_channels}, frames, height, width), got {shape}"
            )
        if min(video.shape[2:]) < 1:
            raise GenvidError(f"super-resolution got an empty video of shape {tuple(video.shape)}")

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        self.check_input(video)
        batch, _, _, height, width = video.shape
        scale = self.config.scale_factor
        base = bicubic_upsample(video, scale)
        padded = F.pad(high_pass(video), (1, 1, 1, 1, 0, 0), mode="replicate")
        # causal in time: the first frame stands in for the frames before it
        padded = torch.cat([padded[:, :, :1]] * self.temporal_context + [padded], dim=2)
        hidden = rearrange(self.stem(padded), "b d t h w -> (b t) h w d")
        for block in self.blocks:
            hidden = block(hidden)
        residual = F.pixel_shuffle(self.head(rearrange(hidden, "n h w d -> n d h w")), scale)
        return base + rearrange(residual, "(b t) c h w -> b c t h w", b=batch)

    @torch.no_grad()
    def upscale_in_chunks(self, video: torch.Tensor, chunk_frames: int | None = None) -> torch.Tensor:
        """``forward`` over ``chunk_frames`` frames at a time (each chunk reads the
        :attr:`temporal_context` frames before it), so memory stays flat in the clip's length;
        equal to the whole clip's ``forward``. ``None`` = the whole clip at once."""
        self.check_input(video)
        frames = video.shape[2]
        if chunk_frames is None or chunk_frames >= frames:
            return self(video)
        if chunk_frames < 1:
            raise GenvidError(f"chunk_frames must be >= 1, got {chunk_frames}")
        outputs = []
        for start in range(0, frames, chunk_frames):
            first = max(0, start - self.temporal_context)
            outputs.append(self(video[:, :, first : start + chunk_frames])[:, :, start - first :])
        return torch.cat(outputs, dim=2)
