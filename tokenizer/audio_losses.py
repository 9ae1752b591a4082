"""Losses for the audio codec: waveform L1, multi-resolution STFT, log-mel, and an optional
multi-scale waveform discriminator with hinge losses.

A waveform error alone is blind to phase-shifted but otherwise right sound and over-smooths; the
spectral terms compare magnitudes at several time/frequency trade-offs (short windows for onsets,
long ones for pitch), and the mel term weights frequencies the way hearing does.

Spectral magnitudes are compressed with ``log(1 + x)``, not ``log(max(x, 1e-5))``: measured on the
synthetic tones, a tiny log floor makes the empty bins of a pure tone dominate the loss, and a
young codec then learns silence (SNR stayed ~0 dB for hundreds of steps) while waveform MSE with
``log1p`` spectra reached > 20 dB in 150 steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _magnitudes(waveform: torch.Tensor, fft_size: int) -> torch.Tensor:
    window = torch.hann_window(fft_size, device=waveform.device, dtype=torch.float32)
    spectrum = torch.stft(
        waveform.float(), fft_size, hop_length=fft_size // 4, window=window, return_complex=True, center=True
    )
    return spectrum.abs().clamp_min(1e-5)  # (batch, bins, frames)


def multi_resolution_stft_loss(prediction: torch.Tensor, target: torch.Tensor, fft_sizes=(256, 512, 1024),
                               log_floor: float | None = None) -> torch.Tensor:
    """Mean over resolutions of spectral convergence + L1 of log magnitudes; waveforms (batch, samples).

    ``log_floor`` None: ``log(1 + |X|)``. A number: ``log(|X| + floor * peak)`` with ``peak`` the
    target's loudest bin (per sample and resolution), i.e. the magnitudes compared in dB down to
    ``floor`` below the peak."""
    total = 0.0
    for fft_size in fft_sizes:
        predicted, expected = _magnitudes(prediction, fft_size), _magnitudes(target, fft_size)
        convergence = torch.linalg.norm(expected - predicted, dim=(1, 2)) / torch.linalg.norm(expected, dim=(1, 2)).clamp_min(1e-5)
        if log_floor is None:
            log_term = F.l1_loss(predicted.log1p(), expected.log1p())
        else:
            floor = log_floor * expected.amax(dim=(1, 2), keepdim=True).clamp_min(1e-5)
            log_term = F.l1_loss((predicted + floor).log(), (expected + floor).log())
        total = total + convergence.mean() + log_term
    return total / len(fft_sizes)


def mel_filterbank(sample_rate: int, fft_size: int, num_mels: int, device=None) -> torch.Tensor:
    """Triangular filters on the mel scale (HTK formula): ``(num_mels, fft_size // 2 + 1)``."""

    def to_mel(hz):
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    mel_points = torch.linspace(to_mel(0.0), to_mel(sample_rate / 2), num_mels + 2, dtype=torch.float64)
    hz_points = 700.0 * (10 ** (mel_points / 2595.0) - 1.0)
    bins = torch.linspace(0, sample_rate / 2, fft_size // 2 + 1, dtype=torch.float64)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).float().to(device)


def log_mel(waveform: torch.Tensor, sample_rate: int, fft_size: int = 1024, num_mels: int = 64) -> torch.Tensor:
    """``log(1 + mel magnitude)`` ``(batch, num_mels, frames)`` of waveforms ``(batch, samples)``."""
    filters = mel_filterbank(sample_rate, fft_size, num_mels, waveform.device)
    return torch.einsum("mf,bft->bmt", filters, _magnitudes(waveform, fft_size)).log1p()


def mel_loss(prediction: torch.Tensor, target: torch.Tensor, sample_rate: int, fft_sizes=(512, 1024), num_mels: int = 64) -> torch.Tensor:
    """L1 between log-mel spectrograms, averaged over a few window sizes."""
    total = 0.0
    for fft_size in fft_sizes:
        total = total + F.l1_loss(
            log_mel(prediction, sample_rate, fft_size, num_mels), log_mel(target, sample_rate, fft_size, num_mels)
        )
    return total / len(fft_sizes)


def mel_distance(prediction: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Per-sample mean absolute ``log1p``-mel difference (1024-point window, 64 mels): an evaluation figure."""
    return (log_mel(prediction, sample_rate) - log_mel(target, sample_rate)).abs().mean(dim=(1, 2))


def signal_to_noise_db(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample SNR in dB of ``prediction`` against ``target`` (waveforms (batch, samples))."""
    noise = (prediction.float() - target.float()).pow(2).sum(-1)
    return 10 * torch.log10(target.float().pow(2).sum(-1).clamp_min(1e-10) / noise.clamp_min(1e-10))


class WaveformDiscriminator(nn.Module):
    """Multi-scale 1D conv discriminator (the waveform and its 2x, 4x average-pooled versions)."""

    def __init__(self, channels: int = 16, num_scales: int = 3, num_layers: int = 4):
        super().__init__()

        def network():
            layers, width = [nn.Conv1d(1, channels, 15, padding=7), nn.LeakyReLU(0.2)], channels
            for _ in range(num_layers - 1):
                layers += [nn.Conv1d(width, min(width * 2, 256), 41, stride=4, padding=20, groups=4 if width >= 4 else 1), nn.LeakyReLU(0.2)]
                width = min(width * 2, 256)
            layers.append(nn.Conv1d(width, 1, 3, padding=1))
            return nn.Sequential(*layers)

        self.scales = nn.ModuleList(network() for _ in range(num_scales))

    def forward(self, waveform: torch.Tensor) -> list[torch.Tensor]:
        x = waveform.reshape(waveform.shape[0], 1, -1)
        logits = []
        for index, network in enumerate(self.scales):
            if index:
                x = F.avg_pool1d(x, 4, stride=2, padding=1)
            logits.append(network(x))
        return logits


def hinge_discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - real).mean() + F.relu(1 + fake).mean() for real, fake in zip(real_logits, fake_logits)) / len(real_logits)


def hinge_generator_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(-fake.mean() for fake in fake_logits) / len(fake_logits)


def mel_spectral_distance(prediction: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Per-sample relative error of the (linear) mel magnitudes, ``||M - M'|| / ||M||``: 1 for
    silence, 0 for a perfect match. Unlike a log-mel distance it is not dominated by the empty bins
    of a pure tone."""
    filters = mel_filterbank(sample_rate, 1024, 64, prediction.device)
    predicted = torch.einsum("mf,bft->bmt", filters, _magnitudes(prediction, 1024))
    expected = torch.einsum("mf,bft->bmt", filters, _magnitudes(target, 1024))
    return torch.linalg.norm(predicted - expected, dim=(1, 2)) / torch.linalg.norm(expected, dim=(1, 2)).clamp_min(1e-8)
