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

from .audio_losses import mel_filterbank
from .audio_layers import CausalConv1d, CausalConvTranspose1d, ResidualUnit
from .harmonic_synthesis import HarmonicDecoder
from .pitch import estimate_f0
from .pitch import look_back as pitch_look_back
from .residual_vq import ResidualVectorQuantizer


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


SPECTRAL_WINDOW, SPECTRAL_BANDS = 1024, 64


def frame_log_mel(waveform: torch.Tensor, sample_rate: int, hop: int) -> torch.Tensor:
    """``log(1 + mel magnitude)`` ``(batch, SPECTRAL_BANDS, ceil(samples / hop))`` of waveforms
    ``(batch, samples)``; frame ``t``'s Hann window of ``SPECTRAL_WINDOW`` samples ends with its
    hop (causal, zeros before the start)."""
    frames = -(-waveform.shape[-1] // hop)
    padded = F.pad(waveform.float(), (max(0, SPECTRAL_WINDOW - hop), frames * hop - waveform.shape[-1]))
    segments = padded.unfold(-1, SPECTRAL_WINDOW, hop)[:, -frames:]
    window = torch.hann_window(SPECTRAL_WINDOW, device=waveform.device)
    magnitudes = torch.fft.rfft(segments * window, dim=-1).abs()  # (batch, frames, bins)
    filters = mel_filterbank(sample_rate, SPECTRAL_WINDOW, SPECTRAL_BANDS, waveform.device)
    return torch.einsum("mf,btf->bmt", filters, magnitudes).log1p()


@dataclass
class AudioCodecOutput:
    reconstruction: torch.Tensor  # (batch, samples)
    codes: torch.Tensor  # (batch, levels used, frames)
    commitment_loss: torch.Tensor
    codebook_loss: torch.Tensor
    perplexity: torch.Tensor
    #: the harmonic decoder's fundamental per codec frame (batch, frames), Hz; None for ``synthesis="waveform"``
    f0: torch.Tensor | None = None


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
        synthesis: ``"waveform"`` (transposed convolutions up to the sample rate) or ``"harmonic"``
            (tokenizer.harmonic_synthesis: per frame f0, loudness, harmonic amplitudes and noise
            bands rendered by an oscillator bank; train it with spectral losses and an f0 target).
        synthesis_channels, num_harmonics, num_noise_bands, f0_min, f0_max: the harmonic decoder's
            width, harmonics, noise bands and f0 range (unused by ``"waveform"``).
        pitch_input: the encoder also reads its input's YIN f0 per frame (tokenizer.pitch, causal
            windows), added to its latents through a 1x1 convolution: a small conv encoder at the
            sample rate was slow to lay out a pitch precise to a fraction of a semitone.
        spectral_input: the encoder also reads a causal log-mel spectrum per frame
            (:func:`frame_log_mel`, 64 bands of a 1024-sample window ending with the frame's hop),
            added through a 1x1 convolution: the balance of a tone's harmonics, its timbre, is
            plain there, while the conv encoder's latents carried it weakly (a linear probe read
            the synthetic shapes in 69% from the waveform codec's latents).
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
        synthesis: str = "waveform",
        synthesis_channels: int = 128,
        num_harmonics: int = 32,
        num_noise_bands: int = 16,
        f0_min: float = 40.0,
        f0_max: float = 2000.0,
        pitch_input: bool = False,
        spectral_input: bool = False,
    ):
        super().__init__()
        if len(channel_multipliers) != len(strides):
            raise ValueError(
                f"channel_multipliers ({len(channel_multipliers)}) and strides ({len(strides)}) need one entry per stage"
            )
        if any(stride < 1 for stride in strides):
            raise ValueError(f"strides must be >= 1, got {list(strides)}")
        self.encoder = AudioEncoder(base_channels, channel_multipliers, strides, latent_dim, dilations)
        if synthesis == "waveform":
            self.decoder = AudioDecoder(base_channels, channel_multipliers, strides, latent_dim, dilations)
        elif synthesis == "harmonic":
            self.decoder = HarmonicDecoder(latent_dim, synthesis_channels, math.prod(strides), sample_rate,
                                           num_harmonics, num_noise_bands, f0_min, f0_max, dilations)
        else:
            raise ValueError(f"synthesis must be 'waveform' or 'harmonic', got {synthesis!r}")
        self.quantizer = ResidualVectorQuantizer(latent_dim, num_codebooks, codebook_size, codebook_ema, ema_decay)
        self.pitch_projection = nn.Conv1d(2, latent_dim, 1) if pitch_input else None
        self.spectral_projection = nn.Conv1d(SPECTRAL_BANDS, latent_dim, 1) if spectral_input else None

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
        if self.pitch_projection is not None:
            look_back = max(look_back, pitch_look_back(self.config.sample_rate, self.hop_length))
        if self.spectral_projection is not None:
            look_back = max(look_back, SPECTRAL_WINDOW - self.hop_length)
        return look_back

    def _latents(self, waveform: torch.Tensor) -> torch.Tensor:
        """Encoder output ``(batch, latent_dim, frames)`` of whole-hop waveforms ``(batch, samples)``."""
        latents = self.encoder(waveform[:, None].to(self.dtype))
        if self.pitch_projection is not None:
            f0, voiced = estimate_f0(waveform, self.config.sample_rate, self.hop_length, relative_silence=0.0)
            voiced = voiced.float()
            features = torch.stack([(f0 / 300.0).log2() * voiced, voiced], dim=1)
            latents = latents + self.pitch_projection(features.to(latents.dtype))
        if self.spectral_projection is not None:
            spectrum = frame_log_mel(waveform, self.config.sample_rate, self.hop_length)
            latents = latents + self.spectral_projection(spectrum.to(latents.dtype))
        return latents

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
        return self._latents(self._padded(self._as_batch(waveform)))

    def encode(self, waveform: torch.Tensor, num_codebooks: int | None = None, chunk_frames: int | None = None) -> torch.Tensor:
        """Codes ``(batch, num_codebooks, ceil(samples / hop))`` (the tail is zero-padded to a hop).

        ``chunk_frames``: encode that many codec frames at a time, each chunk with the encoder's
        receptive field of left context; equal to encoding whole, with bounded memory.
        """
        waveform = self._padded(self._as_batch(waveform))
        if chunk_frames is None:
            return self.quantizer(self._latents(waveform), num_codebooks).codes
        hop = self.hop_length
        context = -(-self.receptive_field // hop) * hop  # whole frames of look-back
        total_frames = waveform.shape[-1] // hop
        pieces = []
        starts = range(0, total_frames, chunk_frames)
        for start in tqdm(starts, desc="encoding audio", disable=len(starts) < 8, leave=False):
            begin = max(0, start * hop - context)
            end = min(total_frames, start + chunk_frames) * hop
            latents = self._latents(waveform[:, begin:end])
            skip = (start * hop - begin) // hop
            pieces.append(self.quantizer(latents[..., skip:], num_codebooks).codes)
        return torch.cat(pieces, dim=-1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, levels, frames)`` (any 1..num_codebooks first levels) -> ``(batch, frames * hop)``."""
        if not torch.is_tensor(codes) or codes.ndim != 3:
            raise ValueError(f"codes must be a tensor (batch, num_codebooks, frames), got {getattr(codes, 'shape', type(codes))}")
        latents = self.quantizer.decode(codes.to(self.device)).to(self.dtype)
        return self.decoder(latents)[:, 0]

    def forward(self, waveform: torch.Tensor, num_codebooks: int | None = None,
                teacher_f0: torch.Tensor | None = None) -> AudioCodecOutput:
        """Encode, quantize (first ``num_codebooks`` levels: quantizer dropout) and decode.

        ``teacher_f0`` ``(batch, frames)`` Hz (harmonic codecs): render with it in place of the
        predicted f0, which is still returned (``f0``) for its own loss."""
        waveform = self._as_batch(waveform)
        length = waveform.shape[-1]
        latents = self._latents(self._padded(waveform))
        quantized = self.quantizer(latents, num_codebooks)
        f0 = None
        if isinstance(self.decoder, HarmonicDecoder):
            controls = self.decoder.controls(quantized.quantized)
            f0 = controls.f0
            if teacher_f0 is not None:
                controls.f0 = teacher_f0[..., : f0.shape[-1]].to(f0)
            reconstruction = self.decoder.render(controls).to(self.dtype)
        else:
            reconstruction = self.decoder(quantized.quantized)
        return AudioCodecOutput(
            reconstruction=reconstruction[:, 0, :length],
            codes=quantized.codes,
            commitment_loss=quantized.commitment_loss,
            codebook_loss=quantized.codebook_loss,
            perplexity=quantized.perplexity,
            f0=f0,
        )
