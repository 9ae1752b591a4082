"""Fundamental frequency of a waveform per codec frame, by YIN (de Cheveigné and Kawahara 2002).

The harmonic decoder (tokenizer.harmonic_synthesis) learns its f0 against this estimate of its own
input, as the DDSP autoencoder does: spectral losses alone give the oscillator's frequency a loss
surface full of local minima (a harmonic one octave off matches half the partials), while a
classical estimator of the input's period is exact on the pitched sound the codec must carry.
Nothing here is learnt, and nothing labels the sound: it is the autoencoder's target, read from
the input it reconstructs.

YIN: the squared difference of a window with itself shifted by ``lag``, normalised by its running
mean over the smaller lags; the first dip under ``threshold`` is the period (the smallest lag that
repeats the signal, which avoids the octave-down errors of a plain autocorrelation maximum).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def estimate_f0(waveform: torch.Tensor, sample_rate: int, hop: int, window: int = 512,
                f0_min: float = 60.0, f0_max: float = 1000.0, threshold: float = 0.15,
                silence: float = 1e-3, relative_silence: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f0 (batch, frames), voiced (batch, frames) bool)`` of waveforms ``(batch, samples)``.

    ``frames = ceil(samples / hop)``; frame ``t`` reads the ``window + sample_rate / f0_min``
    samples that end with its hop (causal: the encoder reads it too, and chunked encoding stays
    equal to whole; :func:`look_back`). A frame is voiced when its window is louder than
    ``silence`` (RMS) and than ``relative_silence`` times the clip's loudest window (0: no
    clip-wide criterion), and YIN finds a dip under ``threshold``; unvoiced frames still get the
    best lag's frequency (the loss masks them)."""
    if waveform.ndim != 2:
        raise ValueError(f"waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
    if not 0 < f0_min < f0_max < sample_rate / 2:
        raise ValueError(f"need 0 < f0_min < f0_max < sample_rate / 2, got {f0_min}, {f0_max} at {sample_rate} Hz")
    waveform = waveform.detach().float()
    frames = -(-waveform.shape[-1] // hop)
    max_lag = int(math.ceil(sample_rate / f0_min))
    min_lag = max(2, int(math.floor(sample_rate / f0_max)))
    span = window + max_lag
    padded = F.pad(waveform, (span - hop, frames * hop - waveform.shape[-1]))
    segments = padded.unfold(-1, span, hop)  # (batch, frames, span): frame t ends at sample (t + 1) * hop

    size = -(-(span + window) // 256) * 256  # linear, not circular, correlation up to max_lag
    head = torch.fft.rfft(segments[..., :window], n=size)
    whole = torch.fft.rfft(segments, n=size)
    correlation = torch.fft.irfft(head.conj() * whole, n=size)[..., : max_lag + 1]  # sum_j x_j x_{j+lag}
    energy = F.pad(segments.square().cumsum(-1), (1, 0))
    shifted_energy = energy[..., window : window + max_lag + 1] - energy[..., : max_lag + 1]
    difference = (energy[..., window : window + 1] + shifted_energy - 2 * correlation).clamp_min(0)
    lags = torch.arange(max_lag + 1, device=waveform.device, dtype=difference.dtype)
    running_mean = difference[..., 1:].cumsum(-1) / lags[1:]
    normalised = torch.ones_like(difference)
    normalised[..., 1:] = difference[..., 1:] / running_mean.clamp_min(1e-12)

    search = normalised[..., min_lag : max_lag]
    below = search < threshold
    # first lag under the threshold that is also a local minimum (the bottom of the first dip)
    bottom = below & (search <= torch.cat([search[..., 1:], search[..., -1:]], -1))
    found = bottom.any(-1)
    first = bottom.float().argmax(-1)
    best = torch.where(found, first, search.argmin(-1)) + min_lag
    best = best.clamp(min_lag, max_lag - 1)

    left = normalised.gather(-1, (best - 1)[..., None])[..., 0]
    centre = normalised.gather(-1, best[..., None])[..., 0]
    right = normalised.gather(-1, (best + 1)[..., None])[..., 0]
    curvature = left - 2 * centre + right
    offset = torch.where(curvature > 0, 0.5 * (left - right) / curvature.clamp_min(1e-12), torch.zeros_like(curvature))
    f0 = sample_rate / (best.to(offset.dtype) + offset.clamp(-1, 1))

    loudness = (energy[..., window] / window).sqrt()
    loud = (loudness > silence) & (loudness > relative_silence * loudness.amax(-1, keepdim=True))
    return f0, found & loud


def look_back(sample_rate: int, hop: int, window: int = 512, f0_min: float = 60.0) -> int:
    """Samples before a frame's own hop that :func:`estimate_f0` reads for it."""
    return window + int(math.ceil(sample_rate / f0_min)) - hop
