"""Read the synthetic set's attributes back out of a soundtrack (see genvid.data.synthetic.render_audio).

The synthetic tone names colour by pitch (a C-major scale from C4), shape by waveform (circle: sine,
triangle: triangle wave with weak odd harmonics, square: a soft square wave with strong ones) and
motion by the change over time (up / down: the pitch glides a fifth up / down; left / right: the
loudness fades out / in). This analyzer measures, per STFT frame, the fundamental (the strongest
peak between ``PITCH_BAND`` Hz), the third harmonic relative to it, and the loudness, then decides:

* colour: the scale note nearest (in log frequency) the fundamental of the first tenth of the clip,
  where a glide has not moved yet;
* motion: a pitch change of more than a quarter of a fifth -> up / down; otherwise loudness falling
  (left) or rising (right) between the first and last fifths;
* shape: the median third-harmonic ratio: below ``SINE_MAX`` a circle, below ``TRIANGLE_MAX`` a
  triangle, else a square.

Used to score video-to-audio: does generated sound tell the clip's colour, shape and motion?
``python -m genvid.eval.audio_analyzer`` checks it on ground-truth tones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from genvid.data.synthetic import _COLOR_PITCH_HZ, COLORS, MOTIONS, SHAPES

SINE_MAX = 0.06
TRIANGLE_MAX = 0.2
_GLIDE_OCTAVES = math.log2(1.5)
# Where the fundamental is looked for: the scale's lowest note gliding down a fifth ends at 174 Hz
# (red, 261.6 / 1.5) and its highest gliding up at 785 Hz (cyan). A band starting above 174 Hz
# found a falling red tone's third harmonic at the end instead, and read it as rising.
PITCH_BAND = (150.0, 900.0)


@dataclass
class AudioReading:
    color: str | None
    shape: str | None
    motion: str | None
    pitch_hz: float
    glide_octaves: float
    loudness_ratio: float
    harmonic_ratio: float


def _frames(waveform: np.ndarray, sample_rate: int, fft_size: int, hop: int):
    window = np.hanning(fft_size)
    starts = range(0, max(1, len(waveform) - fft_size + 1), hop)
    segments = np.stack([np.pad(waveform[start : start + fft_size], (0, max(0, fft_size - len(waveform[start:])))) for start in starts])
    spectrum = np.abs(np.fft.rfft(segments * window, axis=1))
    rms = np.sqrt((segments**2).mean(axis=1))
    frequencies = np.fft.rfftfreq(fft_size, 1 / sample_rate)
    return spectrum, rms, frequencies


def _peak(spectrum_row: np.ndarray, frequencies: np.ndarray, low: float, high: float) -> tuple[float, float]:
    band = (frequencies >= low) & (frequencies <= high)
    if not band.any():
        return 0.0, 0.0
    index = np.flatnonzero(band)[np.argmax(spectrum_row[band])]
    # parabolic interpolation of the peak on a log magnitude for sub-bin frequency
    if 0 < index < len(spectrum_row) - 1:
        left, centre, right = np.log(spectrum_row[index - 1 : index + 2] + 1e-12)
        denominator = left - 2 * centre + right
        offset = 0.5 * (left - right) / denominator if denominator < 0 else 0.0
    else:
        offset = 0.0
    step = frequencies[1] - frequencies[0]
    return float(frequencies[index] + offset * step), float(spectrum_row[index])


def analyze_audio(waveform, sample_rate: int = 16000) -> AudioReading:
    """Colour, shape and motion (None where the sound is too quiet to tell) of a mono waveform."""
    samples = torch.as_tensor(waveform).detach().float().cpu().numpy().reshape(-1)
    fft_size, hop = 2048, 512
    if len(samples) < fft_size:
        samples = np.pad(samples, (0, fft_size - len(samples)))
    spectrum, rms, frequencies = _frames(samples, sample_rate, fft_size, hop)
    if rms.max() < 1e-3:
        return AudioReading(None, None, None, 0.0, 0.0, 1.0, 0.0)
    # frames quieter than a tenth of the loudest carry fades, not pitch
    voiced = rms >= 0.1 * rms.max()
    pitches, ratios = np.zeros(len(rms)), np.zeros(len(rms))
    for index, row in enumerate(spectrum):
        pitch, amplitude = _peak(row, frequencies, *PITCH_BAND)
        pitches[index] = pitch
        _, third = _peak(row, frequencies, 3 * pitch * 0.97, 3 * pitch * 1.03)
        ratios[index] = third / max(amplitude, 1e-12)
    voiced_pitches = pitches[voiced]
    count = len(voiced_pitches)
    head = voiced_pitches[: max(1, count // 10)]
    tail = voiced_pitches[-max(1, count // 10) :]
    start_pitch, end_pitch = float(np.median(head)), float(np.median(tail))
    glide = math.log2(max(end_pitch, 1e-6) / max(start_pitch, 1e-6))

    names = list(COLORS)
    distances = [abs(math.log2(max(start_pitch, 1e-6) / _COLOR_PITCH_HZ[name])) for name in names]
    color = names[int(np.argmin(distances))]

    fifth = max(1, len(rms) // 5)
    loudness_ratio = float(rms[-fifth:].mean() / max(rms[:fifth].mean(), 1e-9))
    if glide > _GLIDE_OCTAVES / 4:
        motion = "up"
    elif glide < -_GLIDE_OCTAVES / 4:
        motion = "down"
    else:
        motion = "right" if loudness_ratio > 1 else "left"

    harmonic = float(np.median(ratios[voiced]))
    shape = "circle" if harmonic < SINE_MAX else "triangle" if harmonic < TRIANGLE_MAX else "square"
    return AudioReading(color, shape, motion, start_pitch, glide, loudness_ratio, harmonic)


def attribute_accuracy(waveforms, labels, sample_rate: int = 16000) -> dict[str, float]:
    """Fractions of ``waveforms`` whose colour, shape, motion (and all three) match ``labels``
    (a list of ``(color, shape, motion)``)."""
    hits = {"color": 0, "shape": 0, "motion": 0, "all": 0}
    for waveform, (color, shape, motion) in zip(waveforms, labels):
        reading = analyze_audio(waveform, sample_rate)
        matches = (reading.color == color, reading.shape == shape, reading.motion == motion)
        for name, match in zip(("color", "shape", "motion"), matches):
            hits[name] += int(match)
        hits["all"] += int(all(matches))
    total = max(1, len(labels))
    return {name: count / total for name, count in hits.items()}


def main() -> None:
    """Check the analyzer on ground-truth tones: every combination, a few seeds."""
    import itertools
    import json

    from genvid.data.synthetic import render_audio

    labels = list(itertools.product(COLORS, SHAPES, MOTIONS)) * 3
    waveforms = [render_audio(*label, num_frames=17, seed=index) for index, label in enumerate(labels)]
    print(json.dumps({"ground_truth": attribute_accuracy(waveforms, labels), "clips": len(labels)}))


if __name__ == "__main__":
    main()
