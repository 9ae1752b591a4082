"""Training task for the video tokenizer (``task: tokenizer``).

The model the loop trains is :class:`tokenizer.TokenizerTrainingModule`: the tokenizer and its
3D patch discriminator under one optimizer, whose forward returns the whole loss (see that
module for why the two adversaries never leak gradients into each other). The export is the
tokenizer alone, ``save_pretrained`` with per-channel latent statistics measured on the data.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tokenizer import LossWeights, PatchDiscriminator3d, TokenizerTrainingModule, VideoTokenizer

from genvid.errors import GenvidError
from genvid.training.initial_weights import WEIGHTS_NAME, load_matching_weights
from genvid.training.task import TrainingTask
from genvid.training.tasks.discriminator import DiscriminatorOptions

logger = logging.getLogger("genvid.training")


#: the ``task_options:`` name of each :class:`tokenizer.LossWeights` field a tokenizer config sets
LOSS_OPTIONS = {
    "l1": "l1_weight",
    "l2": "l2_weight",
    "foreground": "foreground_weight",
    "kl": "kl_weight",
    "commitment": "commitment_weight",
    "entropy": "entropy_weight",
    "entropy_start": "entropy_weight_start",
    "entropy_anneal_steps": "entropy_anneal_steps",
    "codebook_entropy": "codebook_entropy_weight",
    "adversarial": "adversarial_weight",
    "discriminator": "discriminator_weight",
    "lecam": "lecam_weight",
    "discriminator_start_step": "discriminator_start_step",
    "adaptive_adversarial_weight": "adaptive_adversarial_weight",
}


def _loss_option_fields() -> list[tuple[str, Any, Any]]:
    """The LossWeights fields under their option names, with LossWeights' types and defaults (its
    docstrings say what each weighs): the weights are declared once, in ``tokenizer/``."""
    types = typing.get_type_hints(LossWeights)
    defaults = {weight.name: weight.default for weight in dataclasses.fields(LossWeights)}
    return [(option, types[name], dataclasses.field(default=defaults[name])) for name, option in LOSS_OPTIONS.items()]


#: the loss-weight part of ``task_options:``, derived from :class:`tokenizer.LossWeights`
TokenizerLossOptions = dataclasses.make_dataclass("TokenizerLossOptions", _loss_option_fields())
TokenizerLossOptions.__module__ = __name__


@dataclass
class TokenizerTaskOptions(TokenizerLossOptions, DiscriminatorOptions):
    """``task_options:`` of a tokenizer config: the loss weights (:data:`LOSS_OPTIONS`, defaults
    from :class:`tokenizer.LossWeights`), the 3D patch discriminator (:class:`DiscriminatorOptions`,
    on by default, joining sooner than LossWeights' default: a shipped run is ~10k steps) and the
    run's own settings."""

    discriminator_start_step: int = DiscriminatorOptions.discriminator_start_step
    use_discriminator: bool = True
    discriminator_channels: int = 32
    discriminator_layers: int = 3
    #: batches encoded at export to measure the latent mean / std stored in the config
    latent_statistics_batches: int = 8
    preview_samples: int = 2
    #: a tokenizer save_pretrained folder (or ``pretrained:gaussian`` / ``pretrained:fsq``, the shipped
    #: defaults) whose weights start this run: fine-tuning on your footage, or a video stage after
    #: an image stage. Its architecture must match the ``model:`` section
    initial_weights: str | None = None
    #: keep the encoder (and so every token and latent) of ``initial_weights`` and train only the
    #: decoder: generators trained on that tokenizer stay valid and decode through the new decoder
    #: (how Stable Diffusion's VAE decoder was fine-tuned). The latent statistics are kept too
    freeze_encoder: bool = False

    def loss_weights(self) -> LossWeights:
        return LossWeights(**{name: getattr(self, option) for name, option in LOSS_OPTIONS.items()})


def load_initial_weights(tokenizer: VideoTokenizer, path: str) -> None:
    """Copy a saved tokenizer's weights (and its latent statistics) into ``tokenizer``; one-line
    errors when the file is missing or the architectures differ."""
    from genvid.pretrained import resolve_tokenizer

    weights = resolve_tokenizer(path) / WEIGHTS_NAME
    if not weights.is_file():
        raise GenvidError(f"task_options.initial_weights: no tokenizer weights at {weights}")
    load_matching_weights(tokenizer, weights, path)
    saved_config = VideoTokenizer.load_config(str(weights.parent)) if (weights.parent / "config.json").is_file() else {}
    if "latent_mean" in saved_config and "latent_std" in saved_config:
        tokenizer.set_latent_statistics(saved_config["latent_mean"], saved_config["latent_std"])


def _tokenizer_of(model: nn.Module) -> VideoTokenizer:
    model = getattr(model, "module", model)  # DDP
    return model.tokenizer if isinstance(model, TokenizerTrainingModule) else model


class TokenizerTask(TrainingTask):
    options_class = TokenizerTaskOptions
    model_class = VideoTokenizer

    def build_model(self) -> TokenizerTrainingModule:
        options = self.options
        tokenizer = VideoTokenizer(**self.model_config)
        if options.freeze_encoder and not options.initial_weights:
            raise GenvidError("task_options.freeze_encoder needs initial_weights: the trained encoder to keep")
        if options.initial_weights:
            load_initial_weights(tokenizer, options.initial_weights)
        if options.freeze_encoder:
            tokenizer.encoder.requires_grad_(False)
            tokenizer.latent_bottleneck.requires_grad_(False)
        discriminator = None
        if options.use_discriminator:
            discriminator = PatchDiscriminator3d(
                tokenizer.config.in_channels, options.discriminator_channels, options.discriminator_layers
            )
        return TokenizerTrainingModule(tokenizer, discriminator, options.loss_weights())

    def setup(self, device: torch.device) -> None:
        self.device = device

    def training_step(self, model, batch, step, generator):
        device = next(model.parameters()).device
        return model(batch["video"].to(device, non_blocking=True), step=step, generator=generator)

    def tokens_in_batch(self, batch: dict[str, Any]) -> int:
        batch_size, _, num_frames, height, width = batch["video"].shape
        tokenizer_config = self.model_config
        spatial = 2 ** (len(tokenizer_config.get("channel_multipliers", (1, 2, 4, 4))) - 1)
        temporal = tokenizer_config.get("temporal_compression", 4)
        return batch_size * (1 + (num_frames - 1) // temporal) * (height // spatial) * (width // spatial)

    def _batches(self, count: int, batch_size: int = 4):
        from genvid.data import build_dataset, collate_videos

        dataset = build_dataset(self.data_config)
        if hasattr(dataset, "first_batches"):  # data.buckets: one bucket a batch
            for items in dataset.first_batches(count, batch_size):
                yield collate_videos(items)["video"]
            return
        for start in range(0, min(len(dataset), count * batch_size), batch_size):
            items = [dataset[index] for index in range(start, min(start + batch_size, len(dataset)))]
            yield collate_videos(items)["video"]

    @torch.no_grad()
    def preview(self, model, step, output_dir, generator) -> None:
        tokenizer = _tokenizer_of(model)
        try:
            from genvid.data import write_contact_sheet
        except ImportError:  # the data package is optional for the tokenizer itself
            return
        video = next(iter(self._batches(1, self.options.preview_samples))).to(tokenizer.device)
        reconstruction = tokenizer.decode(tokenizer.encode(video)).clamp(-1, 1)
        rows = [row for pair in zip(video, reconstruction) for row in pair]  # input, reconstruction, ...
        write_contact_sheet(Path(output_dir) / f"tokenizer_step{step:07d}.png", rows)

    @torch.no_grad()
    def export(self, model, output_dir) -> None:
        tokenizer = _tokenizer_of(model)
        tokenizer.eval()
        count = self.options.latent_statistics_batches
        # a frozen encoder keeps the statistics of its initial weights (what the generators read)
        if count > 0 and not self.options.freeze_encoder:
            try:
                mean, std = tokenizer.compute_latent_statistics(self._batches(count), max_batches=count)
                tokenizer.set_latent_statistics(mean, std)
            except Exception as error:  # statistics are a convenience; never lose the export over them
                logger.warning(f"tokenizer export: latent statistics not measured ({error})")
        tokenizer.save_pretrained(output_dir)
