"""Bundled real photographs, camera-motion clips, and the real_images / mixed data sources."""

import pytest
import torch

from genvid.data import DataConfig, build_dataset, collate_videos
from genvid.data.camera_motion import CameraMotionDataset, camera_motion_clip, heldout_real_clips
from genvid.data.config import MixtureDataset
from genvid.data.real_images import HELDOUT_IMAGES, bundled_images, load_image
from genvid.errors import GenvidError


@pytest.fixture(scope="module")
def photograph():
    return load_image(bundled_images("train")[0])


def test_clip_has_the_asked_shape_and_range(photograph):
    clip = camera_motion_clip(photograph, num_frames=9, height=24, width=40, seed=1)
    assert clip.shape == (3, 9, 24, 40)
    assert clip.min() >= -1 and clip.max() <= 1
    assert camera_motion_clip(photograph, num_frames=1, height=16, width=16).shape == (3, 1, 16, 16)


def test_clip_is_deterministic_per_seed(photograph):
    first = camera_motion_clip(photograph, num_frames=5, height=16, width=16, seed=7)
    assert torch.equal(first, camera_motion_clip(photograph, num_frames=5, height=16, width=16, seed=7))
    assert not torch.equal(first, camera_motion_clip(photograph, num_frames=5, height=16, width=16, seed=8))


def test_still_clip_does_not_move_and_moving_clips_do(photograph):
    still = camera_motion_clip(photograph, num_frames=5, height=16, width=16, seed=3, still=True)
    assert torch.equal(still[:, 0], still[:, -1])
    moved = [camera_motion_clip(photograph, 5, 16, 16, seed=seed) for seed in range(6)]
    assert any((clip[:, 0] - clip[:, -1]).abs().mean() > 1e-3 for clip in moved)


def test_bad_image_is_a_clear_error():
    with pytest.raises(GenvidError, match="expects an image"):
        camera_motion_clip(torch.zeros(3, 4, 4, 4))


def test_heldout_images_never_in_training_split():
    train = bundled_images("train")
    heldout = bundled_images("heldout")
    assert {image.name for image in heldout} == set(HELDOUT_IMAGES)
    assert not {image.name for image in train} & set(HELDOUT_IMAGES)
    assert not {image.path for image in train} & {image.path for image in heldout}
    assert len(train) >= 10
    dataset = CameraMotionDataset("train", num_samples=3 * len(train), num_frames=1, height=8, width=8)
    assert all(dataset[index]["image"] not in HELDOUT_IMAGES for index in range(len(dataset)))
    with pytest.raises(GenvidError, match="split"):
        bundled_images("validation")


def test_heldout_clips_are_fixed():
    first = heldout_real_clips(num_frames=5, height=16, width=16, clips_per_image=1)
    again = heldout_real_clips(num_frames=5, height=16, width=16, clips_per_image=1)
    assert [name for name, _ in first] == [f"{name}#0" for name in sorted(HELDOUT_IMAGES)]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(first, again))


def test_real_images_and_mixed_sources_batch():
    real = build_dataset(DataConfig(source="real_images", num_samples=4, num_frames=5, height=16, width=16))
    batch = collate_videos([real[index] for index in range(4)])
    assert batch["video"].shape == (4, 3, 5, 16, 16) and batch["caption"][0].startswith("a photograph")
    mixed = build_dataset(dict(source="mixed", num_samples=40, num_frames=5, height=16, width=16, synthetic_fraction=0.5))
    assert isinstance(mixed, MixtureDataset)
    parts = [mixed.part_of(index) for index in range(40)]
    assert set(parts) == {0, 1}
    synthetic_index = parts.index(1)
    assert "photograph" not in mixed[synthetic_index]["caption"]
    only_real = build_dataset(dict(source="mixed", num_samples=10, num_frames=1, height=8, width=8, synthetic_fraction=0.0))
    assert {only_real.part_of(index) for index in range(10)} == {0}
    with pytest.raises(GenvidError, match="synthetic_fraction"):
        build_dataset(dict(source="mixed", synthetic_fraction=1.5))
