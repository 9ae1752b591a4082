import json
import logging

import pytest
import torch
from torch.utils.data import DataLoader

from genvid.data import DataConfig, FolderVideoDataset, build_dataset, collate_videos, read_manifest, write_video
from genvid.data.synthetic import render_clip
from genvid.errors import GenvidError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    (root / "clips").mkdir()
    red = render_clip("red", "square", "left", num_frames=12, height=40, width=56, seed=0)
    blue = render_clip("blue", "circle", "up", num_frames=12, height=40, width=56, seed=1)
    write_video(root / "clips" / "red.mp4", red)
    write_video(root / "clips" / "blue.mp4", blue)
    (root / "clips" / "broken.mp4").write_bytes(b"\x00\x01garbage" * 50)
    rows = [
        {"video": "clips/red.mp4", "caption": "a red square moving left"},
        {"video": "clips/broken.mp4", "caption": "nothing to see"},
        {"video": "clips/blue.mp4", "caption": "a blue circle moving up", "audio": "clips/blue.wav"},
    ]
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def test_manifest_paths_resolve_against_its_folder(folder):
    rows = read_manifest(folder / "manifest.jsonl")
    assert rows[0]["video"] == str(folder / "clips" / "red.mp4")
    assert rows[2]["audio"] == str(folder / "clips" / "blue.wav")
    csv_path = folder / "manifest.csv"
    csv_path.write_text('video,caption\nclips/red.mp4,"a red square, moving left"\n')
    assert read_manifest(csv_path)[0]["caption"] == "a red square, moving left"
    with pytest.raises(GenvidError, match="no 'video'"):
        (folder / "bad.jsonl").write_text('{"caption": "x"}\n')
        read_manifest(folder / "bad.jsonl")


def test_corrupt_file_is_skipped_counted_and_loader_keeps_going(folder, caplog):
    dataset = FolderVideoDataset(folder / "manifest.jsonl", num_frames=5, height=16, width=16, frame_stride=2)
    with caplog.at_level(logging.WARNING):
        batches = list(DataLoader(dataset, batch_size=3, collate_fn=collate_videos, num_workers=0))
    assert dataset.num_skipped == 1
    assert "broken.mp4" in caplog.text
    videos = torch.cat([batch["video"] for batch in batches])
    captions = [caption for batch in batches for caption in batch["caption"]]
    assert videos.shape[1:] == (3, 5, 16, 16)
    assert {"a red square moving left", "a blue circle moving up"} <= set(captions)
    assert "nothing to see" not in captions


def test_audio_aligned_with_sampled_frames(folder, tmp_path):
    from genvid.data.synthetic import SyntheticVideoDataset

    source = SyntheticVideoDataset("all", num_samples=1, num_frames=12, height=16, width=16, fps=8, audio_sample_rate=8000)[0]
    write_video(tmp_path / "sound.mp4", source["video"], fps=8, audio=source["audio"], sample_rate=8000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"video": "sound.mp4", "caption": source["caption"]}) + "\n")
    dataset = FolderVideoDataset(tmp_path / "m.jsonl", num_frames=4, height=16, width=16, frame_stride=2, seed=3, audio_sample_rate=8000)
    item = dataset[0]
    assert item["audio"].shape == (8000,)  # 4 frames x stride 2 at 8 fps = 1 s at 8 kHz
    start = dataset._start_frame(0, 12)
    expected = source["audio"][start * 1000 : start * 1000 + 8000]  # 1000 samples per frame
    assert torch.nn.functional.cosine_similarity(item["audio"][: len(expected)], expected, dim=0) > 0.95
    without = FolderVideoDataset(folder / "manifest.jsonl", num_frames=2, height=16, width=16)
    assert without[2]["audio_path"].endswith("blue.wav") and "audio" not in without[2]


def test_frame_sampling_and_padding(folder):
    dataset = FolderVideoDataset(folder / "manifest.jsonl", num_frames=4, height=40, width=56, frame_stride=3, random_start=False)
    item = dataset[0]
    assert item["video"].shape == (3, 4, 40, 56)
    long = FolderVideoDataset(folder / "manifest.jsonl", num_frames=20, height=16, width=16)
    clip = long[0]["video"]
    assert clip.shape[1] == 20
    torch.testing.assert_close(clip[:, -1], clip[:, -5])  # short clip: last frame repeated


def test_random_start_is_deterministic(folder):
    make = lambda seed: FolderVideoDataset(folder / "manifest.jsonl", num_frames=3, height=16, width=16, seed=seed)
    assert torch.equal(make(0)[2]["video"], make(0)[2]["video"])


def test_images_are_one_frame_and_mixed_batches_fail_clearly(folder):
    from PIL import Image

    Image.new("RGB", (30, 20), (200, 10, 10)).save(folder / "still.png")
    (folder / "mixed.jsonl").write_text(
        json.dumps({"video": "still.png", "caption": "a red picture"}) + "\n"
        + json.dumps({"video": "clips/red.mp4", "caption": "a red square"}) + "\n"
    )
    config = DataConfig(source="folder", manifest=str(folder / "mixed.jsonl"), num_frames=5, height=16, width=16)
    dataset = build_dataset(config)
    assert dataset[0]["video"].shape == (3, 1, 16, 16)
    with pytest.raises(GenvidError, match="differ in shape"):
        collate_videos([dataset[0], dataset[1]])
    images_only = build_dataset(DataConfig(**{**config.__dict__, "media": "image"}))
    assert len(images_only) == 1


def test_unreadable_everything_and_missing_manifest(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"nope")
    (tmp_path / "m.jsonl").write_text(json.dumps({"video": "bad.mp4", "caption": ""}) + "\n")
    with pytest.raises(GenvidError, match="none of its 1 files"):
        FolderVideoDataset(tmp_path / "m.jsonl")[0]
    with pytest.raises(GenvidError, match="manifest not found"):
        build_dataset(DataConfig(source="folder", manifest=str(tmp_path / "nope.jsonl")))
    with pytest.raises(GenvidError, match="manifest is not set"):
        build_dataset(DataConfig(source="folder"))
