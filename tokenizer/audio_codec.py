"""``AudioCodec``: a causal 1D conv autoencoder with residual vector quantization (SoundStream-like).

Example::

    import torch
    from tokenizer import AudioCodec

    codec = AudioCodec(base_channels=8, channel_multipliers=(2, 4, 8, 8), num_codebooks=4, codebook_size=256)
    waveform = torch.randn(2, 34000).clamp(-1, 1)     # 17 video frames at 8 fps, 16 kHz mono
    codes = codec.encode(waveform)                    # (2, 4, 85): 5 codec frames per video frame
    audio = codec.decode(codes)                       # (2, 34000)
    audio2 = codec.decode(codes[:, :2])               # fewer codebooks still decode (coarser)

Alignment with video latents (the defaults: 16 kHz, hop 400 = strides 2*4*5*10, video at 8 fps,
temporal compression 4)::

    samples per video frame  = sample_rate / video_fps          = 16000 / 8  = 2000
    codec frames per video frame = 2000 / hop                   = 2000 / 400 = 5
    latent frame 0 (video frame 0 alone, causal) -> 1 * 5       = 5 codec frames   (0.125 s)
    latent frame j >= 1 (video frames 4j-3 .. 4j)  -> 4 * 5     = 20 codec frames  (0.5 s)
    T = 1 + 4k video frames -> (1 + 4k) * 5 codec frames, i.e. 5 + 20k

The codec frames of latent frame ``j`` are ``[5 + 20 (j - 1), 5 + 20 j)`` (``[0, 5)`` for ``j = 0``),
so audio codes and video latents share one time axis. The hop must divide the samples of a video
frame (a hop of 320 at 8 fps would give 6.25 codec frames for the lone first frame, which is why the
default is 400); :meth:`AudioCodec.frames_per_video_frame` says so clearly otherwise.

Everything is causal (left padding only, no normalisation across time), so encoding a long
waveform in chunks with enough left context (:meth:`encode` ``chunk_frames``) equals encoding it whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from tqdm.auto import tqdm

from .residual_vq import ResidualVectorQuantizer


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


class AudioEncoder(nn.Module):
    def __init__(self, base_channels, channel_multipliers, strides, latent_dim, dilations):
        super().__init__()
        layers: list[nn.Module] = [CausalConv1d(1, base_channels, 7)]
        width = base_channels
        for multiplier, stride in zip(channel_multipliers, strides):
            layers += [ResidualUnit(width, dilation) for dilation in dilations]
            out = base_channels * multiplier
            layers += [nn.ELU(), CausalConv1d(width, out, 2 * stride, stride=stride)]
            width = out
        layers += [nn.ELU(), CausalConv1d(width, latent_dim, 3)]
        self.layers = nn.Sequential(*layers)

    def forward(self, waveform):
        return self.layers(waveform)


class AudioDecoder(nn.Module):
    def __init__(self, base_channels, channel_multipliers, strides, latent_dim, dilations):
        super().__init__()
        widths = [base_channels] + [base_channels * m for m in channel_multipliers]
        layers: list[nn.Module] = [CausalConv1d(latent_dim, widths[-1], 7)]
        for index in reversed(range(len(strides))):
            stride = strides[index]
            layers += [nn.ELU(), CausalConvTranspose1d(widths[index + 1], widths[index], 2 * stride, stride=stride)]
            layers += [ResidualUnit(widths[index], dilation) for dilation in dilations]
        layers += [nn.ELU(), CausalConv1d(base_channels, 1, 7), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, latents):
        return self.layers(latents)


@dataclass
class AudioCodecOutput:
    reconstruction: torch.Tensor  # (batch, samples)
    codes: torch.Tensor  # (batch, levels used, frames)
    commitment_loss: torch.Tensor
    codebook_loss: torch.Tensor
    perplexity: torch.Tensor


class AudioCodec(ModelMixin, ConfigMixin):
    """Mono waveform ``(batch, samples)`` in [-1, 1] <-> codes ``(batch, num_codebooks, frames)``.

    Args:
        sample_rate: the rate waveforms are given at (resample before; see genvid.data.audio_io).
        base_channels, channel_multipliers: encoder widths (``base * m`` after each downsampling).
        strides: downsampling factors; their product is the hop (samples per codec frame).
        latent_dim: width of the quantized vectors.
        num_codebooks, codebook_size: residual quantizer levels and codes per level.
        codebook_ema: EMA codebooks (else codebooks learnt by a codebook loss, straight-through).
        ema_decay: decay of the EMA codebook statistics.
        dilations: dilations of the residual units in each stage.
        video_fps, temporal_compression: the video the codes align with (see the module docstring).
    """

    @register_to_config
    def __init__(
        self,
        sample_rate: int = 16000,
        base_channels: int = 32,
        channel_multipliers: Sequence[int] = (2, 4, 8, 16),
        strides: Sequence[int] = (2, 4, 5, 10),
        latent_dim: int = 64,
        num_codebooks: int = 4,
        codebook_size: int = 1024,
        codebook_ema: bool = True,
        ema_decay: float = 0.99,
        dilations: Sequence[int] = (1, 3, 9),
        video_fps: float = 8.0,
        temporal_compression: int = 4,
    ):
        super().__init__()
        if len(channel_multipliers) != len(strides):
            raise ValueError(
                f"channel_multipliers ({len(channel_multipliers)}) and strides ({len(strides)}) need one entry per stage"
            )
        if any(stride < 1 for stride in strides):
            raise ValueError(f"strides must be >= 1, got {list(strides)}")
        self.encoder = AudioEncoder(base_channels, channel_multipliers, strides, latent_dim, dilations)
        self.decoder = AudioDecoder(base_channels, channel_multipliers, strides, latent_dim, dilations)
        self.quantizer = ResidualVectorQuantizer(latent_dim, num_codebooks, codebook_size, codebook_ema, ema_decay)

    # ------------------------------------------------------------------ geometry
    @property
    def hop_length(self) -> int:
        return math.prod(self.config.strides)

    @property
    def frame_rate(self) -> float:
        """Codec frames per second."""
        return self.config.sample_rate / self.hop_length

    @property
    def num_codebooks(self) -> int:
        return self.config.num_codebooks

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def frames_per_video_frame(self, video_fps: float | None = None) -> int:
        """Codec frames per video frame; a clear error when the hop does not divide a video frame."""
        fps = video_fps or self.config.video_fps
        samples = self.config.sample_rate / fps
        frames = samples / self.hop_length
        if abs(frames - round(frames)) > 1e-9 or round(frames) < 1:
            raise ValueError(
                f"a video frame at {fps:g} fps is {samples:g} samples at {self.config.sample_rate} Hz, not a whole number "
                f"of codec frames of hop {self.hop_length} ({frames:g}); choose strides whose product divides it"
            )
        return int(round(frames))

    def frames_for_video(self, num_frames: int, video_fps: float | None = None) -> int:
        """Codec frames covering ``num_frames`` video frames."""
        return num_frames * self.frames_per_video_frame(video_fps)

    def frames_for_latent_frames(self, latent_frames: int, video_fps: float | None = None) -> int:
        """Codec frames covering ``latent_frames`` causal video latent frames (1 video frame, then
        ``temporal_compression`` per latent frame)."""
        if latent_frames < 1:
            return 0
        video_frames = 1 + self.config.temporal_compression * (latent_frames - 1)
        return self.frames_for_video(video_frames, video_fps)

    def latent_frame_span(self, index: int, video_fps: float | None = None) -> tuple[int, int]:
        """``[start, end)`` codec frames of video latent frame ``index``."""
        return self.frames_for_latent_frames(index, video_fps), self.frames_for_latent_frames(index + 1, video_fps)

    def samples_for_video(self, num_frames: int, video_fps: float | None = None) -> int:
        return self.frames_for_video(num_frames, video_fps) * self.hop_length

    def fit_to_frames(self, waveform: torch.Tensor, frames: int) -> torch.Tensor:
        """Cut or zero-pad ``(batch, samples)`` to exactly ``frames`` codec frames of samples."""
        samples = frames * self.hop_length
        waveform = waveform[..., :samples]
        return F.pad(waveform, (0, samples - waveform.shape[-1]))

    @property
    def receptive_field(self) -> int:
        """Samples before a codec frame's own hop that its code depends on (encoder look-back)."""
        look_back, rate = 0, 1
        for module in self.encoder.modules():
            if isinstance(module, CausalConv1d):
                look_back += module.left_padding * rate
                rate *= module.stride[0]
        return look_back

    # ------------------------------------------------------------------ encode / decode
    def _as_batch(self, waveform: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(waveform):
            raise ValueError(f"waveform must be a tensor (batch, samples), got {type(waveform).__name__}")
        if waveform.ndim == 3 and waveform.shape[1] == 1:
            waveform = waveform[:, 0]
        if waveform.ndim == 1:
            waveform = waveform[None]
        if waveform.ndim != 2:
            raise ValueError(f"waveform must be (samples,), (batch, samples) or (batch, 1, samples), got shape {tuple(waveform.shape)}")
        if waveform.shape[-1] == 0:
            raise ValueError("waveform is empty")
        return waveform

    def _padded(self, waveform: torch.Tensor) -> torch.Tensor:
        """Zero-pad on the right to whole codec frames."""
        extra = (-waveform.shape[-1]) % self.hop_length
        return F.pad(waveform, (0, extra))

    def encode_latents(self, waveform: torch.Tensor) -> torch.Tensor:
        """Unquantized encoder output ``(batch, latent_dim, frames)``."""
        waveform = self._padded(self._as_batch(waveform))
        return self.encoder(waveform[:, None].to(self.dtype))

    def encode(self, waveform: torch.Tensor, num_codebooks: int | None = None, chunk_frames: int | None = None) -> torch.Tensor:
        """Codes ``(batch, num_codebooks, ceil(samples / hop))`` (the tail is zero-padded to a hop).

        ``chunk_frames``: encode that many codec frames at a time, each chunk with the encoder's
        receptive field of left context; equal to encoding whole, with bounded memory.
        """
        waveform = self._padded(self._as_batch(waveform))
        if chunk_frames is None:
            return self.quantizer(self.encoder(waveform[:, None].to(self.dtype)), num_codebooks).codes
        hop = self.hop_length
        context = -(-self.receptive_field // hop) * hop  # whole frames of look-back
        total_frames = waveform.shape[-1] // hop
        pieces = []
        starts = range(0, total_frames, chunk_frames)
        for start in tqdm(starts, desc="encoding audio", disable=len(starts) < 8, leave=False):
            begin = max(0, start * hop - context)
            end = min(total_frames, start + chunk_frames) * hop
            latents = self.encoder(waveform[:, None, begin:end].to(self.dtype))
            skip = (start * hop - begin) // hop
            pieces.append(self.quantizer(latents[..., skip:], num_codebooks).codes)
        return torch.cat(pieces, dim=-1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, levels, frames)`` (any 1..num_codebooks first levels) -> ``(batch, frames * hop)``."""
        if not torch.is_tensor(codes) or codes.ndim != 3:
            raise ValueError(f"codes must be a tensor (batch, num_codebooks, frames), got {getattr(codes, 'shape', type(codes))}")
        latents = self.quantizer.decode(codes.to(self.device)).to(self.dtype)
        return self.decoder(latents)[:, 0]

    def forward(self, waveform: torch.Tensor, num_codebooks: int | None = None) -> AudioCodecOutput:
        """Encode, quantize (first ``num_codebooks`` levels: quantizer dropout) and decode."""
        waveform = self._as_batch(waveform)
        length = waveform.shape[-1]
        latents = self.encoder(self._padded(waveform)[:, None].to(self.dtype))
        quantized = self.quantizer(latents, num_codebooks)
        reconstruction = self.decoder(quantized.quantized)[:, 0, :length]
        return AudioCodecOutput(
            reconstruction=reconstruction,
            codes=quantized.codes,
            commitment_loss=quantized.commitment_loss,
            codebook_loss=quantized.codebook_loss,
            perplexity=quantized.perplexity,
        )
