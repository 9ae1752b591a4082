"""Training task for the autoregressive video LM: next-token prediction over a task mixture.

Each step tokenizes the batch with the frozen discrete tokenizer, draws one task for the batch
from ``task_weights`` (t2v, i2v, continue, inpaint, outpaint, uncond), lays the sequence out as
in :mod:`genvid.models.sequence` and computes cross-entropy on the target tokens and ``<eos>``
only (the prefix is conditioning). One task per batch keeps every row on the same layout, so
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
from genvid.models.sequence import VIDEO_TASKS, build_sequence, task_example
from genvid.training.task import TrainingTask

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
    #: relative weights of the tasks in the mixture (missing tasks get weight 0)
    task_weights: dict = field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    label_smoothing: float = 0.0
    gradient_checkpointing: bool = False
    preview_prompts: list = field(default_factory=list)
    preview_guidance_scale: float = 3.0
    preview_temperature: float = 1.0
    preview_top_k: int | None = None


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
        unknown = [name for name in options.task_weights if name not in VIDEO_TASKS]
        if unknown:
            raise ConfigError(
                f"task_options.task_weights: unknown task {unknown[0]!r}; video tasks are {', '.join(VIDEO_TASKS)}"
            )
        weights = [float(options.task_weights.get(name, 0.0)) for name in VIDEO_TASKS]
        if any(weight < 0 for weight in weights) or sum(weights) <= 0:
            raise ConfigError("task_options.task_weights must be >= 0 with a positive sum")
        self.task_weights = torch.tensor(weights)
        self.video_tokenizer = None
        self.text_encoder = None
        self.device = torch.device("cpu")
        self._text_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._last_sequence_length = 0
        self._model = None

    # ------------------------------------------------------------------ helpers
    def _load_helpers(self) -> None:
        if self.video_tokenizer is not None:
            return
        from tokenizer import VideoTokenizer

        from genvid.text import TextEncoder

        options = self.options
        if options.tokenizer is not None:
            path = Path(options.tokenizer)
            if not (path / "config.json").is_file():
                raise ConfigError(f"task_options.tokenizer: no saved VideoTokenizer at {path} (expected config.json)")
            tokenizer = VideoTokenizer.from_pretrained(path)
        else:
            tokenizer = VideoTokenizer(**options.tokenizer_config)
        if not tokenizer.is_discrete:
            raise ConfigError("the LM needs a discrete tokenizer (bottleneck fsq or lfq), got a gaussian one")
        self.video_tokenizer = tokenizer.eval().requires_grad_(False)
        self.text_encoder = TextEncoder(options.text_encoder, max_length=options.text_max_length).eval()
        self.text_encoder.requires_grad_(False)

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
        return config

    def _grid(self) -> tuple[int, int, int]:
        data = self.data_config
        return tuple(self.video_tokenizer.latent_shape(data.num_frames, data.height, data.width))

    def _longest_sequence(self, model: VideoLanguageModel) -> int:
        frames, height, width = self._grid()
        tokens = frames * height * width
        active = [name for name, weight in zip(VIDEO_TASKS, self.task_weights.tolist()) if weight > 0]
        condition = tokens if any(name in ("inpaint", "outpaint") for name in active) else (frames - 1) * height * width
        return 6 + self.options.text_max_length + condition + tokens

    def build_model(self) -> nn.Module:
        model = build_model(VideoLanguageModel, self._resolved_model_config(), "model")
        if self.data_config is not None:
            needed = self._longest_sequence(model)
            if needed > model.config.max_sequence_length:
                raise ConfigError(
                    f"model.max_sequence_length={model.config.max_sequence_length} is too short for these videos: "
                    f"the longest task sequence needs {needed} positions"
                )
        if self.options.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        self._model = model
        return model

    def setup(self, device: torch.device) -> None:
        self._load_helpers()
        self.device = torch.device(device)
        self.video_tokenizer.to(self.device)
        self.text_encoder.to(self.device)
        self._text_cache.clear()

    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (batch, text_max_length, dim) and mask, cached per caption string (the
        encoder is frozen, and a dataset repeats its captions every epoch)."""
        from genvid.pipelines.ar import pad_text

        missing = sorted({caption for caption in captions if caption not in self._text_cache})
        if missing:
            hidden, mask = self.text_encoder.encode(missing, device=self.device)
            hidden, mask = pad_text(hidden, mask, self.options.text_max_length)
            for caption, row, row_mask in zip(missing, hidden, mask):
                self._text_cache[caption] = (row.detach(), row_mask)
        rows = [self._text_cache[caption] for caption in captions]
        return torch.stack([row for row, _ in rows]), torch.stack([mask for _, mask in rows])

    def tokenize(self, video: torch.Tensor) -> torch.Tensor:
        tokenizer = self.video_tokenizer
        with torch.no_grad():
            codes = tokenizer.tokenize(video.to(self.device, tokenizer.dtype))
        return codes.long() + self._vocabulary_offset()

    def _vocabulary_offset(self) -> int:
        return int(self.model_config.get("num_special_tokens", 32))

    # ------------------------------------------------------------------ the step
    def training_step(self, model, batch, step, generator):
        options = self.options
        grid = self.tokenize(batch["video"])
        batch_size = grid.shape[0]
        generator_device = generator.device if generator is not None else "cpu"

        task_index = int(torch.multinomial(self.task_weights.to(generator_device), 1, generator=generator).item())
        task = VIDEO_TASKS[task_index]
        if task in ("i2v", "continue") and grid.shape[1] < 2:
            task = "t2v"  # single-frame data (images): nothing to continue
        example = task_example(task, grid, generator)

        drop = torch.rand(batch_size, generator=generator, device=generator_device) < options.text_dropout
        if task == "uncond":
            drop = torch.ones_like(drop)
        text, text_mask = self.encode_text(list(batch["caption"]))
        # dropped text keeps its positions (masked out of attention): every task has the same layout,
        # and the text projection stays in every step's graph (DDP needs all parameters used)
        text_mask = text_mask & ~drop.to(self.device)[:, None]
        sequence = build_sequence(
            task, batch_size, text.shape[1], example.condition_ids, example.target_ids, device=self.device
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
        return GenVidARPipeline(video_tokenizer=self.video_tokenizer, text_encoder=self.text_encoder, transformer=model)

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
