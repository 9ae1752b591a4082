"""A harmonic-plus-noise decoder for the audio codec (``AudioCodec(synthesis="harmonic")``).

The waveform decoder (transposed convolutions up to the sample rate) has to lay out every period of
a tone with its filters, and on the synthetic soundtracks it learnt one waveform per pitch: the
timbre followed the fundamental, not the latents (genvid/demo/README.md, "Sound"). This decoder
gives it the inductive bias of DDSP (Engel et al. 2020) and source-filter vocoders: per codec frame
a small causal conv stack reads the latents and predicts

* a fundamental frequency ``f0`` (log-scaled between ``f0_min`` and ``f0_max``),
* a loudness (the amplitude of the harmonic part),
* a distribution over ``num_harmonics`` harmonic amplitudes (a softmax; harmonics at or above
  Nyquist are removed before it, so a high note never aliases),
* the magnitudes of ``num_noise_bands`` linearly spaced bands of filtered noise (unpitched sound);

and an additive oscillator bank renders them: the controls are upsampled to the sample rate (each
frame's value reached at the end of its hop, linearly from the frame before: causal), the phase is
the running sum of ``f0 / sample_rate`` and harmonic ``k`` is ``sin(2 pi k phase)``. The timbre is
then a handful of numbers per frame the latents must carry, and a sine and a square of one pitch
differ only in them.

The oscillator starts at phase 0, so a decoded tone matches its input's spectrum, not its sample
values: train it with the spectral losses (and the f0 target of tokenizer.pitch), not a waveform
error. The noise is drawn from a generator of fixed seed, so decoding is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .audio_layers import CausalConv1d, ResidualUnit


def scaled_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's positive nonlinearity ``sigmoid(x) ** ln 10``: amplitudes on a log-like scale in (0, 1)."""
    return torch.sigmoid(x).pow(math.log(10.0)) + 1e-7


def causal_upsample(controls: torch.Tensor, hop: int) -> torch.Tensor:
    """``(batch, channels, frames) -> (batch, channels, frames * hop)``: within frame ``t`` a linear
    ramp from frame ``t - 1``'s value to frame ``t``'s, reached at the hop's last sample."""
    previous = torch.cat([controls[..., :1], controls[..., :-1]], dim=-1)
    ramp = torch.arange(1, hop + 1, device=controls.device, dtype=controls.dtype) / hop
    upsampled = previous[..., None] + (controls - previous)[..., None] * ramp
    return upsampled.flatten(-2)


@dataclass
class SynthesisControls:
    f0: torch.Tensor  # (batch, frames) Hz
    loudness: torch.Tensor  # (batch, frames) amplitude of the harmonic part
    harmonics: torch.Tensor  # (batch, num_harmonics, frames), sums to 1 over harmonics below Nyquist
    noise: torch.Tensor  # (batch, num_noise_bands, frames) band magnitudes


def harmonic_oscillator(f0: torch.Tensor, amplitudes: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Additive synthesis: ``f0 (batch, samples)`` Hz and ``amplitudes (batch, harmonics, samples)``
    -> ``(batch, samples)``; harmonics at or above Nyquist (sample by sample) are silent."""
    cycles = torch.cumsum(f0 / sample_rate, dim=-1)
    cycles = cycles - cycles.detach().floor()  # the fractional phase: float32 stays exact on long clips
    numbers = torch.arange(1, amplitudes.shape[1] + 1, device=f0.device, dtype=f0.dtype)[:, None]
    audible = (numbers * f0[:, None] < sample_rate / 2).to(amplitudes.dtype)
    return (amplitudes * audible * torch.sin(2 * math.pi * numbers * cycles[:, None])).sum(1)


def filtered_noise(magnitudes: torch.Tensor, hop: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """White noise shaped per frame by band magnitudes ``(batch, bands, frames)`` (linear bands from
    0 to Nyquist, interpolated over the STFT bins) -> ``(batch, frames * hop)``. STFT frame ``t + 1``
    (centred on the end of hop ``t``) takes frame ``t``'s bands, as the oscillator's controls."""
    batch, bands, frames = magnitudes.shape
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    noise = torch.rand(batch, frames * hop, generator=generator, device=generator.device) * 2 - 1
    noise = noise.to(device=magnitudes.device, dtype=torch.float32)
    fft_size = 2 * hop
    window = torch.hann_window(fft_size, device=magnitudes.device)
    spectrum = torch.stft(noise, fft_size, hop_length=hop, window=window, return_complex=True, center=True)
    shaped = F.interpolate(magnitudes.float().transpose(1, 2), size=fft_size // 2 + 1, mode="linear",
                           align_corners=True).transpose(1, 2)  # (batch, bins, frames)
    shaped = torch.cat([shaped[..., :1], shaped], dim=-1)[..., : spectrum.shape[-1]]
    return torch.istft(spectrum * shaped, fft_size, hop_length=hop, window=window, center=True, length=frames * hop)


class HarmonicDecoder(nn.Module):
    """Latents ``(batch, latent_dim, frames)`` -> waveform ``(batch, 1, frames * hop)`` through
    harmonic-plus-noise controls (:meth:`controls`, :meth:`render`)."""

    def __init__(self, latent_dim: int, channels: int, hop: int, sample_rate: int, num_harmonics: int = 32,
                 num_noise_bands: int = 16, f0_min: float = 40.0, f0_max: float = 2000.0, dilations=(1, 3, 9)):
        super().__init__()
        if not 0 < f0_min < f0_max < sample_rate / 2:
            raise ValueError(f"need 0 < f0_min < f0_max < sample_rate / 2, got {f0_min}, {f0_max} at {sample_rate} Hz")
        if num_harmonics < 1 or num_noise_bands < 2:
            raise ValueError(f"need num_harmonics >= 1 and num_noise_bands >= 2, got {num_harmonics}, {num_noise_bands}")
        self.hop, self.sample_rate = hop, sample_rate
        self.num_harmonics, self.f0_min, self.f0_max = num_harmonics, f0_min, f0_max
        layers: list[nn.Module] = [CausalConv1d(latent_dim, channels, 3)]
        layers += [ResidualUnit(channels, dilation, kernel_size=3) for dilation in dilations]
        layers += [nn.ELU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv1d(channels, 2 + num_harmonics + num_noise_bands, 1)
        with torch.no_grad():  # start with little noise, as DDSP's noise bias of -5
            self.head.bias[2 + num_harmonics :] = -5.0

    def controls(self, latents: torch.Tensor) -> SynthesisControls:
        raw = self.head(self.body(latents)).float()
        f0 = self.f0_min * (self.f0_max / self.f0_min) ** torch.sigmoid(raw[:, 0])
        numbers = torch.arange(1, self.num_harmonics + 1, device=raw.device, dtype=raw.dtype)[:, None]
        audible = numbers * f0[:, None] < self.sample_rate / 2
        logits = raw[:, 2 : 2 + self.num_harmonics].masked_fill(~audible, -1e4)
        return SynthesisControls(f0=f0, loudness=scaled_sigmoid(raw[:, 1]), harmonics=logits.softmax(dim=1),
                                 noise=scaled_sigmoid(raw[:, 2 + self.num_harmonics :]))

    def render(self, controls: SynthesisControls) -> torch.Tensor:
        f0 = causal_upsample(controls.f0[:, None], self.hop)[:, 0]
        amplitudes = causal_upsample(controls.harmonics * controls.loudness[:, None], self.hop)
        waveform = harmonic_oscillator(f0, amplitudes, self.sample_rate) + filtered_noise(controls.noise, self.hop)
        return waveform[:, None]

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The decoded waveform in [-1, 1] (training renders the controls unclamped)."""
        return self.render(self.controls(latents)).clamp(-1, 1)
