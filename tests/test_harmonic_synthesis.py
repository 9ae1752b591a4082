"""The harmonic-plus-noise decoder (AudioCodec(synthesis="harmonic")) and its f0 target (tokenizer.pitch)."""

import math

import pytest
import torch

from tokenizer import AudioCodec
from tokenizer.harmonic_synthesis import harmonic_oscillator
from tokenizer.pitch import estimate_f0

SAMPLE_RATE = 16000
# hop 80 (strides 2*2*4*5): a proxy that learns in seconds; the demo codec's hop is 400
HARMONIC = dict(base_channels=8, channel_multipliers=[1, 2, 2, 4], strides=[2, 2, 4, 5], latent_dim=16,
                num_codebooks=2, codebook_size=32, dilations=[1], synthesis="harmonic", synthesis_channels=32,
                num_harmonics=16, pitch_input=True, spectral_input=True)


@pytest.mark.parametrize("frequency", [110.0, 261.6, 440.0, 785.0])
def test_f0_target_of_a_pure_tone_is_its_frequency(frequency):
    time = torch.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    f0, voiced = estimate_f0(0.3 * torch.sin(2 * math.pi * frequency * time)[None], SAMPLE_RATE, 400)
    assert f0.shape == voiced.shape == (1, 20)
    assert voiced[0, 1:-2].all()  # the last windows run past the clip's end
    assert (f0[0, 1:-2] / frequency - 1).abs().max() < 0.02


def test_f0_target_follows_a_glide_and_finds_no_pitch_in_silence():
    from genvid.data.synthetic import render_audio

    f0, voiced = estimate_f0(render_audio("red", "square", "up", num_frames=17, seed=3)[None], SAMPLE_RATE, 400)
    assert voiced[0, 2:-3].all()
    assert abs(f0[0, 2] / 261.6 - 1) < 0.03 and abs(f0[0, -4] / (261.6 * 1.5) - 1) < 0.05  # a fifth up
    assert not estimate_f0(torch.zeros(1, 8000), SAMPLE_RATE, 400)[1].any()
    with pytest.raises(ValueError, match="batch, samples"):
        estimate_f0(torch.zeros(8000), SAMPLE_RATE, 400)


def test_oscillator_silences_harmonics_at_or_above_nyquist():
    samples = 4096
    f0 = torch.full((1, samples), 3000.0)
    wave = harmonic_oscillator(f0, torch.full((1, 4, samples), 0.25), SAMPLE_RATE)  # 3, 6 kHz heard; 9, 12 kHz not
    spectrum = torch.fft.rfft(wave[0] * torch.hann_window(samples)).abs()
    frequencies = torch.fft.rfftfreq(samples, 1 / SAMPLE_RATE)
    for heard in (3000.0, 6000.0):
        assert spectrum[(frequencies - heard).abs() < 30].max() > 100
    # 9 kHz would alias to 7 kHz and 12 kHz to 4 kHz
    for alias in (7000.0, 4000.0):
        assert spectrum[(frequencies - alias).abs() < 60].max() < 1e-2 * spectrum.max()


def test_overfit_keeps_triangle_and_square_apart():
    """A waveform decoder drew one waveform per pitch (genvid/demo/README.md, "Sound"); the harmonic
    one, trained by the codec task's own module on a triangle and a square of one pitch, brings back
    their third-harmonic ratios apart (true 0.11 / 0.28) and the pitch right."""
    from genvid.data.synthetic import render_audio
    from genvid.eval.audio_analyzer import analyze_audio
    from genvid.training.tasks.audio_codec import AudioCodecOptions, AudioCodecTrainingModule

    torch.manual_seed(0)
    codec = AudioCodec(**HARMONIC)
    options = AudioCodecOptions(stft_fft_sizes=(256, 512), mel_fft_sizes=(512,), waveform_weight=0, waveform_l2_weight=0,
                                f0_teacher_forcing=True)
    module = AudioCodecTrainingModule(codec, None, options).train()
    tones = torch.stack([render_audio("green", shape, "left", num_frames=2, seed=index)
                         for index, shape in enumerate(("triangle", "square"))])
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(120):
        loss, logs = module(tones, None, adversarial=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert "f0" in logs
    with torch.no_grad():
        decoded = codec.decode(codec.encode(tones.float()))
    triangle, square = (analyze_audio(wave, SAMPLE_RATE) for wave in decoded)
    assert triangle.color == square.color == "green"
    assert square.harmonic_ratio - triangle.harmonic_ratio > 0.05  # measured 0.165 / 0.247
    assert (triangle.shape, square.shape) == ("triangle", "square")


def test_harmonic_codec_saves_and_loads_and_the_default_stays_waveform(tmp_path):
    from tokenizer.audio_codec import AudioDecoder
    from tokenizer.harmonic_synthesis import HarmonicDecoder

    torch.manual_seed(0)
    codec = AudioCodec(**HARMONIC).eval()
    tones = 0.3 * torch.sin(2 * math.pi * 330 * torch.arange(4000) / SAMPLE_RATE)[None]
    codec.save_pretrained(tmp_path / "codec")
    loaded = AudioCodec.from_pretrained(tmp_path / "codec").eval()
    assert isinstance(loaded.decoder, HarmonicDecoder)
    with torch.no_grad():
        assert torch.equal(loaded.decode(loaded.encode(tones)), codec.decode(codec.encode(tones)))  # noise is seeded
    # a codec saved before the option (no "synthesis" in its config) builds the waveform decoder
    old = AudioCodec(**{key: value for key, value in HARMONIC.items() if key not in
                        ("synthesis", "synthesis_channels", "num_harmonics", "pitch_input", "spectral_input")})
    assert isinstance(old.decoder, AudioDecoder) and old.pitch_projection is None and old.spectral_projection is None
    with pytest.raises(ValueError, match="synthesis must be"):
        AudioCodec(**dict(HARMONIC, synthesis="granular"))


def test_pitch_and_spectral_inputs_keep_chunked_encoding_equal_to_whole():
    """The encoder's f0 and log-mel features read causal windows; the receptive field covers them."""
    from genvid.data.synthetic import render_audio

    torch.manual_seed(0)
    codec = AudioCodec(**dict(HARMONIC, strides=[2, 4, 5, 10])).eval()
    tone = render_audio("blue", "square", "up", num_frames=9, seed=2)[None]
    with torch.no_grad():
        whole = codec.encode(tone)
        assert torch.equal(codec.encode(tone, chunk_frames=7), whole)
        for projection in (codec.pitch_projection, codec.spectral_projection):  # both features reach the codes
            weight = projection.weight.clone()
            projection.weight.zero_()
            assert not torch.equal(codec.encode(tone), whole)
            projection.weight.copy_(weight)
    assert codec.receptive_field >= 1024 - 400
