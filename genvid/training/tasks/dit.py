"""Training task for the latent diffusion transformer: rectified flow on frozen tokenizer latents.

Objective: ``x_s = (1 - s) * clean + s * noise`` and the model predicts the velocity
``noise - clean`` (mean squared error). ``s`` is drawn logit-normal by default (it concentrates
on the middle noise levels, where prediction is hardest), uniform, or uniform then shifted towards
noise (``shift * s / (1 + (shift - 1) * s)``, useful at high resolution).

Text is dropped (replaced by the empty prompt's embedding) with probability ``text_dropout`` so that
the model also learns the unconditional velocity for classifier-free guidance. With probability
``first_frame_probability`` a sample's first latent frame is given clean (its noise removed, its
noise level 0, its loss masked): that teaches image-to-video, since the causal tokenizer encodes a
lone image as exactly that first latent frame.

Two generalisations of that, for long video and keyframes (both given clean, at noise level 0, out
of the loss, exactly as the first frame): with probability ``prefix_probability`` a sample's first
``1..prefix_frames_max`` latent frames are clean (the pipeline extends a video segment by segment,
each conditioned on the previous one's last latent frames); with probability
``keyframe_probability`` each latent frame is clean with odds ``keyframe_share`` (at least one stays
noisy): the pipeline's ``keyframes=`` at any positions, first and last for interpolation.
With ``prefix_for_phased_clips`` a clip that starts along its path (a nonzero ``phase`` of the
synthetic set, genvid.data.synthetic) always gets a clean prefix of ``1..prefix_frames_max`` latent
frames, and the clips at phase 0 keep the draws above: a long video's first segment is text-to-video
from the path's start, only its continuations begin further along, so text-to-video is never taught
to start anywhere.

Audio conditioning (``audio_codec`` / ``audio_codec_config``, data with ``audio_sample_rate``): the
frozen codec turns each clip's soundtrack into codes the model cross-attends to next to the text.
A sample whose text is dropped loses its sound too (the pipeline's unconditional branch has
neither), and the sound alone is dropped with probability ``audio_dropout``; with probability
``audio_alone_probability`` the text alone is dropped (the sound kept), so sound alone is followed.

Guidance distillation (``teacher``: a saved diffusion pipeline or transformer folder, frozen): the
student regresses the teacher's guided velocity ``v_u + scale * (v_c - v_u)`` on the same noised
latents, so one conditional evaluation per step replaces guidance's two. Text is never dropped
then (the student has no unconditional stream to learn), and the exported pipeline is marked
``guidance_distilled`` with ``distilled_steps`` as its default step count.

Few steps (``distill_substeps`` > 0): the student trains only at the noise levels its own sampler
visits (the scheduler's ``distilled_steps`` sigmas, ``scheduler_shift`` included), and at a level
``s_i`` its target is the velocity of one Euler step that lands where the teacher's guided ODE,
run in ``distill_substeps`` Euler substeps from the same noisy latents, reaches at ``s_{i+1}``. A
student that learns it makes each of its few big steps as the teacher would in many small ones,
where regressing the instantaneous velocity leaves the curvature of the path to the big steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from genvid.config import ConfigError, build_model, check_fractions
from genvid.pipelines.flow_scheduler import SAMPLERS, diffusers_sampler
from genvid.models.dit import VideoDiffusionTransformer, forward_flops
from genvid.training.frozen_cache import pad_rows
from genvid.training.tasks.generator import GeneratorOptions, GeneratorTask

TIMESTEP_SAMPLINGS = ("logit_normal", "uniform", "shifted")


@dataclass
class DiffusionOptions(GeneratorOptions):
    #: clips whose latents are kept (by content) so repeated clips skip the frozen encoder; 0 = off
    latent_cache_size: int = 20000
    first_frame_probability: float = 0.0
    #: share of samples whose first 1..prefix_frames_max latent frames are given clean (long video)
    prefix_probability: float = 0.0
    prefix_frames_max: int = 2
    #: a clip with a nonzero phase (data items' ``phase``) always gets a clean prefix; phase 0 keeps the draws
    prefix_for_phased_clips: bool = False
    #: share of samples with clean latent frames at random positions (keyframes, interpolation)
    keyframe_probability: float = 0.0
    #: odds of each latent frame being a keyframe in such a sample
    keyframe_share: float = 0.3
    #: "logit_normal" (default), "uniform" or "shifted"
    timestep_sampling: str = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    timestep_shift: float = 3.0
    #: shift of the FlowMatchEulerDiscreteScheduler written by export() and used by previews
    scheduler_shift: float = 1.0
    #: the exported pipeline's sampler: "euler" or "dpm_solver" (second order, one evaluation a step:
    #: genvid.pipelines.flow_scheduler.diffusers_sampler); a distilled student samples with euler
    sampler: str = "euler"
    preview_steps: int = 20
    preview_guidance_scale: float = 5.0
    default_guidance_scale: float = 5.0
    audio_dropout: float = 0.1
    #: share of samples whose text is dropped while their sound is kept: what teaches following a
    #: soundtrack alone (a prompt-less ``audio=`` call); 0 draws nothing, as before it existed
    audio_alone_probability: float = 0.0
    #: guidance distillation: a saved pipeline (or transformer) folder whose guided velocity the
    #: student regresses; None trains on the flow-matching target
    teacher: str | None = None
    guidance_distillation_scale: float = 2.5
    #: the distilled pipeline's default num_inference_steps (one transformer evaluation each)
    distilled_steps: int = 8
    #: the exported (guided) pipeline's default num_inference_steps
    default_num_inference_steps: int = 30
    #: > 0: train at the distilled sampler's own levels on the teacher's ODE over each of its
    #: steps, in this many Euler substeps (2 teacher evaluations each); 0: the teacher's velocity
    distill_substeps: int = 0


def sample_noise_levels(
    batch_size: int, generator: torch.Generator, options: DiffusionOptions, device=None
) -> torch.Tensor:
    """Noise levels ``s`` in (0, 1), shape ``(batch_size,)``, drawn with ``generator``."""
    generator_device = generator.device if generator is not None else "cpu"
    if options.timestep_sampling == "logit_normal":
        normal = torch.randn(batch_size, generator=generator, device=generator_device)
        levels = torch.sigmoid(options.logit_mean + options.logit_std * normal)
    else:
        levels = torch.rand(batch_size, generator=generator, device=generator_device)
        if options.timestep_sampling == "shifted":
            shift = options.timestep_shift
            levels = shift * levels / (1 + (shift - 1) * levels)
    return levels.to(device) if device is not None else levels


def flow_matching_loss(
    model: nn.Module,
    latents: torch.Tensor,
    noise: torch.Tensor,
    noise_levels: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    clean_frames: torch.Tensor | None = None,
    target_velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    **conditioning,
) -> torch.Tensor:
    """Rectified-flow loss. ``noise_levels (batch,)``; ``clean_frames`` bool, ``(batch,)`` (the
    first latent frame of those samples) or ``(batch, frames)``, marks latent frames given clean
    (noise level 0, excluded from the loss); ``target_velocity``: ``fn(noisy, timesteps) ->
    velocity`` replacing ``noise - latents`` (a teacher's, for distillation); ``conditioning``:
    extra model inputs (``audio_codes``, ``audio_mask``)."""
    batch, _, frames = latents.shape[:3]
    levels = noise_levels.float()[:, None].repeat(1, frames)
    frame_weight = torch.ones(batch, frames, device=latents.device)
    if clean_frames is not None:
        if clean_frames.ndim == 1:
            clean_frames = torch.nn.functional.pad(clean_frames[:, None], (0, frames - 1), value=False)
        levels = torch.where(clean_frames, torch.zeros_like(levels), levels)
        frame_weight = (~clean_frames).float()
    broadcast = levels[:, None, :, None, None]
    noisy = (1 - broadcast) * latents + broadcast * noise
    target = noise - latents if target_velocity is None else target_velocity(noisy, levels * 1000)
    prediction = model(noisy, levels * 1000, text, text_mask, **conditioning).sample
    error = (prediction.float() - target.float()).pow(2).mean(dim=(1, 3, 4))  # (batch, frames)
    return (error * frame_weight).sum() / frame_weight.sum().clamp_min(1)


def draw_clean_frames(
    batch: int, frames: int, options: DiffusionOptions, generator: torch.Generator | None,
    phased: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Which latent frames of each sample are given clean, ``(batch, frames)`` bool (None: none).

    Each sample is at most one kind: first frame, a prefix, or keyframes (in that order of draws);
    at least one frame is always left to learn on. ``phased`` (``(batch,)`` bool, with
    ``prefix_for_phased_clips``): those samples are prefixes whatever their kind's draw, from the same
    draws, so the other samples get exactly the frames they would without it."""
    coupled = options.prefix_for_phased_clips and phased is not None and bool(phased.any())
    if frames < 2 or not (options.first_frame_probability or options.prefix_probability or options.keyframe_probability
                          or coupled):
        return None
    device = generator.device if generator is not None else "cpu"
    kind = torch.rand(batch, generator=generator, device=device)
    clean = torch.zeros(batch, frames, dtype=torch.bool, device=device)
    first_bound = options.first_frame_probability
    prefix_bound = first_bound + options.prefix_probability
    keyframe_bound = prefix_bound + options.keyframe_probability
    longest_prefix = min(options.prefix_frames_max, frames - 1)
    prefix_lengths = torch.randint(1, longest_prefix + 1, (batch,), generator=generator, device=device)
    keyframes = torch.rand(batch, frames, generator=generator, device=device) < options.keyframe_share
    positions = torch.arange(frames, device=device)
    clean[:, 0] = kind < first_bound
    is_prefix = (kind >= first_bound) & (kind < prefix_bound)
    if coupled:
        phased = phased.to(device)
        clean[:, 0] &= ~phased
        is_prefix |= phased
    clean |= is_prefix[:, None] & (positions[None] < prefix_lengths[:, None])
    is_keyframes = (kind >= prefix_bound) & (kind < keyframe_bound) & ~is_prefix
    keyframes &= is_keyframes[:, None]
    all_clean = keyframes.all(dim=1)
    keyframes[all_clean, frames // 2] = False  # one frame stays noisy
    return clean | keyframes


def sampler_levels(steps: int, shift: float) -> torch.Tensor:
    """The noise levels a FlowMatchEulerDiscreteScheduler(shift) visits in ``steps`` steps, from 1
    down to the final 0: ``(steps + 1,)``."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(steps)
    return scheduler.sigmas.float().cpu()


def trajectory_velocity(velocity: Callable, noisy: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                        substeps: int) -> torch.Tensor:
    """The velocity of one Euler step from ``noisy`` at levels ``start`` to where ``substeps`` Euler
    steps of ``velocity(x, timesteps)`` reach at ``end``. Levels are per frame ``(batch, frames)``;
    a clean frame (start = end = 0) stays as it is and gets velocity 0 (it is out of the loss)."""
    span = (end - start)[:, None, :, None, None]
    latents = noisy
    for index in range(substeps):
        level = start + (end - start) * (index / substeps)
        latents = latents + (span / substeps) * velocity(latents, level * 1000)
    moving = span != 0
    return torch.where(moving, (latents - noisy) / torch.where(moving, span, torch.ones_like(span)), torch.zeros_like(latents))


class DiffusionTask(GeneratorTask):
    options_class = DiffusionOptions
    model_class = VideoDiffusionTransformer

    def __init__(self, model_config: dict[str, Any], options: DiffusionOptions | None, data_config: Any):
        super().__init__(model_config, options, data_config)
        options = self.options
        if options.timestep_sampling not in TIMESTEP_SAMPLINGS:
            raise ConfigError(
                f"task_options.timestep_sampling must be one of {', '.join(TIMESTEP_SAMPLINGS)}, "
                f"got {options.timestep_sampling!r}"
            )
        if options.sampler not in SAMPLERS:
            raise ConfigError(f"task_options.sampler must be one of {', '.join(SAMPLERS)}, got {options.sampler!r}")
        if options.sampler != "euler" and options.teacher is not None:
            raise ConfigError("task_options.sampler: a distilled student is trained on Euler steps; keep it 'euler'")
        check_fractions(options, ("first_frame_probability", "prefix_probability", "keyframe_probability",
                                  "keyframe_share", "audio_dropout", "audio_alone_probability"))
        if options.prefix_frames_max < 1:
            raise ConfigError(f"task_options.prefix_frames_max must be >= 1, got {options.prefix_frames_max}")
        if options.prefix_for_phased_clips:
            self.check_phased_data("prefix_for_phased_clips")
        if self.has_audio_codec and data_config is not None and not getattr(data_config, "audio_sample_rate", None):
            raise ConfigError("audio conditioning needs clips with sound: set data.audio_sample_rate")
        if options.teacher is not None and self.has_audio_codec:
            raise ConfigError("task_options.teacher: guidance distillation of a model with audio conditioning is not supported")
        if options.distilled_steps < 1:
            raise ConfigError(f"task_options.distilled_steps must be >= 1, got {options.distilled_steps}")
        if options.distill_substeps < 0 or (options.distill_substeps and options.teacher is None):
            raise ConfigError("task_options.distill_substeps must be >= 0 and needs task_options.teacher")
        self.teacher = None

    # ------------------------------------------------------------------ helpers
    def check_helpers(self) -> None:
        # A discrete (FSQ/LFQ) tokenizer also works: its quantized latents are continuous values
        # on a grid, and the pipeline snaps generated latents back onto that grid before decoding.
        config = self.model_config
        in_channels = config.get("in_channels", 16)
        if in_channels != self.video_tokenizer.latent_channels:
            raise ConfigError(
                f"model.in_channels={in_channels} but the tokenizer has {self.video_tokenizer.latent_channels} latent channels"
            )
        text_hidden_size = config.get("text_hidden_size", 384)
        if text_hidden_size != self.text_encoder.hidden_size:
            raise ConfigError(
                f"model.text_hidden_size={text_hidden_size} but the text encoder's hidden size is "
                f"{self.text_encoder.hidden_size}"
            )
        if self.audio_codec is not None:
            self.fill_audio_sizes(config, "DiT")

    def check_cached(self) -> None:
        for key, default, value in (("in_channels", 16, self.cached.latent_channels), ("text_hidden_size", 384, self.cached.text_hidden_size)):
            if self.model_config.get(key, default) != value:
                raise ConfigError(f"model.{key}={self.model_config.get(key, default)} but the cache {self.cached.folder} holds {value}")

    def clip_cache_size(self) -> int:
        return self.options.latent_cache_size

    def setup(self, device: torch.device) -> None:
        super().setup(device)
        if self.options.teacher is not None and self.teacher is None:
            self.teacher = load_teacher(self.options.teacher, self.model_config)
        if self.teacher is not None:
            self.teacher.to(self.device)

    def guided_teacher_velocity(self, text, text_mask):
        """``fn(noisy, timesteps)``: the frozen teacher's guided velocity for ``text``, its
        unconditional branch on the empty prompt (what the pipeline's guidance uses)."""
        empty, empty_mask = self.encode_text([""] * text.shape[0])
        length = max(text.shape[1], empty.shape[1])
        both = torch.cat([_pad_to(text, length), _pad_to(empty, length)])
        both_mask = torch.cat([_pad_to(text_mask, length), _pad_to(empty_mask, length)])
        scale = self.options.guidance_distillation_scale

        def velocity(noisy, timesteps):
            with torch.no_grad():
                out = self.teacher(torch.cat([noisy, noisy]), torch.cat([timesteps, timesteps]), both, both_mask).sample
            conditional, unconditional = out.float().chunk(2)
            return unconditional + scale * (conditional - unconditional)

        return velocity

    def build_model(self) -> nn.Module:
        # Gradient checkpointing is the loop's switch (training.gradient_checkpointing).
        if self.has_audio_codec:
            self._load_helpers()  # fills the model's audio sizes from the codec
        return self.load_initial_weights(build_model(VideoDiffusionTransformer, self.model_config, "model"))

    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text hidden states ``(batch, length, dim)`` and mask. The encoder is frozen, so each
        caption's real-token states are cached (least recently used out first): the synthetic set
        has few distinct captions, a folder set may have one per clip."""

        def compute(positions):
            hidden, mask = self.text_encoder.encode([captions[i] for i in positions], device=self.device)
            return [row[row_mask] for row, row_mask in zip(hidden, mask.bool())]

        return pad_rows(self._text_cache.lookup(captions, compute), self.device)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Normalised latents of a batch; cached by clip content (task_options.latent_cache_size)."""
        tokenizer = self.video_tokenizer
        return self.encode_clips(video, lambda clips: tokenizer.normalize_latents(tokenizer.encode(clips)).float())

    def encode_audio(self, audio, num_frames: int) -> torch.Tensor:
        """Soundtracks -> codec codes ``(batch, model levels, codec frames of num_frames)``."""
        return self.soundtrack_codes(audio, num_frames, self.model_config["num_audio_codebooks"])

    # ------------------------------------------------------------------ the step
    def training_step(self, model, batch, step, generator):
        options = self.options
        latents = batch["latents"].float().to(self.device) if "latents" in batch else self.encode_video(batch["video"])
        batch_size = latents.shape[0]
        generator_device = generator.device if generator is not None else "cpu"

        drop = torch.rand(batch_size, generator=generator, device=generator_device) < options.text_dropout
        if self.teacher is not None:  # the student learns the guided (conditional) stream only
            drop = torch.zeros_like(drop)
        # sound kept, text dropped (as the empty prompt): drawn only when asked, so runs without it
        # keep their random stream
        alone = torch.zeros_like(drop)
        if self.audio_codec is not None and options.audio_alone_probability:
            alone = torch.rand(batch_size, generator=generator, device=generator_device) < options.audio_alone_probability
            alone = alone & ~drop
            drop = drop | alone
        if "text_states" in batch:
            text, text_mask = self.cached.text(batch, drop, self.device, trim=True)
        else:
            captions = ["" if dropped else caption for caption, dropped in zip(batch["caption"], drop.tolist())]
            text, text_mask = self.encode_text(captions)

        noise = torch.randn(latents.shape, generator=generator, device=generator_device).to(self.device)
        levels = sample_noise_levels(batch_size, generator, options, device=self.device)
        if options.distill_substeps:  # the levels the distilled sampler visits, and the next ones
            schedule = sampler_levels(options.distilled_steps, options.scheduler_shift)
            step_index = torch.randint(0, options.distilled_steps, (batch_size,), generator=generator, device=generator_device)
            levels, next_levels = schedule[step_index.cpu()].to(self.device), schedule[step_index.cpu() + 1].to(self.device)
        phased = self.phased_clips(batch, "prefix_for_phased_clips") if options.prefix_for_phased_clips else None
        clean_first = draw_clean_frames(batch_size, latents.shape[2], options, generator, phased)
        clean_first = None if clean_first is None else clean_first.to(self.device)
        if clean_first is not None:
            # a prompt-less audio= call gives no frame either: a sound-alone sample with a clean
            # frame would learn the picture from that frame, and the sound would go unheard
            clean_first = clean_first & ~alone.to(self.device)[:, None]
        conditioning = {}
        logs = {}
        if self.audio_codec is not None:
            if "audio" not in batch:
                raise ConfigError("audio conditioning needs clips with sound: set data.audio_sample_rate")
            audio_dropped = torch.rand(batch_size, generator=generator, device=generator_device) < options.audio_dropout
            audio_dropped = (audio_dropped | drop) & ~alone
            if options.audio_alone_probability:
                logs["sound_alone"] = float(alone.float().mean())
            conditioning = {
                "audio_codes": self.encode_audio(batch["audio"], batch["video"].shape[2]),
                "audio_mask": (~audio_dropped).to(self.device),
            }
            logs["audio_dropped"] = float(audio_dropped.float().mean())
        target = self.guided_teacher_velocity(text, text_mask) if self.teacher is not None else None
        if options.distill_substeps:
            guided = target

            def target(noisy, timesteps):  # clean frames come at level 0 and stay there
                start = timesteps / 1000
                end = torch.where(start > 0, next_levels[:, None].expand_as(start), start)
                return trajectory_velocity(guided, noisy, start, end, options.distill_substeps)
        loss = flow_matching_loss(model, latents, noise, levels, text, text_mask, clean_first, target, **conditioning)
        logs.update(noise_level_mean=float(levels.mean()), text_dropped=float(drop.float().mean()))
        if clean_first is not None:
            logs["first_frame_given"] = float(clean_first[:, 0].float().mean())
            logs["clean_frame_share"] = float(clean_first.float().mean())
        return loss, logs

    def _latent_grid(self, batch=None) -> tuple[int, int, int]:
        if batch is not None and "latents" in batch:
            return tuple(batch["latents"].shape[2:])
        data = self.data_config
        self._load_helpers()
        shape = batch["video"].shape[2:] if batch is not None else (data.num_frames, data.height, data.width)
        return self.video_tokenizer.latent_shape(*shape)

    def tokens_in_batch(self, batch) -> int:
        frames, height, width = self._latent_grid(batch)
        patch = self.model_config.get("patch_size", 2)
        patch_t = self.model_config.get("patch_size_t", 1)
        return self.samples_in_batch(batch) * (frames // patch_t) * (height // patch) * (width // patch)

    def flops_per_sample(self) -> float:
        """Training FLOPs of one sample (forward + backward = 3x forward; attention included)."""
        frames, height, width = self._latent_grid()
        return 3 * forward_flops(self.model_config, frames, height, width, self.options.text_max_length)

    # ------------------------------------------------------------------ outputs
    def pipeline(self, model: nn.Module):
        from genvid.pipelines.diffusion import GenVidDiffusionPipeline

        self._load_helpers()
        scheduler = diffusers_sampler(self.options.sampler, self.options.scheduler_shift)
        model = getattr(model, "module", model)
        distilled = self.options.teacher is not None
        return GenVidDiffusionPipeline(
            video_tokenizer=self.video_tokenizer,
            text_encoder=self.text_encoder,
            transformer=model,
            scheduler=scheduler,
            audio_codec=self.audio_codec,
            default_guidance_scale=1.0 if distilled else self.options.default_guidance_scale,
            guidance_distilled=distilled,
            default_num_inference_steps=self.options.distilled_steps if distilled else self.options.default_num_inference_steps,
        )

    def preview_arguments(self):
        return {"num_inference_steps": self.options.preview_steps}


def _pad_to(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad dim 1 (text positions) to ``length``; a padded position is masked out."""
    missing = length - tensor.shape[1]
    if missing == 0:
        return tensor
    return torch.cat([tensor, tensor.new_zeros(tensor.shape[0], missing, *tensor.shape[2:])], dim=1)


def load_teacher(path: str, model_config: dict[str, Any]) -> VideoDiffusionTransformer:
    """The frozen teacher transformer of a saved pipeline (its ``transformer/``) or model folder."""
    folder = Path(path)
    if (folder / "transformer" / "config.json").is_file():
        folder = folder / "transformer"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"task_options.teacher: {path} is neither a diffusion pipeline folder nor a saved transformer")
    teacher = VideoDiffusionTransformer.from_pretrained(folder)
    for key in ("in_channels", "text_hidden_size"):
        if key in model_config and model_config[key] != teacher.config[key]:
            raise ConfigError(f"task_options.teacher: its {key}={teacher.config[key]} but model.{key}={model_config[key]}")
    return teacher.requires_grad_(False).eval()
