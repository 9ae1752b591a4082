"""An evaluation every ``training.eval_every`` steps, logged beside the loss.

``training.eval`` chooses it (keys of :class:`EvaluationOptions`)::

    training:
      eval_every: 500
      eval: {kind: tokenizer, heldout: synthetic, max_clips: 8}          # a tokenizer run
      # eval: {kind: prompts, split: heldout, clip_model: /models/clip}  # a DiT / LM run

``tokenizer``: mean PSNR / SSIM (and codebook usage) of the model's reconstructions of a fixed
held-out set. ``prompts``: the task's pipeline draws every combination of a synthetic split; the
analyzer's colour / shape / motion accuracy, plus CLIPSIM (``clip_model``) and FVD against renders of
the same prompts (``feature_model``) where those local folders are given. ``audio_codec``: the
codec's round trip of the held-out soundtracks (genvid.eval.audio_round_trip: the audio analyzer's
accuracies, SNR and the third-harmonic ratio per shape, at every level count). Figures go to
metrics.jsonl (one line with ``step`` and ``eval/<name>`` keys) and to the tracker (tensorboard).
They use the EMA weights when EMA is on and ``training.export_ema`` (what would be exported).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from genvid.config import ConfigError, build_dataclass
from genvid.data.clip_shape import ClipShape

KINDS = ("tokenizer", "prompts", "audio_codec")


@dataclass
class EvaluationOptions(ClipShape):
    """``num_frames``, ``height``, ``width`` (from :class:`ClipShape`): tokenizer: the held-out set's
    clip size; audio_codec: the soundtracks' length in video frames."""

    #: "tokenizer" (reconstruction of a held-out set), "prompts" (a generator's prompt following) or
    #: "audio_codec" (the round trip of held-out soundtracks)
    kind: str = "tokenizer"
    #: tokenizer: "synthetic" or "real" (genvid's fixed held-out sets)
    heldout: str = "synthetic"
    #: prompts: "seen", "heldout" or "all" combinations of the synthetic vocabulary
    split: str = "heldout"
    #: evaluate at most this many clips (None: the whole set or split)
    max_clips: int | None = None
    #: prompts: sampling
    samples_per_combination: int = 1
    batch_size: int = 16
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    seed: int = 0
    #: prompts: local transformers folders for CLIPSIM (CLIPModel) and FVD (VideoMAE)
    clip_model: str | None = None
    feature_model: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.kind not in KINDS:
            raise ConfigError(f"training.eval.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.heldout not in ("synthetic", "real"):
            raise ConfigError(f"training.eval.heldout must be synthetic or real, got {self.heldout!r}")
        if self.split not in ("seen", "heldout", "all"):
            raise ConfigError(f"training.eval.split must be seen, heldout or all, got {self.split!r}")


def evaluation_options(values) -> EvaluationOptions:
    """The ``training.eval`` section (a dict or DictConfig) as options, naming any unknown key."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(values, DictConfig):
        values = OmegaConf.to_container(values, resolve=True)
    return build_dataclass(EvaluationOptions, values, "training.eval")


class TrainingEvaluator:
    """Runs the chosen evaluation on the model being trained; CLIP / VideoMAE load once, on first use."""

    def __init__(self, options: EvaluationOptions):
        self.options = options
        self._learned_models = None

    def __call__(self, task, model, ema=None, use_ema: bool = True) -> dict[str, float]:
        """``{"eval/<figure>": value}`` for ``model`` (unwrapped), in eval mode, EMA weights applied."""
        was_training = model.training
        model.eval()
        weights = ema.applied(model) if ema is not None and use_ema else contextlib.nullcontext()
        try:
            with weights, torch.no_grad():
                evaluate = {"tokenizer": self._tokenizer, "audio_codec": self._audio_codec}.get(self.options.kind)
                figures = evaluate(model) if evaluate is not None else self._prompts(task, model)
        finally:
            model.train(was_training)
        return {f"eval/{name}": float(value) for name, value in figures.items()}

    def _tokenizer(self, model) -> dict[str, float]:
        from genvid.eval.tokenizer_eval import heldout_clips, summarize
        from tokenizer import VideoTokenizer

        tokenizer = getattr(model, "tokenizer", model)
        if not isinstance(tokenizer, VideoTokenizer):
            raise ConfigError("training.eval.kind tokenizer needs a tokenizer task; use kind: prompts for a generator")
        options = self.options
        named = heldout_clips(options.heldout, options.num_frames, options.height, options.width)[: options.max_clips]
        summary, _ = summarize(tokenizer, (clip for _, clip in named), names=[name for name, _ in named])
        return {key: value for key, value in summary.items() if key not in ("clips", "codebook_size")}

    def _audio_codec(self, model) -> dict[str, float]:
        from genvid.eval.audio_round_trip import codec_round_trip
        from tokenizer import AudioCodec

        codec = getattr(model, "codec", model)
        if not isinstance(codec, AudioCodec):
            raise ConfigError("training.eval.kind audio_codec needs an audio codec task")
        report = codec_round_trip(codec, samples_per_combination=self.options.samples_per_combination,
                                  num_frames=self.options.num_frames)
        return {f"{name}/{key}": value for name, reading in report.items() if name.startswith("levels_")
                for key, value in reading.items()}

    def _prompts(self, task, model) -> dict[str, float]:
        from genvid.eval.analyzer import evaluate_prompt_following
        from genvid.eval.prompts_eval import (generate_for_combinations, learned_metrics, load_learned_models,
                                              split_combinations)

        if not hasattr(task, "pipeline"):
            raise ConfigError("training.eval.kind prompts needs a generator task (dit or lm) with a pipeline")
        options = self.options
        if self._learned_models is None:
            self._learned_models = load_learned_models(options.clip_model, options.feature_model, next(model.parameters()).device)
        pipeline = task.pipeline(model)
        pipeline.set_progress_bar_config(disable=True)
        data = task.data_config
        call = {"num_frames": data.num_frames, "height": data.height, "width": data.width}
        if options.num_inference_steps is not None:
            call["num_inference_steps"] = options.num_inference_steps
        if options.guidance_scale is not None:
            call["guidance_scale"] = options.guidance_scale
        combinations = split_combinations(options.split)[: options.max_clips]
        clips = generate_for_combinations(pipeline, combinations, options.samples_per_combination, options.batch_size,
                                          options.seed, **call)
        labels = [c for c in combinations for _ in range(options.samples_per_combination)]
        figures = {key: value for key, value in evaluate_prompt_following(clips, labels).items() if key != "num_clips"}
        figures.update(learned_metrics({options.split: (labels, clips)}, *self._learned_models)[options.split])
        return figures


def evaluator_for(training) -> TrainingEvaluator | None:
    """The evaluator ``training.eval_every`` / ``training.eval`` ask for, or None."""
    if training.eval_every <= 0:
        return None
    return TrainingEvaluator(evaluation_options(training.eval or {}))

