"""What the two generator tasks (DiT, LM) share: frozen helpers, their checks and encoding caches,
previews and export.

A generator task trains a transformer on the frozen video tokenizer's latents or ids, conditioned
on a frozen text encoder's states (and, with an audio codec, on soundtracks). Subclasses give their
pipeline (:meth:`GeneratorTask.pipeline`), the sampling arguments of a preview
(:meth:`GeneratorTask.preview_arguments`), their own checks of the frozen helpers
(:meth:`GeneratorTask.check_helpers`) and the size of their clip cache
(:meth:`GeneratorTask.clip_cache_size`); the rest is here, written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genvid.config import ConfigError, check_fractions
from genvid.training.cached_inputs import CachedInputs, reads_cache
from genvid.training.frozen_cache import EncodingCache, content_keys
from genvid.training.initial_weights import find_weights, load_matching_weights
from genvid.training.task import TrainingTask
from genvid.training.tasks.frozen_helpers import (encode_soundtracks, load_checked_audio_codec, load_text_encoder,
                                                  load_video_tokenizer)


@dataclass
class GeneratorOptions:
    #: folder of a saved VideoTokenizer (save_pretrained), or a shipped one (``pretrained:gaussian``,
    #: ``pretrained:fsq``); frozen during training
    tokenizer: str | None = None
    #: constructor arguments of a random-init VideoTokenizer instead (for tests and smoke runs)
    tokenizer_config: dict | None = None
    #: genvid.text.TextEncoder model (default MiniLM, shipped offline) and its token limit
    text_encoder: str = "all-MiniLM-L6-v2"
    text_max_length: int = 32
    text_dropout: float = 0.1
    #: captions whose text-encoder states are kept (least recently used dropped first)
    text_cache_size: int = 4096
    preview_prompts: list = field(default_factory=list)
    preview_guidance_scale: float = 3.0
    #: the exported pipeline's default guidance_scale (kept in its model_index.json)
    default_guidance_scale: float = 3.0
    #: a saved pipeline folder (or its transformer/ folder) whose transformer weights start this
    #: run, with a fresh optimizer and schedule: a fine-tune, or a recipe's later stage. Its
    #: architecture must match the ``model:`` section
    initial_weights: str | None = None
    #: folder of a saved tokenizer.AudioCodec (frozen), for sound conditioning / sound tasks
    audio_codec: str | None = None
    #: constructor arguments of a random-init AudioCodec instead (for tests and smoke runs)
    audio_codec_config: dict | None = None


class GeneratorTask(TrainingTask):
    """Base of the DiT and LM tasks. ``self.video_tokenizer``, ``self.text_encoder`` and
    ``self.audio_codec`` (None without one) are loaded on first use, frozen."""

    def __init__(self, model_config: dict[str, Any], options: GeneratorOptions | None, data_config: Any):
        super().__init__(model_config, options, data_config)
        options = self.options
        if (options.tokenizer is None) == (options.tokenizer_config is None):
            raise ConfigError(
                "task_options: give exactly one of 'tokenizer' (a saved folder, or pretrained:gaussian / "
                "pretrained:fsq) or 'tokenizer_config'"
            )
        check_fractions(options, ("text_dropout",))
        if options.audio_codec is not None and options.audio_codec_config is not None:
            raise ConfigError("task_options: give at most one of 'audio_codec' (a saved folder) or 'audio_codec_config'")
        self.has_audio_codec = options.audio_codec is not None or options.audio_codec_config is not None
        self.video_tokenizer = None
        self.text_encoder = None
        self.audio_codec = None
        self.device = torch.device("cpu")
        self._text_cache = EncodingCache(options.text_cache_size)
        #: the frozen tokenizer's encoding of each clip (latents or token ids), kept by clip content
        self._clip_cache = EncodingCache(self.clip_cache_size())
        # data.source=cache: batches carry what the helpers compute, so they are never loaded to train
        self.cached = CachedInputs(data_config, options) if reads_cache(data_config) else None

    # ------------------------------------------------------------------ frozen helpers
    def _load_helpers(self) -> None:
        if self.video_tokenizer is not None:
            return
        options = self.options
        self.video_tokenizer = load_video_tokenizer(options.tokenizer, options.tokenizer_config)
        self.text_encoder = load_text_encoder(options.text_encoder, options.text_max_length)
        if self.has_audio_codec:
            self.audio_codec = load_checked_audio_codec(options, self.data_config)
        self.check_helpers()

    def check_helpers(self) -> None:
        """One-line ConfigErrors where the ``model:`` section does not fit the frozen helpers."""

    def fill_audio_sizes(self, config: dict[str, Any], model: str) -> None:
        """Fill ``config``'s audio codebook sizes from the codec (when left out) and check them."""
        codec = self.audio_codec
        config.setdefault("num_audio_codebooks", codec.num_codebooks)
        config.setdefault("audio_codebook_size", codec.codebook_size)
        if not 1 <= config["num_audio_codebooks"] <= codec.num_codebooks:
            raise ConfigError(
                f"model.num_audio_codebooks={config['num_audio_codebooks']} but the audio codec has "
                f"{codec.num_codebooks} codebooks (the {model} may use its first 1..{codec.num_codebooks})"
            )
        if config["audio_codebook_size"] != codec.codebook_size:
            raise ConfigError(
                f"model.audio_codebook_size={config['audio_codebook_size']} but the audio codec has "
                f"{codec.codebook_size} codes per codebook"
            )

    def load_initial_weights(self, model: nn.Module) -> nn.Module:
        if self.options.initial_weights:
            load_matching_weights(model, find_weights(self.options.initial_weights, "transformer"), self.options.initial_weights)
        return model

    def check_phased_data(self, option: str) -> None:
        """``task_options.<option>`` couples a clip's conditioning with its phase: refuse data without one."""
        if self.data_config is not None and not getattr(self.data_config, "phase_probability", 0):
            raise ConfigError(
                f"task_options.{option} needs clips with a phase: set data.phase_probability > 0 (synthetic data)"
            )

    def phased_clips(self, batch, option: str) -> torch.Tensor:
        """``(batch,)`` bool: the clips starting along their wrapping path (items' ``phase`` > 0)."""
        if "phase" not in batch:
            raise ConfigError(
                f"task_options.{option} needs the clips' phase in the batch: a synthetic data set with "
                "data.phase_probability > 0 (an encoded cache or a folder set has none)"
            )
        return torch.as_tensor([float(phase) for phase in batch["phase"]]) != 0

    def clip_cache_size(self) -> int:
        """How many clips' encodings the task keeps (its ``task_options`` say; 0 = none)."""
        raise NotImplementedError

    def caches(self) -> list[EncodingCache]:
        """The encoding caches to empty when the helpers move."""
        return [self._text_cache, self._clip_cache]

    def encode_clips(self, video: torch.Tensor, encode) -> torch.Tensor:
        """``encode(clips)`` (the frozen tokenizer's latents or ids) of each clip of ``video``,
        stacked on the task's device; clips seen before come from the cache, by content: on a CPU
        the frozen tokenizer costs more than a generator step."""
        tokenizer = self.video_tokenizer

        def compute(positions):
            with torch.no_grad():
                return list(encode(video[positions].to(self.device, tokenizer.dtype)))

        return torch.stack(self._clip_cache.lookup(content_keys(video), compute)).to(self.device)

    def soundtrack_codes(self, audio, num_frames: int, levels: int) -> torch.Tensor:
        """Soundtracks -> the frozen codec's first ``levels`` codes ``(batch, levels, codec frames)``
        for clips of ``num_frames`` video frames (cut or zero-padded to exactly their duration)."""
        fps = self.data_config.fps if self.data_config is not None else None
        return encode_soundtracks(self.audio_codec, audio, num_frames, fps, levels, self.device)

    def check_cached(self) -> None:
        """One-line ConfigErrors where the ``model:`` section does not fit what the cache holds."""

    def setup(self, device: torch.device) -> None:
        self.device = torch.device(device)
        if self.cached is not None:
            self.check_cached()
            return
        self._load_helpers()
        for helper in (self.video_tokenizer, self.text_encoder, self.audio_codec):
            if helper is not None:
                helper.to(self.device)
        for cache in self.caches():
            cache.clear()

    # ------------------------------------------------------------------ outputs
    def pipeline(self, model: nn.Module):
        """The task's diffusers pipeline around ``model`` and the frozen helpers."""
        raise NotImplementedError

    def preview_arguments(self) -> dict[str, Any]:
        """Sampling arguments of a preview besides prompts, size, guidance and generator."""
        return {}

    def preview_prompts(self) -> list[str]:
        if self.options.preview_prompts:
            return list(self.options.preview_prompts)
        from genvid.data.synthetic import caption_for

        return [caption_for("red", "circle", "right"), caption_for("blue", "square", "down")]

    def preview(self, model, step, output_dir, generator):
        """Sample the preview prompts in eval mode and write each as mp4 plus one contact sheet."""
        from genvid.data import write_contact_sheet, write_video
        from genvid.pipelines.common import frames_to_video

        data = self.data_config
        pipeline = self.pipeline(model)
        pipeline.set_progress_bar_config(disable=True)
        was_training = model.training
        model.eval()
        try:
            frames = pipeline(
                self.preview_prompts(),
                num_frames=data.num_frames,
                height=data.height,
                width=data.width,
                guidance_scale=self.options.preview_guidance_scale,
                generator=generator,
                output_type="pt",
                **self.preview_arguments(),
            ).frames
        finally:
            model.train(was_training)
        videos = frames_to_video(frames)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        for index, video in enumerate(videos):
            write_video(output_dir / f"step{step:07d}_sample{index}.mp4", video)
        write_contact_sheet(output_dir / f"step{step:07d}.png", list(videos))

    def export(self, model, output_dir):
        self.pipeline(model).save_pretrained(Path(output_dir), safe_serialization=True)
