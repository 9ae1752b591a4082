"""Audio in and out: mono waveforms as float tensors ``(samples,)`` in [-1, 1].

Decoding goes through the ffmpeg binary that imageio-ffmpeg bundles, so any container it knows
(wav, mp3, flac, m4a, or the audio track of an mp4) reads the same way, resampled to the asked rate.
WAV files are written with the standard library (16-bit PCM).
"""

from __future__ import annotations

import logging
import subprocess
import wave
from pathlib import Path

import numpy as np
import torch

from genvid.errors import GenvidError

logger = logging.getLogger("genvid.data")

#: peak amplitude under which a decoded track counts as silent (about -80 dBFS)
SILENCE_PEAK = 1e-4


def read_audio(
    path: str | Path, sample_rate: int = 16000, start_seconds: float = 0.0, duration_seconds: float | None = None
) -> torch.Tensor:
    """Decode ``path`` to a mono float waveform ``(samples,)`` at ``sample_rate``.

    ``start_seconds`` / ``duration_seconds`` pick a segment; a file shorter than asked gives fewer
    samples (pad on your side if you need a fixed length). Stereo and multichannel tracks are
    down-mixed; a video file gives its (first) audio track. A file without an audio track is a
    one-line :class:`GenvidError`; a silent track is returned as is, with a logged warning.
    """
    import imageio_ffmpeg

    from genvid.data.video_io import check_media_file

    path = Path(path)
    check_media_file(path, "audio")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin"]
    if start_seconds > 0:
        command += ["-ss", f"{start_seconds:.6f}"]
    command += ["-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(int(sample_rate))]
    if duration_seconds is not None:
        command += ["-t", f"{duration_seconds:.6f}"]
    command += ["-f", "f32le", "-"]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        if any("matches no streams" in line for line in message):
            raise GenvidError(f"{path} has no audio track")
        reason = message[-1] if message else f"ffmpeg exit status {result.returncode}"
        raise GenvidError(f"cannot read audio from {path}: {reason}")
    samples = np.frombuffer(result.stdout, dtype="<f4").copy()
    if samples.size == 0 and start_seconds == 0:
        raise GenvidError(f"cannot read audio from {path}: no audio samples decoded")
    if samples.size and float(np.abs(samples).max()) < SILENCE_PEAK:
        logger.warning(f"the audio of {path} is silent (peak below {SILENCE_PEAK:g})")
    return torch.from_numpy(samples).clamp_(-1, 1)


def has_audio(path: str | Path) -> bool:
    """Whether ``path`` holds an audio track (False for a silent-film mp4, True for any wav)."""
    try:
        read_audio(path, 8000, duration_seconds=0.05)
    except GenvidError as error:
        if str(error).endswith("has no audio track"):
            return False
        raise
    return True


def as_waveform(audio, sample_rate: int = 16000) -> torch.Tensor:
    """What a pipeline's ``audio=`` accepts -> float ``(batch, samples)``: a path (wav, mp3, the
    sound of a video, ...; resampled to ``sample_rate``), a tensor or array ``(samples,)`` /
    ``(batch, samples)`` in [-1, 1] already at ``sample_rate``, or a list of either."""
    if isinstance(audio, (str, Path)):
        return read_audio(audio, sample_rate)[None]
    if isinstance(audio, (list, tuple)):
        rows = [as_waveform(item, sample_rate) for item in audio]
        length = min(row.shape[-1] for row in rows)
        return torch.cat([row[:, :length] for row in rows])
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(audio)
    if not isinstance(audio, torch.Tensor):
        raise GenvidError(f"audio must be a file path or a waveform tensor (samples,) in [-1, 1], got {type(audio).__name__}")
    audio = audio.detach().float()
    if audio.ndim == 3 and audio.shape[1] == 1:
        audio = audio[:, 0]
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise GenvidError(f"an audio waveform must be (samples,) or (batch, samples) mono, got shape {tuple(audio.shape)}")
    return audio.clamp(-1, 1)


def write_audio(path: str | Path, waveform, sample_rate: int = 16000) -> Path:
    """Write a mono waveform ((samples,) or (1, samples), float in [-1, 1]) as 16-bit PCM WAV."""
    path = Path(path)
    samples = torch.as_tensor(waveform).detach().float().cpu()
    if samples.ndim == 2 and samples.shape[0] == 1:
        samples = samples[0]
    if samples.ndim != 1:
        raise GenvidError(f"a waveform must be (samples,) or (1, samples), got shape {tuple(samples.shape)}")
    pcm = (samples.clamp(-1, 1).numpy() * 32767).round().astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(int(sample_rate))
        handle.writeframes(pcm.tobytes())
    return path
