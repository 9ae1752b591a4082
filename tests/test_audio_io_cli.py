"""Audio IO (missing / silent tracks, muxed mp4) and `genvid generate` with sound (tiny random pipeline)."""

import logging

import pytest
import torch

from genvid.cli import main
from genvid.data import read_video, render_clip, write_video
from genvid.data.audio_io import as_waveform, has_audio, read_audio, write_audio
from genvid.data.synthetic import render_audio
from genvid.errors import GenvidError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_io")
    clip = render_clip("red", "circle", "up", num_frames=5, height=16, width=16)
    tone = render_audio("red", "circle", "up", num_frames=5)  # 5 frames at 8 fps = 10000 samples at 16 kHz
    write_video(root / "silent_film.mp4", clip, fps=8)
    write_video(root / "with_sound.mp4", clip, fps=8, audio=tone, sample_rate=16000)
    write_audio(root / "tone.wav", tone, 16000)
    return root


def test_missing_track_is_one_clear_line_and_silence_a_warning(files, tmp_path, caplog):
    with pytest.raises(GenvidError, match="has no audio track$"):
        read_audio(files / "silent_film.mp4")
    assert not has_audio(files / "silent_film.mp4") and has_audio(files / "with_sound.mp4")
    write_audio(tmp_path / "quiet.wav", torch.zeros(4000), 16000)
    with caplog.at_level(logging.WARNING, logger="genvid.data"):
        assert read_audio(tmp_path / "quiet.wav").abs().max() == 0
    assert "silent" in caplog.text
    with pytest.raises(GenvidError, match="not found"):
        read_audio(tmp_path / "nothing.wav")


def test_muxed_mp4_reads_back_both_streams_at_the_right_length(files):
    frames = read_video(files / "with_sound.mp4")
    sound = read_audio(files / "with_sound.mp4", 16000)
    assert frames.shape[1] == 5
    assert abs(sound.shape[0] - 10000) < 1600  # AAC pads its last frame; within 0.1 s
    resampled = read_audio(files / "tone.wav", 8000)  # resampled by ffmpeg
    assert resampled.shape == (5000,)
    assert as_waveform(files / "tone.wav").shape == (1, 10000)
    with pytest.raises(GenvidError, match="mono"):
        as_waveform(torch.zeros(2, 3, 4))


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    from tokenizer import AudioCodec, VideoTokenizer

    from genvid.models.lm import VideoLanguageModel
    from genvid.pipelines.ar import GenVidARPipeline
    from genvid.text import TextEncoder

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(bottleneck="fsq", fsq_levels=[4, 4], base_channels=8, channel_multipliers=[1, 2, 2, 2],
                               num_res_blocks=1, num_mid_blocks=1).eval()
    codec = AudioCodec(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=2,
                       codebook_size=16, dilations=[1]).eval()
    text_encoder = TextEncoder(max_length=8)
    model = VideoLanguageModel(codebook_size=16, num_audio_codebooks=2, audio_codebook_size=16, hidden_size=32,
                               num_layers=1, num_heads=2, text_hidden_size=text_encoder.hidden_size,
                               max_sequence_length=96).eval()
    folder = tmp_path_factory.mktemp("pipelines") / "ar"
    GenVidARPipeline(video_tokenizer=tokenizer, text_encoder=text_encoder, transformer=model,
                     audio_codec=codec).save_pretrained(folder)
    return folder


def test_generate_v2a_writes_wav_or_the_clip_with_its_new_sound(files, pipeline_folder, tmp_path):
    common = ["--model", "ar", "--pipeline", str(pipeline_folder), "--task", "v2a", "--video", str(files / "silent_film.mp4")]
    assert main(["generate", *common, "--output", str(tmp_path / "sound.wav")]) == 0
    assert read_audio(tmp_path / "sound.wav").shape == (10000,)
    assert main(["generate", *common, "--output", str(tmp_path / "clip.mp4")]) == 0
    assert read_video(tmp_path / "clip.mp4").shape[1] == 5
    assert has_audio(tmp_path / "clip.mp4")
    assert main(["generate", *common, "--output", str(tmp_path / "clip.gif")]) == 2


def test_generate_a2v_with_audio_and_a_file_without_sound(files, pipeline_folder, tmp_path, capsys):
    common = ["--model", "ar", "--pipeline", str(pipeline_folder), "--num-frames", "5", "--height", "16", "--width", "16"]
    assert main(["generate", *common, "--audio", str(files / "tone.wav"), "--output", str(tmp_path / "a2v.mp4")]) == 0
    assert read_video(tmp_path / "a2v.mp4").shape[1] == 5 and has_audio(tmp_path / "a2v.mp4")
    capsys.readouterr()
    assert main(["generate", *common, "--audio", str(files / "silent_film.mp4"), "--output", str(tmp_path / "x.mp4")]) == 2
    assert "has no audio track" in capsys.readouterr().err
