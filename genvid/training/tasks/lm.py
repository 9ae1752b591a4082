"""Training task for the autoregressive video LM: next-token prediction over a task mixture.

Each step tokenizes the batch with the frozen discrete tokenizer, draws one task for the batch
from ``task_weights`` (the tasks of :mod:`genvid.models.ar_tasks`: t2v, i2v, continue, inpaint,
outpaint, uncond by default), takes its conditioning and target from the task's ``example``, lays
the sequence out as in :mod:`genvid.models.sequence` and computes cross-entropy on the target tokens and ``<eos>``
only (the prefix is conditioning). With an audio codec (``audio_codec`` / ``audio_codec_config``)
and data that carries sound, the mixture may also hold ``v2a`` (video tokens in the prefix, the
soundtrack's codec codes as target) and ``a2v`` (codes in the prefix, video as target); their
codes share the one vocabulary (``model.num_audio_codebooks`` first codec levels, interleaved frame
by frame). Audio tasks are text-free by default (``audio_tasks_use_text``), so the sound has to
come from the picture and the picture from the sound. One task per batch keeps every row on the same layout, so
there is no padding; over steps the mixture follows the weights. Text is dropped per sample with
probability ``text_dropout`` (its positions masked out of attention), which teaches the
text-free stream classifier-free guidance samples with; the unconditional task drops all text.
With ``phased_clips_continue_only`` a clip that starts along its wrapping path (a nonzero
``phase`` of the synthetic set) is learnt from in continuation batches only (the other tasks leave
it out of the loss): a long video's first window is text-to-video from the path's start, only its
continuations begin further along, so text-to-video is never taught to start anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genvid.config import ConfigError, build_model
from genvid.models.lm import VideoLanguageModel
from genvid.models.ar_tasks import TASKS
from genvid.models.sequence import Vocabulary, build_sequence, pad_text
from genvid.training.cached_inputs import data_latent_grids
from genvid.training.tasks.generator import GeneratorOptions, GeneratorTask

#: the mixture a config without ``task_weights`` trains: each task's share from the task table
DEFAULT_TASK_WEIGHTS = {name: task.default_weight for name, task in TASKS.items() if task.default_weight > 0}



@dataclass
class LanguageModelOptions(GeneratorOptions):
    #: clips whose token ids are kept (by content) so repeated clips skip the frozen tokenizer; 0 = off
    token_cache_size: int = 20000
    #: relative weights of the tasks of genvid.models.ar_tasks in the mixture (missing tasks: 0)
    task_weights: dict = field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    label_smoothing: float = 0.0
    preview_temperature: float = 1.0
    preview_top_k: int | None = None
    #: keep the caption in v2a / a2v sequences (default: text dropped, sound from picture alone)
    audio_tasks_use_text: bool = False
    #: clips with a nonzero phase (data items' ``phase``) count in continuation batches only
    phased_clips_continue_only: bool = False


class LanguageModelTask(GeneratorTask):
    options_class = LanguageModelOptions
    model_class = VideoLanguageModel

    def __init__(self, model_config: dict[str, Any], options: LanguageModelOptions | None, data_config: Any):
        super().__init__(model_config, options, data_config)
        unknown = [name for name in self.options.task_weights if name not in TASKS]
        if unknown:
            raise ConfigError(f"task_options.task_weights: unknown task {unknown[0]!r}; tasks are {', '.join(TASKS)}")
        #: the table's tasks, in order, and their weights (the order the mixture draws by)
        self.tasks = list(TASKS.values())
        weights = [float(self.options.task_weights.get(task.name, 0.0)) for task in self.tasks]
        if any(weight < 0 for weight in weights) or sum(weights) <= 0:
            raise ConfigError("task_options.task_weights must be >= 0 with a positive sum")
        audio_tasks = [task.name for task, weight in zip(self.tasks, weights) if weight > 0 and task.uses_audio]
        if audio_tasks and not self.has_audio_codec:
            raise ConfigError(
                f"task_options.task_weights has {audio_tasks[0]!r}: audio tasks need task_options.audio_codec "
                "(a saved AudioCodec folder) or audio_codec_config"
            )
        if audio_tasks and data_config is not None and not getattr(data_config, "audio_sample_rate", None):
            raise ConfigError(f"task {audio_tasks[0]!r} needs clips with sound: set data.audio_sample_rate")
        self.task_weights = torch.tensor(weights)
        if self.options.phased_clips_continue_only:
            self.check_phased_data("phased_clips_continue_only")
            if not self.options.task_weights.get("continue", 0):
                raise ConfigError("task_options.phased_clips_continue_only needs task_weights.continue > 0 "
                                  "(phased clips are learnt from in continuation batches only)")
        self._last_sequence_length = 0
        self._model = None

    # ------------------------------------------------------------------ helpers
    def check_helpers(self) -> None:
        if not self.video_tokenizer.is_discrete:
            raise ConfigError("the LM needs a discrete tokenizer (bottleneck fsq or lfq), got a gaussian one")

    def clip_cache_size(self) -> int:
        return self.options.token_cache_size

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
            self.fill_audio_sizes(config, "LM")
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

    def _grids(self) -> list[tuple[int, int, int]]:
        """Latent grids of every shape the run trains on (each bucket's, or the one configured)."""
        if self.cached is None:
            self._load_helpers()
        return data_latent_grids(self.data_config, self.video_tokenizer, self.cached)

    def _longest_sequence(self, model: VideoLanguageModel) -> int:
        """Positions of the longest sequence the mixture lays out: 6 special tokens, the text and the
        longest conditioning plus target of its tasks."""
        active = [task for task, weight in zip(self.tasks, self.task_weights.tolist()) if weight > 0]
        audio_tokens = self._audio_tokens()
        # one bucket a batch: each batch has its bucket's own length (no padding); the longest bounds them all
        longest = max(
            task.longest(frames * height * width, height * width, audio_tokens)
            for task in active for frames, height, width in self._grids()
        )
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
        self._model = self.load_initial_weights(model)
        return model

    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (batch, text_max_length, dim) and mask, cached per caption string (the
        encoder is frozen, and a dataset repeats its captions every epoch)."""
        def compute(positions):
            hidden, mask = self.text_encoder.encode([captions[i] for i in positions], device=self.device)
            hidden, mask = pad_text(hidden, mask, self.options.text_max_length)
            # the mask rides along as a last channel so one cache entry holds both
            return list(torch.cat([hidden, mask[..., None].to(hidden.dtype)], dim=-1))

        rows = torch.stack(self._text_cache.lookup(captions, compute)).to(self.device)
        return rows[..., :-1], rows[..., -1].bool()

    def tokenize(self, video: torch.Tensor) -> torch.Tensor:
        """Vocabulary ids ``(batch, t, h, w)`` of a batch; cached by clip content
        (task_options.token_cache_size)."""
        codes = self.encode_clips(video, lambda clips: self.video_tokenizer.tokenize(clips).long())
        return codes + self._vocabulary_offset()

    def encode_audio(self, audio, num_frames: int) -> torch.Tensor:
        """Soundtracks ``(batch, samples)`` -> vocabulary ids ``(batch, codec frames * levels)`` for
        clips of ``num_frames`` video frames (cut or zero-padded to exactly their duration)."""
        vocabulary = self.vocabulary()
        codes = self.soundtrack_codes(audio, num_frames, vocabulary.num_audio_codebooks)
        return vocabulary.audio_to_ids(codes)

    def _vocabulary_offset(self) -> int:
        return int(self.model_config.get("num_special_tokens", 32))

    # ------------------------------------------------------------------ the step
    def training_step(self, model, batch, step, generator):
        options = self.options
        if "token_ids" in batch:
            grid = batch["token_ids"].long().to(self.device) + self._vocabulary_offset()
        else:
            grid = self.tokenize(batch["video"])
        batch_size = grid.shape[0]
        generator_device = generator.device if generator is not None else "cpu"

        task_index = int(torch.multinomial(self.task_weights.to(generator_device), 1, generator=generator).item())
        task = self.tasks[task_index]
        if grid.shape[1] < task.min_latent_frames:
            task = TASKS["t2v"]  # clips too short for the task (images): plain text-to-video
        audio_ids = None
        if task.uses_audio:
            if "audio" not in batch:
                raise ConfigError(f"task {task.name!r} needs clips with sound: set data.audio_sample_rate")
            audio_ids = self.encode_audio(batch["audio"], batch["video"].shape[2])
        example = task.example(grid, generator, audio_ids=audio_ids)

        drop = torch.rand(batch_size, generator=generator, device=generator_device) < options.text_dropout
        if not task.uses_text or (task.uses_audio and not options.audio_tasks_use_text):
            drop = torch.ones_like(drop)
        if "text_states" in batch:
            text, text_mask = self.cached.text(batch, None, self.device, trim=False)
        else:
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
        if options.phased_clips_continue_only and task.name != "continue":
            kept = ~self.phased_clips(batch, "phased_clips_continue_only").to(self.device)
            token_losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none",
                                           label_smoothing=options.label_smoothing)
            # a batch of phased clips alone still keeps every parameter in the graph (DDP), at weight 0
            loss = (token_losses * kept[:, None]).sum() / (kept.sum() * targets.shape[1]).clamp_min(1)
        else:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), label_smoothing=options.label_smoothing)
        accuracy = (logits.argmax(-1) == targets).float().mean()
        logs = {"task": float(task_index), "token_accuracy": float(accuracy), "text_dropped": float(drop.float().mean())}
        return loss, logs

    def tokens_in_batch(self, batch) -> int:
        return self.samples_in_batch(batch) * self._last_sequence_length

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

    def preview_arguments(self):
        return {"temperature": self.options.preview_temperature, "top_k": self.options.preview_top_k}
