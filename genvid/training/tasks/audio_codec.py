"""Training task for the audio codec (``task: audio_codec``).

The data must carry sound (``data.audio_sample_rate`` = the codec's ``sample_rate``; the synthetic
set renders a tone naming each clip's attributes). Each step crops a random segment of whole codec
frames from every waveform (``segment_seconds``), draws how many codebooks to use (quantizer
dropout: with probability ``quantizer_dropout`` a uniform count in [1, num_codebooks]), and
minimises waveform L1 and L2 + multi-resolution STFT + log-mel + commitment (+ codebook loss for
non-EMA codebooks, + an adversarial term once the optional discriminator starts).

A harmonic codec (``model.synthesis: harmonic``) also learns its fundamental against the input's own
(tokenizer.pitch.estimate_f0, YIN): ``f0_weight`` times the error in octaves over the
voiced frames (``f0_error``). Its oscillator's phase is free, so give it spectral losses only
(``waveform_weight: 0``, ``waveform_l2_weight: 0``; configs/audio/demo_codec_harmonic.yaml).

The model the loop trains is :class:`AudioCodecTrainingModule` (the codec and, when enabled, its
discriminator) whose forward returns the whole loss; the export is the codec alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from tokenizer.audio_codec import AudioCodec
from tokenizer.pitch import estimate_f0
from tokenizer.audio_losses import (
    WaveformDiscriminator,
    hinge_discriminator_loss,
    hinge_generator_loss,
    mel_distance,
    mel_loss,
    multi_resolution_stft_loss,
    signal_to_noise_db,
)

from genvid.config import ConfigError, build_model, check_fractions
from genvid.training.task import TrainingTask
from genvid.training.tasks.discriminator import DiscriminatorOptions


@dataclass
class AudioCodecOptions(DiscriminatorOptions):
    """``task_options:`` of an audio codec config: the loss weights and crops, the optional waveform
    discriminator (:class:`DiscriminatorOptions`, off by default) and the harmonic codec's f0 terms."""

    #: seconds of audio per sample and step (a random crop of whole codec frames); None = all
    segment_seconds: float | None = 1.0
    waveform_weight: float = 1.0
    #: squared waveform error: measured the fastest start on tones (see tokenizer.audio_losses)
    waveform_l2_weight: float = 10.0
    stft_weight: float = 1.0
    mel_weight: float = 1.0
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0
    #: probability that a step uses a random number of codebooks (so fewer still decode)
    quantizer_dropout: float = 0.5
    stft_fft_sizes: tuple = (256, 512, 1024)
    stft_log_floor: float | None = None
    mel_fft_sizes: tuple = (512, 1024)
    num_mels: int = 64
    #: harmonic codecs: weight of the f0 error (octaves, voiced frames) against the input's YIN f0
    f0_weight: float = 10.0
    #: "absolute" (a pull that stays strong near the target: the upper harmonics line up only when
    #: f0 is right within about 1%) or "squared" (what a codec without ``pitch_input`` needs: from
    #: a random start an absolute error left every f0 at the median of its batch on a tone proxy)
    f0_error: str = "absolute"
    #: harmonic codecs: render the training reconstruction with the input's YIN f0 (the predicted
    #: f0 learns from the f0 term alone). With the predicted f0 a young codec's partials miss the
    #: target's, the spectral loss silences the upper harmonics and their softmax never recovers
    #: (demo pilots: third-harmonic ratio 0.000 for every shape at 600 steps)
    f0_teacher_forcing: bool = False


def f0_error(predicted: torch.Tensor, target: torch.Tensor, voiced: torch.Tensor, kind: str = "absolute") -> torch.Tensor:
    """Mean absolute (``kind="squared"``: squared) error in octaves of ``predicted`` f0
    ``(batch, frames)`` against ``target`` (tokenizer.pitch.estimate_f0 of the input) over the
    ``voiced`` frames (zero when none is)."""
    frames = min(predicted.shape[-1], target.shape[-1])
    error = (predicted[..., :frames].float().log2() - target[..., :frames].log2()).abs()
    if kind == "squared":
        error = error.square()
    weights = voiced[..., :frames].float()
    return (error * weights).sum() / weights.sum().clamp_min(1.0)


class AudioCodecTrainingModule(nn.Module):
    """Codec (+ discriminator) under one optimizer; forward returns ``(loss, logs)``.

    The generator's adversarial term calls the discriminator with detached parameters and the
    discriminator's hinge reads a detached reconstruction, so the two never push each other."""

    def __init__(self, codec: AudioCodec, discriminator: WaveformDiscriminator | None, options: AudioCodecOptions):
        super().__init__()
        self.codec = codec
        self.discriminator = discriminator
        self.options = options

    def forward(self, waveform: torch.Tensor, num_codebooks: int | None, adversarial: bool):
        options = self.options
        target = waveform.float()
        sample_rate = self.codec.config.sample_rate
        harmonic = self.codec.config.synthesis == "harmonic"
        f0_target = estimate_f0(target, sample_rate, self.codec.hop_length) if harmonic else None
        teacher = f0_target[0] if harmonic and options.f0_teacher_forcing else None
        output = self.codec(waveform, num_codebooks, teacher_f0=teacher)
        reconstruction = output.reconstruction.float()
        terms = {
            "waveform_l1": F.l1_loss(reconstruction, target),
            "waveform_l2": F.mse_loss(reconstruction, target),
            "stft": multi_resolution_stft_loss(reconstruction, target, tuple(options.stft_fft_sizes), options.stft_log_floor),
            "mel": mel_loss(reconstruction, target, sample_rate, tuple(options.mel_fft_sizes), options.num_mels),
        }
        loss = (
            options.waveform_weight * terms["waveform_l1"]
            + options.waveform_l2_weight * terms["waveform_l2"]
            + options.stft_weight * terms["stft"]
            + options.mel_weight * terms["mel"]
            + options.commitment_weight * output.commitment_loss
            + options.codebook_weight * output.codebook_loss
        )
        if output.f0 is not None and options.f0_weight:
            terms["f0"] = f0_error(output.f0, *f0_target, options.f0_error)
            loss = loss + options.f0_weight * terms["f0"]
        if self.discriminator is not None and adversarial:
            detached = {name: parameter.detach() for name, parameter in self.discriminator.named_parameters()}
            generator_term = hinge_generator_loss(functional_call(self.discriminator, detached, (reconstruction,)))
            discriminator_term = hinge_discriminator_loss(self.discriminator(target), self.discriminator(reconstruction.detach()))
            loss = loss + options.adversarial_weight * generator_term + discriminator_term
            terms.update(adversarial=generator_term, discriminator=discriminator_term)
        logs = {name: float(value.detach()) for name, value in terms.items()}
        logs["commitment"] = float(output.commitment_loss.detach())
        logs["perplexity"] = float(output.perplexity.detach())
        with torch.no_grad():
            logs["snr_db"] = float(signal_to_noise_db(reconstruction, target).mean())
        return loss, logs


class AudioCodecTask(TrainingTask):
    options_class = AudioCodecOptions
    model_class = AudioCodec

    def __init__(self, model_config: dict[str, Any], options: AudioCodecOptions | None, data_config: Any):
        super().__init__(model_config, options, data_config)
        if self.options.f0_error not in ("absolute", "squared"):
            raise ConfigError(f"task_options.f0_error must be 'absolute' or 'squared', got {self.options.f0_error!r}")
        check_fractions(self.options, ("quantizer_dropout",))
        sample_rate = self.model_config.get("sample_rate", 16000)
        data_rate = getattr(data_config, "audio_sample_rate", None) if data_config is not None else None
        if data_config is not None and data_rate != sample_rate:
            raise ConfigError(
                f"data.audio_sample_rate={data_rate} but the codec's model.sample_rate is {sample_rate}: "
                "set data.audio_sample_rate so that items carry audio at the codec's rate"
            )
        self.device = torch.device("cpu")

    def build_model(self) -> nn.Module:
        codec = build_model(AudioCodec, self.model_config, "model")
        discriminator = WaveformDiscriminator(self.options.discriminator_channels) if self.options.use_discriminator else None
        return AudioCodecTrainingModule(codec, discriminator, self.options)

    def setup(self, device: torch.device) -> None:
        self.device = torch.device(device)

    def _segment(self, waveform: torch.Tensor, hop: int, sample_rate: int, generator) -> torch.Tensor:
        if self.options.segment_seconds is None:
            return waveform
        frames = max(1, int(self.options.segment_seconds * sample_rate) // hop)
        length = frames * hop
        if waveform.shape[-1] <= length:
            return waveform
        generator_device = generator.device if generator is not None else "cpu"
        last_start = (waveform.shape[-1] - length) // hop
        starts = torch.randint(0, last_start + 1, (waveform.shape[0],), generator=generator, device=generator_device) * hop
        return torch.stack([row[start : start + length] for row, start in zip(waveform, starts.tolist())])

    def training_step(self, model, batch, step, generator):
        if "audio" not in batch:
            raise ConfigError("the audio codec trains on sound: set data.audio_sample_rate so that items carry 'audio'")
        module = getattr(model, "module", model)
        codec = module.codec
        audio = batch["audio"]
        if isinstance(audio, list):
            length = min(len(row) for row in audio)
            audio = torch.stack([row[:length] for row in audio])
        waveform = self._segment(audio.float(), codec.hop_length, codec.config.sample_rate, generator).to(self.device)
        generator_device = generator.device if generator is not None else "cpu"
        num_codebooks = None
        if torch.rand((), generator=generator, device=generator_device) < self.options.quantizer_dropout:
            num_codebooks = int(torch.randint(1, codec.num_codebooks + 1, (), generator=generator, device=generator_device))
        adversarial = self.options.adversarial_at(step)
        loss, logs = model(waveform, num_codebooks, adversarial)
        logs["codebooks_used"] = float(num_codebooks or codec.num_codebooks)
        return loss, logs

    def tokens_in_batch(self, batch) -> int:
        audio = batch.get("audio")
        return 0 if audio is None else sum(len(row) for row in audio)

    def preview(self, model, step, output_dir, generator):
        """Write a synthetic tone and its reconstruction as wav, with their SNR and mel distance."""
        from genvid.data.audio_io import write_audio
        from genvid.data.synthetic import render_audio

        codec = getattr(model, "module", model).codec
        rate = codec.config.sample_rate
        tone = render_audio("red", "circle", "up", num_frames=17, sample_rate=rate)[None].to(self.device)
        was_training = codec.training
        codec.eval()
        with torch.no_grad():
            reconstruction = codec.decode(codec.encode(tone))[:, : tone.shape[-1]]
        codec.train(was_training)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        write_audio(output_dir / f"step{step:07d}_target.wav", tone[0], rate)
        write_audio(output_dir / f"step{step:07d}_reconstruction.wav", reconstruction[0], rate)
        snr = float(signal_to_noise_db(reconstruction, tone)[0])
        distance = float(mel_distance(reconstruction, tone, rate)[0])
        (output_dir / f"step{step:07d}.txt").write_text(f"snr_db {snr:.2f}\nmel_distance {distance:.3f}\n")

    def export(self, model, output_dir):
        codec = getattr(model, "module", model).codec
        codec.save_pretrained(Path(output_dir), safe_serialization=True)
