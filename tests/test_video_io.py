import numpy as np
import pytest
import torch

from genvid.data import (
    read_frames,
    read_video,
    resize_and_center_crop,
    video_to_uint8,
    write_contact_sheet,
    write_video,
)
from genvid.data.synthetic import render_clip
from genvid.errors import GenvidError
from genvid.eval.metrics import psnr


@pytest.fixture(scope="module")
def clip():
    return render_clip("orange", "circle", "right", num_frames=9, height=32, width=48, seed=1)


def test_mp4_round_trip_within_codec_tolerance(tmp_path, clip):
    path = write_video(tmp_path / "clip.mp4", clip, fps=8)
    back = read_video(path)
    assert back.shape == clip.shape and back.dtype == torch.float32
    assert back.min() >= -1 and back.max() <= 1
    assert psnr(back, clip) > 30
    assert (back - clip).abs().mean() < 0.03


def test_frame_selection(tmp_path, clip):
    path = write_video(tmp_path / "clip.mp4", clip)
    whole = read_video(path)
    picked = read_video(path, num_frames=3, frame_stride=2, start=1)
    assert picked.shape[1] == 3
    torch.testing.assert_close(picked, whole[:, 1:7:2])
    # Asking for more than the file has gives what there is.
    assert read_video(path, num_frames=50).shape[1] == clip.shape[1]


def test_gif_round_trip(tmp_path, clip):
    path = write_video(tmp_path / "clip.gif", clip, fps=10)
    back = read_video(path)
    assert back.shape == clip.shape
    assert (back - clip).abs().mean() < 0.05
    assert read_video(path, num_frames=2, frame_stride=3).shape[1] == 2


def test_image_reads_as_one_frame(tmp_path, clip):
    from PIL import Image

    Image.fromarray(video_to_uint8(clip)[0]).save(tmp_path / "frame.png")
    image = read_video(tmp_path / "frame.png", num_frames=17)
    assert image.shape == (3, 1, 32, 48)
    torch.testing.assert_close(image, clip[:, :1], atol=1 / 127, rtol=0)


def test_odd_sizes_are_padded_for_mp4(tmp_path):
    video = torch.rand(3, 3, 15, 21) * 2 - 1
    back = read_frames(write_video(tmp_path / "odd.mp4", video))
    assert back.shape == (3, 16, 22, 3)


def test_uint8_input_and_conversion(tmp_path, clip):
    frames = video_to_uint8(clip)
    assert frames.dtype == np.uint8 and frames.shape == (9, 32, 48, 3)
    back = read_frames(write_video(tmp_path / "u8.mp4", frames))
    assert back.shape == frames.shape


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt", "corrupt_png"])
def test_bad_files_give_one_line_error_naming_the_file(tmp_path, kind):
    path = tmp_path / ("bad.png" if kind == "corrupt_png" else "bad.mp4")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind != "missing":
        path.write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(GenvidError) as error:
        read_video(path)
    message = str(error.value)
    assert str(path) in message and "\n" not in message


def test_resize_and_center_crop():
    video = torch.zeros(3, 2, 40, 80)
    video[..., 20:60] = 1  # a centred bright band that the crop must keep
    out = resize_and_center_crop(video, 16, 16)
    assert out.shape == (3, 2, 16, 16)
    assert out.mean() > 0.9
    batched = resize_and_center_crop(video[None].expand(2, -1, -1, -1, -1), 20, 30)
    assert batched.shape == (2, 3, 2, 20, 30)


def test_contact_sheet_of_one_and_many(tmp_path, clip):
    from PIL import Image

    sheet = Image.open(write_contact_sheet(tmp_path / "one.png", clip, padding=0))
    assert sheet.size == (48 * 9, 32)
    rows = Image.open(write_contact_sheet(tmp_path / "rows.png", [clip, clip * 0.5], columns=5, padding=0))
    assert rows.size == (48 * 5, 32 * 4)  # each 9-frame video wraps onto two grid rows
    with pytest.raises(GenvidError):
        write_contact_sheet(tmp_path / "bad.png", [clip, clip[..., :16]])


def test_audio_wav_and_mp4_soundtrack(tmp_path, clip):
    import math

    from genvid.data.audio_io import read_audio, write_audio

    sample_rate = 8000
    time = torch.arange(int(sample_rate * clip.shape[1] / 8)) / sample_rate
    tone = 0.5 * torch.sin(2 * math.pi * 440 * time)
    wav = read_audio(write_audio(tmp_path / "tone.wav", tone, sample_rate), sample_rate)
    assert (wav - tone).abs().max() < 1e-3
    assert read_audio(tmp_path / "tone.wav", sample_rate, start_seconds=0.25, duration_seconds=0.5).shape == (4000,)
    path = write_video(tmp_path / "with_sound.mp4", clip, fps=8, audio=tone, sample_rate=sample_rate)
    assert read_video(path).shape == clip.shape
    soundtrack = read_audio(path, sample_rate)
    length = min(len(soundtrack), len(tone))
    assert torch.nn.functional.cosine_similarity(soundtrack[:length], tone[:length], dim=0) > 0.95
    with pytest.raises(GenvidError, match="only .mp4"):
        write_video(tmp_path / "x.gif", clip, audio=tone)
    with pytest.raises(GenvidError, match="bad.wav"):
        (tmp_path / "bad.wav").write_bytes(b"RIFFnonsense" * 4)
        read_audio(tmp_path / "bad.wav")


def test_late_start_seeks_to_the_exact_frame(tmp_path):
    from genvid.data import video_io

    frames = torch.full((3, video_io.SEEK_AFTER_FRAMES + 12, 16, 16), -1.0)
    for index in range(frames.shape[1]):  # a per-frame marker: a bright column that walks across
        frames[:, index, :, index % 16] = 1
        frames[:, index, :8, :] = index / frames.shape[1] * 2 - 1
    path = write_video(tmp_path / "long.mp4", frames, fps=24)
    whole = read_video(path)
    start = video_io.SEEK_AFTER_FRAMES + 2
    torch.testing.assert_close(read_video(path, num_frames=3, frame_stride=2, start=start), whole[:, start : start + 6 : 2])
