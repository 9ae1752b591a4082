"""Training task for the autoregressive video LM: next-token prediction over a task mixture.

Each step tokenizes the batch with the frozen discrete tokenizer, draws one task for the batch
from ``task_weights`` (t2v, i2v, continue, inpaint, outpaint, uncond), lays the sequence out as
in :mod:`genvid.models.sequence` and computes cross-entropy on the target tokens and ``<eos>``
only (the prefix is conditioning). With an audio codec (``audio_codec`` / ``audio_codec_config``)
and data that carries sound, the mixture may also hold ``v2a`` (video tokens in the prefix, the
soundtrack's codec codes as target) and ``a2v`` (codes in the prefix, video as target); their
codes share the one vocabulary (``model.num_audio_codebooks`` first codec levels, interleaved frame
by frame). Audio tasks are text-free by default (``audio_tasks_use_text``), so the sound has to
come from the picture and the picture from the sound. One task per batch keeps every row on the same layout, so
there is no padding; over steps the mixture follows the weights. Text is dropped per sample with
probability ``text_dropout`` (its positions masked out of attention), which teaches the
text-free stream classifier-free guidance samples with; the unconditional task drops all text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genvid.config import ConfigError, build_model
from genvid.models.lm import VideoLanguageModel
from genvid.models.sequence import AUDIO_TASKS, VIDEO_TASKS, Vocabulary, build_sequence, task_example
from genvid.training.frozen_cache import EncodingCache, content_keys
from genvid.training.initial_weights import find_weights, load_matching_weights
from genvid.training.task import TrainingTask
from genvid.training.tasks.frozen_helpers import (
    encode_soundtracks,
    load_checked_audio_codec,
    load_text_encoder,
    load_video_tokenizer,
)

ALL_TASKS = VIDEO_TASKS + AUDIO_TASKS
DEFAULT_TASK_WEIGHTS = {"t2v": 0.4, "i2v": 0.15, "continue": 0.15, "inpaint": 0.1, "outpaint": 0.1, "uncond": 0.1}


@dataclass
class LanguageModelOptions:
    #: folder of a saved discrete VideoTokenizer (save_pretrained); frozen during training
    tokenizer: str | None = None
    #: constructor arguments of a random-init VideoTokenizer instead (for tests and smoke runs)
    tokenizer_config: dict | None = None
    #: genvid.text.TextEncoder model (default MiniLM, shipped offline) and its token limit
    text_encoder: str = "all-MiniLM-L6-v2"
    text_max_length: int = 32
    text_dropout: float = 0.1
    #: captions whose text-encoder states are kept (least recently used dropped first)
    text_cache_size: int = 4096
    #: clips whose token ids are kept (by content) so repeated clips skip the frozen tokenizer; 0 = off
    token_cache_size: int = 20000
    #: relative weights of the tasks in the mixture (missing tasks get weight 0)
    task_weights: dict = field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    label_smoothing: float = 0.0
    gradient_checkpointing: bool = False
    preview_prompts: list = field(default_factory=list)
    preview_guidance_scale: float = 3.0
    #: the exported pipeline's default guidance_scale (kept in its model_index.json)
    default_guidance_scale: float = 3.0
    #: a saved pipeline folder (or its transformer/ folder) whose transformer weights start this
    #: run, with a fresh optimizer and schedule: a fine-tune, or a recipe's later stage. Its
    #: architecture must match the ``model:`` section
    initial_weights: str | None = None
    preview_temperature: float = 1.0
    preview_top_k: int | None = None
    #: folder of a saved tokenizer.AudioCodec (frozen), for the v2a / a2v tasks
    audio_codec: str | None = None
    #: constructor arguments of a random-init AudioCodec instead (for tests and smoke runs)
    audio_codec_config: dict | None = None
    #: keep the caption in v2a / a2v sequences (default: text dropped, sound from picture alone)
    audio_tasks_use_text: bool = False


class LanguageModelTask(TrainingTask):
    options_class = LanguageModelOptions
    model_class = VideoLanguageModel

    def __init__(self, model_config: dict[str, Any], options: LanguageModelOptions | None, data_config: Any):
        options = options or LanguageModelOptions()
        super().__init__(dict(model_config or {}), options, data_config)
        if (options.tokenizer is None) == (options.tokenizer_config is None):
            raise ConfigError("task_options: give exactly one of 'tokenizer' (a saved folder) or 'tokenizer_config'")
        if not 0 <= options.text_dropout <= 1:
            raise ConfigError(f"task_options.text_dropout must be in [0, 1], got {options.text_dropout}")
        unknown = [name for name in options.task_weights if name not in ALL_TASKS]
        if unknown:
            raise ConfigError(
                f"task_options.task_weights: unknown task {unknown[0]!r}; tasks are {', '.join(ALL_TASKS)}"
            )
        if options.audio_codec is not None and options.audio_codec_config is not None:
            raise ConfigError("task_options: give at most one of 'audio_codec' (a saved folder) or 'audio_codec_config'")
        weights = [float(options.task_weights.get(name, 0.0)) for name in ALL_TASKS]
        if any(weight < 0 for weight in weights) or sum(weights) <= 0:
            raise ConfigError("task_options.task_weights must be >= 0 with a positive sum")
        self.has_audio_codec = options.audio_codec is not None or options.audio_codec_config is not None
        audio_tasks = [name for name, weight in zip(ALL_TASKS, weights) if weight > 0 and name in AUDIO_TASKS]
        if audio_tasks and not self.has_audio_codec:
            raise ConfigError(
                f"task_options.task_weights has {audio_tasks[0]!r}: audio tasks need task_options.audio_codec "
                "(a saved AudioCodec folder) or audio_codec_config"
            )
        if audio_tasks and data_config is not None and not getattr(data_config, "audio_sample_rate", None):
            raise ConfigError(f"task {audio_tasks[0]!r} needs clips with sound: set data.audio_sample_rate")
        self.task_weights = torch.tensor(weights)
        self.audio_codec = None
        self.video_tokenizer = None
        self.text_encoder = None
        self.device = torch.device("cpu")
        self._text_cache = EncodingCache(options.text_cache_size)
        self._token_cache = EncodingCache(options.token_cache_size)
        self._last_sequence_length = 0
        self._model = None

    # ------------------------------------------------------------------ helpers
    def _load_helpers(self) -> None:
        if self.video_tokenizer is not None:
            return
        options = self.options
        tokenizer = load_video_tokenizer(options.tokenizer, options.tokenizer_config)
        if not tokenizer.is_discrete:
            raise ConfigError("the LM needs a discrete tokenizer (bottleneck fsq or lfq), got a gaussian one")
        self.video_tokenizer = tokenizer
        self.text_encoder = load_text_encoder(options.text_encoder, options.text_max_length)
        if self.has_audio_codec:
            self.audio_codec = load_checked_audio_codec(options, self.data_config)

    def _resolved_model_config(self) -> dict[str, Any]:
        """The ``model:`` section with codebook and text widths filled from the helpers (when left
        out) and checked against them (when given)."""
        self._load_helpers()
        config = dict(self.model_config)
        actual = {"codebook_size": self.video_tokenizer.codebook_size, "text_hidden_size": self.text_encoder.hidden_size}
        for key, value in actual.items():
            config.setdefault(key, value)
            if config[key] != value:
                raise ConfigError(f"model.{key}={config[key]} but the {'tokenizer' if key == 'codebook_size' else 'text encoder'} has {value}")
        if self.audio_codec is not None:
            codec = self.audio_codec
            config.setdefault("num_audio_codebooks", codec.num_codebooks)
            config.setdefault("audio_codebook_size", codec.codebook_size)
            if not 1 <= config["num_audio_codebooks"] <= codec.num_codebooks:
                raise ConfigError(
                    f"model.num_audio_codebooks={config['num_audio_codebooks']} but the audio codec has "
                    f"{codec.num_codebooks} codebooks (the LM may use its first 1..{codec.num_codebooks})"
                )
            if config["audio_codebook_size"] != codec.codebook_size:
                raise ConfigError(
                    f"model.audio_codebook_size={config['audio_codebook_size']} but the audio codec has {codec.codebook_size} codes per codebook"
                )
        return config

    def vocabulary(self) -> Vocabulary:
        config = self._resolved_model_config()
        return Vocabulary(
            config["codebook_size"],
            config.get("num_special_tokens", 32),
            config.get("num_audio_codebooks", 0),
            config.get("audio_codebook_size", 0),
        )

    def _audio_tokens(self) -> int:
        """Audio ids of one clip: codec frames of ``num_frames`` video frames times the LM's codebooks."""
        if self.audio_codec is None:
            return 0
        levels = self._resolved_model_config()["num_audio_codebooks"]
        return self.audio_codec.frames_for_video(self.data_config.num_frames, self.data_config.fps) * levels

    def _grid(self) -> tuple[int, int, int]:
        data = self.data_config
        return tuple(self.video_tokenizer.latent_shape(data.num_frames, data.height, data.width))

    def _longest_sequence(self, model: VideoLanguageModel) -> int:
        frames, height, width = self._grid()
        tokens = frames * height * width
        active = [name for name, weight in zip(ALL_TASKS, self.task_weights.tolist()) if weight > 0]
        condition = tokens if any(name in ("inpaint", "outpaint") for name in active) else (frames - 1) * height * width
        longest = condition + tokens
        if any(name in AUDIO_TASKS for name in active):
            longest = max(longest, tokens + self._audio_tokens())
        return 6 + self.options.text_max_length + longest

    def build_model(self) -> nn.Module:
        model = build_model(VideoLanguageModel, self._resolved_model_config(), "model")
        if self.data_config is not None:
            needed = self._longest_sequence(model)
            if needed > model.config.max_sequence_length:
                raise ConfigError(
                    f"model.max_sequence_length={model.config.max_sequence_length} is too short for these videos: "
                    f"the longest task sequence needs {needed} positions"
                )
        if self.options.initial_weights:
            load_matching_weights(model, find_weights(self.options.initial_weights, "transformer"), self.options.initial_weights)
        if self.options.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        self._model = model
        return model

    def setup(self, device: torch.device) -> None:
        self._load_helpers()
        self.device = torch.device(device)
        self.video_tokenizer.to(self.device)
        self.text_encoder.to(self.device)
        if self.audio_codec is not None:
            self.audio_codec.to(self.device)
        self._text_cache.clear()
        self._token_cache.clear()

    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (batch, text_max_length, dim) and mask, cached per caption string (the
        encoder is frozen, and a dataset repeats its captions every epoch)."""
        from genvid.pipelines.ar import pad_text

        def compute(positions):
            hidden, mask = self.text_encoder.encode([captions[i] for i in positions], device=self.device)
            hidden, mask = pad_text(hidden, mask, self.options.text_max_length)
            # the mask rides along as a last channel so one cache entry holds both
            return list(torch.cat([hidden, mask[..., None].to(hidden.dtype)], dim=-1))

        rows = torch.stack(self._text_cache.lookup(captions, compute)).to(self.device)
        return rows[..., :-1], rows[..., -1].bool()

    def tokenize(self, video: torch.Tensor) -> torch.Tensor:
        """Vocabulary ids ``(batch, t, h, w)`` of a batch; cached by clip content
        (task_options.token_cache_size): the frozen tokenizer costs more than an LM step on a CPU."""
        tokenizer = self.video_tokenizer

        def compute(positions):
            with torch.no_grad():
                return list(tokenizer.tokenize(video[positions].to(self.device, tokenizer.dtype)).long())

        codes = torch.stack(self._token_cache.lookup(content_keys(video), compute)).to(self.device)
        return codes + self._vocabulary_offset()

    def encode_audio(self, audio, num_frames: int) -> torch.Tensor:
        """Soundtracks ``(batch, samples)`` -> vocabulary ids ``(batch, codec frames * levels)`` for
        clips of ``num_frames`` video frames (cut or zero-padded to exactly their duration)."""
        vocabulary = self.vocabulary()
        fps = self.data_config.fps if self.data_config is not None else None
        codes = encode_soundtracks(self.audio_codec, audio, num_frames, fps, vocabulary.num_audio_codebooks, self.device)
        return vocabulary.audio_to_ids(codes)

    def _vocabulary_offset(self) -> int:
        return int(self.model_config.get("num_special_tokens", 32))

    # ------------------------------------------------------------------ the step
    def training_step(self, model, batch, step, generator):
        options = self.options
        grid = self.tokenize(batch["video"])
        batch_size = grid.shape[0]
        generator_device = generator.device if generator is not None else "cpu"

        task_index = int(torch.multinomial(self.task_weights.to(generator_device), 1, generator=generator).item())
        task = ALL_TASKS[task_index]
        if task in ("i2v", "continue") and grid.shape[1] < 2:
            task = "t2v"  # single-frame data (images): nothing to continue
        audio_ids = None
        if task in AUDIO_TASKS:
            if "audio" not in batch:
                raise ConfigError(f"task {task!r} needs clips with sound: set data.audio_sample_rate")
            audio_ids = self.encode_audio(batch["audio"], batch["video"].shape[2])
        example = task_example(task, grid, generator, audio_ids=audio_ids)

        drop = torch.rand(batch_size, generator=generator, device=generator_device) < options.text_dropout
        if task == "uncond" or (task in AUDIO_TASKS and not options.audio_tasks_use_text):
            drop = torch.ones_like(drop)
        text, text_mask = self.encode_text(list(batch["caption"]))
        # dropped text keeps its positions (masked out of attention): every task has the same layout,
        # and the text projection stays in every step's graph (DDP needs all parameters used)
        text_mask = text_mask & ~drop.to(self.device)[:, None]
        sequence = build_sequence(
            task,
            batch_size,
            text.shape[1],
            example.condition_ids,
            example.target_ids,
            condition_audio_ids=example.condition_audio_ids,
            target_kind=example.target_kind,
            device=self.device,
        )
        self._last_sequence_length = sequence.input_ids.shape[1]
        targets = sequence.target_ids
        # logits at prefix_length - 1 (<bov>) ... second to last predict the target tokens and <eos>
        logits = model(sequence.input_ids, text, text_mask, sequence.prefix_length, num_logits=targets.shape[1] + 1)
        logits = logits[:, :-1].float()
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), label_smoothing=options.label_smoothing)
        accuracy = (logits.argmax(-1) == targets).float().mean()
        logs = {"task": float(task_index), "token_accuracy": float(accuracy), "text_dropped": float(drop.float().mean())}
        return loss, logs

    def tokens_in_batch(self, batch) -> int:
        return len(batch["video"]) * self._last_sequence_length

    def flops_per_sample(self) -> float:
        """Training FLOPs of one sample at the last step's sequence length (forward + backward = 3x)."""
        if self._model is None or not self._last_sequence_length:
            return 0.0
        return 3 * self._model.forward_flops(self._last_sequence_length)

    # ------------------------------------------------------------------ outputs
    def pipeline(self, model: nn.Module):
        from genvid.pipelines.ar import GenVidARPipeline

        self._load_helpers()
        model = getattr(model, "module", model)
        return GenVidARPipeline(
            video_tokenizer=self.video_tokenizer, text_encoder=self.text_encoder, transformer=model, audio_codec=self.audio_codec,
            default_guidance_scale=self.options.default_guidance_scale,
        )

    def _preview_prompts(self) -> list[str]:
        if self.options.preview_prompts:
            return list(self.options.preview_prompts)
        from genvid.data.synthetic import caption_for

        return [caption_for("red", "circle", "right"), caption_for("blue", "square", "down")]

    def preview(self, model, step, output_dir, generator):
        from genvid.data import write_contact_sheet, write_video

        data = self.data_config
        pipeline = self.pipeline(model)
        pipeline.set_progress_bar_config(disable=True)
        was_training = model.training
        model.eval()
        try:
            videos = pipeline(
                self._preview_prompts(),
                num_frames=data.num_frames,
                height=data.height,
                width=data.width,
                guidance_scale=self.options.preview_guidance_scale,
                temperature=self.options.preview_temperature,
                top_k=self.options.preview_top_k,
                generator=generator,
                output_type="pt",
            ).frames  # (batch, frames, 3, height, width) in [0, 1]
        finally:
            model.train(was_training)
        videos = videos.permute(0, 2, 1, 3, 4) * 2 - 1
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        for index, video in enumerate(videos):
            write_video(output_dir / f"step{step:07d}_sample{index}.mp4", video)
        write_contact_sheet(output_dir / f"step{step:07d}.png", list(videos))

    def export(self, model, output_dir):
        self.pipeline(model).save_pretrained(Path(output_dir), safe_serialization=True)

