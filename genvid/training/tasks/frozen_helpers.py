"""The frozen networks the generators' tasks share: video tokenizer, text encoder, audio codec."""

from __future__ import annotations

from pathlib import Path

from genvid.config import ConfigError


def load_video_tokenizer(path: str | None, config: dict | None):
    """A frozen VideoTokenizer from a saved folder (``task_options.tokenizer``) or, for tests and
    smoke runs, a random-init one from constructor arguments (``task_options.tokenizer_config``)."""
    from tokenizer import VideoTokenizer

    if path is not None:
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"task_options.tokenizer: no saved VideoTokenizer at {folder} (expected config.json)")
        tokenizer = VideoTokenizer.from_pretrained(folder)
    else:
        tokenizer = VideoTokenizer(**config)
    return tokenizer.eval().requires_grad_(False)


def load_text_encoder(name: str, max_length: int):
    from genvid.text import TextEncoder

    return TextEncoder(name, max_length=max_length).eval().requires_grad_(False)


def load_checked_audio_codec(options, data_config):
    """The task's frozen audio codec, checked against the data's sample rate."""
    from genvid.training.tasks.lm import load_audio_codec

    codec = load_audio_codec(options.audio_codec, options.audio_codec_config)
    rate = getattr(data_config, "audio_sample_rate", None) if data_config is not None else None
    if rate and rate != codec.config.sample_rate:
        raise ConfigError(f"data.audio_sample_rate={rate} but the audio codec works at {codec.config.sample_rate} Hz")
    return codec
