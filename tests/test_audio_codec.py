"""AudioCodec: brief training beats silence, quantizer dropout, chunked == whole, alignment math, save/load."""

import pytest
import torch

from tokenizer import AudioCodec
from tokenizer.audio_losses import mel_spectral_distance, signal_to_noise_db

TINY = dict(base_channels=8, channel_multipliers=[1, 2, 2, 4], latent_dim=16, num_codebooks=3, codebook_size=32,
            dilations=[1])
# a short hop (40 samples = 50 codec frames per video frame) learns in seconds; the default hop 400 needs minutes
FAST = dict(TINY, strides=[2, 2, 2, 5])


@pytest.fixture(scope="module")
def trained():
    """A tiny codec fitted for a few seconds on synthetic tones (the task's own training module)."""
    from genvid.data.synthetic import render_audio
    from genvid.training.tasks.audio_codec import AudioCodecOptions, AudioCodecTrainingModule

    torch.manual_seed(0)
    codec = AudioCodec(**FAST)
    options = AudioCodecOptions(stft_fft_sizes=(256, 512), mel_fft_sizes=(512,))
    module = AudioCodecTrainingModule(codec, None, options).train()
    tones = torch.stack([render_audio(color, shape, "up", num_frames=2, seed=index)
                         for index, (color, shape) in enumerate([("red", "circle"), ("cyan", "square")])])
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(150):
        levels = None if step % 2 else int(torch.randint(1, 4, (), generator=generator))  # quantizer dropout
        loss, _ = module(tones, levels, adversarial=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return codec.eval(), tones


def test_round_trip_beats_silence(trained):
    codec, tones = trained
    with torch.no_grad():
        reconstruction = codec.decode(codec.encode(tones))
    assert reconstruction.shape == tones.shape  # 2 frames at 8 fps = 4000 samples = 100 codec frames of 40
    silence = torch.zeros_like(tones)
    assert torch.allclose(mel_spectral_distance(silence, tones, 16000), torch.ones(2))
    assert (mel_spectral_distance(reconstruction, tones, 16000) < 0.6).all()
    assert (signal_to_noise_db(reconstruction, tones) > 3.0).all()  # silence: 0 dB


def test_fewer_codebooks_still_decode(trained):
    codec, tones = trained
    with torch.no_grad():
        codes = codec.encode(tones)
        assert codes.shape == (2, 3, 100) and codes.dtype == torch.long
        assert torch.equal(codec.encode(tones, num_codebooks=1), codes[:, :1])  # residual levels are a prefix
        coarse = codec.decode(codes[:, :1])
    assert coarse.shape == tones.shape
    assert (mel_spectral_distance(coarse, tones, 16000) < 0.85).all()
    with pytest.raises(ValueError, match="codes must be in"):
        codec.decode(codes + 32)


def test_chunked_encode_equals_whole(trained):
    codec, tones = trained
    with torch.no_grad():
        whole = codec.encode(tones)
        for chunk in (7, 40):
            assert torch.equal(codec.encode(tones, chunk_frames=chunk), whole)


@pytest.mark.parametrize("num_frames", [1, 5, 9, 17, 33])
def test_codes_align_with_video_latent_frames(num_frames):
    codec = AudioCodec(**TINY)  # 16 kHz, hop 400, video at 8 fps, temporal compression 4
    assert codec.hop_length == 400 and codec.frames_per_video_frame() == 5
    latent_frames = 1 + (num_frames - 1) // 4
    samples = num_frames * 2000  # a synthetic clip's soundtrack: num_frames / 8 s at 16 kHz
    with torch.no_grad():
        codes = codec.encode(torch.zeros(1, samples))
    assert codes.shape[-1] == codec.frames_for_video(num_frames) == codec.frames_for_latent_frames(latent_frames)
    spans = [codec.latent_frame_span(index) for index in range(latent_frames)]
    assert spans[0] == (0, 5)  # the lone first video frame: 0.125 s
    assert all(end - start == 20 for start, end in spans[1:])  # 4 video frames: 0.5 s
    assert spans[-1][1] == codes.shape[-1] and codec.samples_for_video(num_frames) == samples
    assert codec.decode(codes).shape[-1] == samples


def test_a_hop_that_splits_a_video_frame_is_a_clear_error():
    codec = AudioCodec(**dict(TINY, strides=[2, 4, 4, 10]))  # hop 320: 6.25 codec frames per video frame
    with pytest.raises(ValueError, match="not a whole number"):
        codec.frames_per_video_frame()


def test_save_load_round_trip(trained, tmp_path):
    codec, tones = trained
    codec.save_pretrained(tmp_path / "codec")
    loaded = AudioCodec.from_pretrained(tmp_path / "codec")
    with torch.no_grad():
        assert torch.equal(loaded.encode(tones), codec.encode(tones))
    assert (tmp_path / "codec" / "diffusion_pytorch_model.safetensors").is_file()


def test_codec_task_config_and_registry():
    from genvid.config import ConfigError, load_config
    from genvid.training.loop import build_task

    config = load_config("configs/audio/tiny.yaml", ["training.max_steps=1"])
    task, data, _ = build_task(config)
    assert type(task).__name__ == "AudioCodecTask" and data.audio_sample_rate == 16000
    with pytest.raises(ConfigError, match="audio_sample_rate"):
        build_task(load_config("configs/audio/tiny.yaml", ["data.audio_sample_rate=8000"]))
    lm_task, lm_data, _ = build_task(load_config("configs/audio/lm_tiny.yaml"))
    assert lm_task.has_audio_codec and lm_data.audio_sample_rate == 16000


def test_optional_discriminator_trains_both_sides_without_leaking():
    from tokenizer.audio_losses import WaveformDiscriminator

    from genvid.training.tasks.audio_codec import AudioCodecOptions, AudioCodecTrainingModule

    torch.manual_seed(0)
    module = AudioCodecTrainingModule(AudioCodec(**FAST), WaveformDiscriminator(channels=4, num_layers=2),
                                      AudioCodecOptions(use_discriminator=True, stft_fft_sizes=(256,), mel_fft_sizes=(512,)))
    loss, logs = module(torch.randn(2, 2000) * 0.3, None, adversarial=True)
    loss.backward()
    assert torch.isfinite(loss) and {"adversarial", "discriminator"} <= set(logs)
    assert module.discriminator.scales[0][0].weight.grad.abs().sum() > 0
    assert module.codec.decoder.layers[-2].weight.grad.abs().sum() > 0


def test_spectral_loss_in_decibels_weighs_a_lost_timbre_over_a_loudness_error():
    """Under ``log(1 + |X|)`` spectra a tone stripped of its harmonics costs about as much as the same
    tone 20% too quiet; compared in dB below the clip's peak (``log_floor``), losing the timbre costs
    clearly more than the loudness slip."""
    from genvid.data.synthetic import render_audio
    from tokenizer.audio_losses import multi_resolution_stft_loss

    triangle = render_audio("green", "triangle", "left", num_frames=4, seed=1)[None]
    sine = render_audio("green", "circle", "left", num_frames=4, seed=1)[None]  # same pitch, phase, loudness

    def timbre_over_loudness(log_floor):
        timbre = multi_resolution_stft_loss(sine, triangle, log_floor=log_floor)
        loudness = multi_resolution_stft_loss(0.8 * triangle, triangle, log_floor=log_floor)
        return float(timbre / loudness)

    assert timbre_over_loudness(None) < 1.6  # the round-2 recipe: the harmonics barely count
    assert timbre_over_loudness(1e-3) > 2.0
    assert float(multi_resolution_stft_loss(triangle, triangle, log_floor=1e-3)) < 1e-4
