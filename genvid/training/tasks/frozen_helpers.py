"""The frozen networks the generators' tasks share: video tokenizer, text encoder, audio codec."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from genvid.config import ConfigError


def _load_frozen(model_class, path: str | None, config: dict | None, option: str, hint: str = ""):
    """A frozen ``model_class`` from a saved folder (``task_options.<option>``) or, for tests and
    smoke runs, a random-init one from constructor arguments (``task_options.<option>_config``)."""
    if path is not None:
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"task_options.{option}: no saved {model_class.__name__} at {folder} (expected config.json){hint}"
            )
        model = model_class.from_pretrained(folder)
    else:
        model = model_class(**dict(config))
    return model.eval().requires_grad_(False)


def load_video_tokenizer(path: str | None, config: dict | None):
    """``path``: a saved folder or ``pretrained:<kind>``, a tokenizer shipped inside genvid."""
    from tokenizer import VideoTokenizer

    from genvid.pretrained import KINDS, REFERENCE_PREFIX, resolve_tokenizer

    if path is not None and str(path).startswith(REFERENCE_PREFIX):
        kind = str(path)[len(REFERENCE_PREFIX):]
        if kind not in KINDS:
            shipped = ", ".join(REFERENCE_PREFIX + name for name in KINDS)
            raise ConfigError(f"task_options.tokenizer: no shipped tokenizer {path!r}; shipped: {shipped}")
        path = str(resolve_tokenizer(path))
    diffusers_vae = _diffusers_vae(path)
    if diffusers_vae is not None:
        return diffusers_vae.eval().requires_grad_(False)
    shipped = ", ".join(REFERENCE_PREFIX + kind for kind in KINDS)
    return _load_frozen(VideoTokenizer, path, config, "tokenizer", f"; or use a shipped one: {shipped}")


def _diffusers_vae(path: str | None):
    """A saved diffusers video VAE folder (Wan, CogVideoX, LTX-Video), or a saved wrapper of one,
    as a continuous tokenizer; None for anything else."""
    from tokenizer.diffusers_vae import DiffusersVideoAutoencoder, vae_class_name

    config = Path(path) / "config.json" if path is not None else None
    if config is None or not config.is_file():
        return None
    if vae_class_name(path) is not None:
        return DiffusersVideoAutoencoder.from_vae_folder(path)
    if json.loads(config.read_text()).get("_class_name") == DiffusersVideoAutoencoder.__name__:
        return DiffusersVideoAutoencoder.from_pretrained(path)
    return None


def load_audio_codec(path: str | None, config: dict | None):
    from tokenizer import AudioCodec

    return _load_frozen(AudioCodec, path, config, "audio_codec")


def load_text_encoder(name: str, max_length: int):
    from genvid.text import TextEncoder

    return TextEncoder(name, max_length=max_length).eval().requires_grad_(False)


def load_checked_audio_codec(options, data_config):
    """The task's frozen audio codec, checked against the data's sample rate."""
    codec = load_audio_codec(options.audio_codec, options.audio_codec_config)
    rate = getattr(data_config, "audio_sample_rate", None) if data_config is not None else None
    if rate and rate != codec.config.sample_rate:
        raise ConfigError(f"data.audio_sample_rate={rate} but the audio codec works at {codec.config.sample_rate} Hz")
    return codec


def encode_soundtracks(codec, audio, num_frames: int, fps: float | None, num_codebooks: int, device) -> torch.Tensor:
    """Soundtracks (a ``(batch, samples)`` tensor or a list of ``(samples,)``, zero-padded to the
    longest) -> codec codes ``(batch, num_codebooks, codec frames)`` for clips of ``num_frames``
    video frames (each cut or zero-padded to exactly that duration)."""
    if isinstance(audio, list):
        length = max(len(row) for row in audio)
        audio = torch.stack([F.pad(row, (0, length - len(row))) for row in audio])
    waveform = codec.fit_to_frames(audio.float().to(device), codec.frames_for_video(num_frames, fps))
    with torch.no_grad():
        return codec.encode(waveform.to(codec.dtype), num_codebooks=num_codebooks)
