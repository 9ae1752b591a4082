"""Shape buckets: best fit, batch sizes, one bucket a batch, the same order from a seed (and after
a resume, and on every rank), images and clips in one run, unreadable files skipped."""

import json

import numpy as np
import pytest
import torch

from genvid.data import build_dataset, collate_videos, write_video
from genvid.data.buckets import Bucket, BucketConfig, assign_buckets, best_bucket, make_buckets
from genvid.data.synthetic import render_clip
from genvid.errors import GenvidError
from genvid.training.data import BucketBatchSampler, stream_loader


@pytest.fixture(scope="module")
def varied_folder(tmp_path_factory):
    """Clips of three shapes and lengths, two images, one corrupt file."""
    root = tmp_path_factory.mktemp("varied")
    rows = []
    shapes = [(12, 24, 40), (20, 32, 32), (8, 40, 24)]
    for index in range(9):
        frames, height, width = shapes[index % 3]
        name = f"clip{index}.mp4"
        write_video(root / name, render_clip("red", "circle", "left", frames, height, width, seed=index))
        rows.append({"video": name, "caption": f"clip {index}"})
    for index in range(2):
        name = f"image{index}.png"
        write_video(root / name, render_clip("blue", "square", "up", 1, 36, 36, seed=index))
        rows.append({"video": name, "caption": f"image {index}"})
    (root / "broken.mp4").write_bytes(b"not a video" * 20)
    rows.append({"video": "broken.mp4", "caption": "broken", "num_frames": 12, "height": 24, "width": 40, "fps": 8})
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


BUCKETS = {"shapes": [[1, 32, 32], [5, 16, 32], [9, 32, 32], [5, 32, 16]], "max_tokens": 24}


def test_best_fit_rules():
    buckets = [Bucket(1, 32, 32), Bucket(5, 16, 32), Bucket(9, 16, 32), Bucket(9, 32, 32), Bucket(5, 64, 32)]
    assert best_bucket(buckets, 1, 100, 100, is_image=True) == 0  # images: 1-frame buckets only
    assert best_bucket(buckets, 20, 90, 160, is_image=False) == 2  # landscape: 2:1 buckets, most frames
    assert best_bucket(buckets, 6, 90, 160, is_image=False) == 1  # too short for 9 frames
    assert best_bucket(buckets, 20, 64, 64, is_image=False) == 3  # square
    assert best_bucket(buckets, 20, 40, 20, is_image=False) == 4  # portrait: the only 1:2 bucket even if it upscales
    assert best_bucket(buckets, 3, 64, 64, is_image=False) == -1  # fits no clip bucket
    # no upscaling preferred: the largest square that the source covers
    squares = [Bucket(5, 16, 16), Bucket(5, 32, 32), Bucket(5, 64, 64)]
    assert best_bucket(squares, 9, 40, 40, is_image=False) == 1
    assert best_bucket(squares, 9, 8, 8, is_image=False) == 0  # all upscale: the smallest
    assigned = assign_buckets(buckets, np.array([20, 20, 1, -1.0]), np.array([90, 90, 50, -1.0]), np.array([160, 160, 50, -1.0]),
                              np.array([False, False, True, False]), frame_stride=2)
    assert assigned.tolist() == [2, 2, 0, -1]  # unknown facts fit nothing


def test_rule_and_token_budget_batch_sizes():
    buckets = make_buckets(BucketConfig(aspect_ratios=["16:9", 1], areas=[64, 128], frame_counts=[1, 17], max_tokens=4096))
    assert len(buckets) == 8 and all(b.height % 16 == 0 and b.width % 16 == 0 for b in buckets)
    square = {b.shape: b.batch_size for b in buckets}
    assert square[(1, 64, 64)] > square[(17, 64, 64)] > square[(17, 128, 128)] >= 1  # fewer tokens, bigger batch
    with pytest.raises(GenvidError, match="1 \\+ 4k"):
        make_buckets(BucketConfig(shapes=[[6, 32, 32]]))
    with pytest.raises(GenvidError, match="either 'shapes' or the rule"):
        make_buckets(BucketConfig())


def _sampler(start=0, rank=0, world_size=1):
    members = [np.arange(0, 7), np.arange(7, 20), np.arange(20, 23)]
    return BucketBatchSampler(members, [2, 3, 1], [0.3, 0.5, 0.2], seed=5, rank=rank, world_size=world_size, start_micro_batch=start)


def _take(sampler, count):
    iterator = iter(sampler)
    return [next(iterator) for _ in range(count)]


def test_sampler_one_bucket_a_batch_same_seed_same_order_and_exact_resume():
    batches = _take(_sampler(), 40)
    members = [set(range(0, 7)), set(range(7, 20)), set(range(20, 23))]
    for batch in batches:
        buckets = {bucket for _, bucket in batch}
        assert len(buckets) == 1
        assert {index for index, _ in batch} <= members[buckets.pop()]
    assert {batch[0][1] for batch in batches} == {0, 1, 2}
    assert _take(_sampler(), 40) == batches  # a pure function of the seed
    assert _take(_sampler(start=17), 23) == batches[17:]  # resumed == uninterrupted
    assert [_sampler().indices_for(g) for g in (0, 17, 39)] == [batches[0], batches[17], batches[39]]
    # every bucket sees all its members once per epoch: bucket 0 drawn 4 times = 8 positions >= 7 members
    first_uses = [index for batch in batches if batch[0][1] == 0 for index, _ in batch][:7]
    assert sorted(first_uses) == list(range(7))


def test_ranks_take_the_same_bucket_and_different_samples():
    rank0, rank1 = _take(_sampler(rank=0, world_size=2), 30), _take(_sampler(rank=1, world_size=2), 30)
    for left, right in zip(rank0, rank1):
        assert left[0][1] == right[0][1]
    bucket1 = [(left, right) for left, right in zip(rank0, rank1) if left[0][1] == 1][:2]  # 2 steps x 2 ranks x 3 = 12 <= 13
    seen = [index for left, right in bucket1 for index, _ in left + right]
    assert len(seen) == len(set(seen))


def test_folder_buckets_images_and_clips_in_one_run_and_corrupt_skipped(varied_folder, caplog):
    dataset = build_dataset({"source": "folder", "manifest": str(varied_folder / "manifest.jsonl"), "buckets": BUCKETS,
                             "frame_stride": 2, "seed": 1})
    shapes = [bucket.shape for bucket in dataset.buckets]
    # 12x24x40 -> 6 frames at stride 2, landscape -> [5,16,32]; 20x32x32 -> 10 -> [9,32,32]; 8x40x24 -> 4: too short
    assert dataset.counts.tolist() == [2, 4, 3, 0]
    assert dataset.num_unfit == 3
    loader = stream_loader(dataset, collate_videos, batch_size=2, seed=0, rank=0, world_size=1, start_micro_batch=0, num_workers=0)
    iterator = iter(loader)
    batches = [next(iterator) for _ in range(12)]
    seen_frames = set()
    for batch in batches:
        bucket = dataset.buckets[batch["bucket"][0]]
        assert set(batch["bucket"]) == {batch["bucket"][0]}
        assert tuple(batch["video"].shape[2:]) == bucket.shape and len(batch["video"]) == bucket.batch_size
        seen_frames.add(bucket.frames)
        assert "broken" not in batch["caption"]
    assert seen_frames == {1, 5, 9}  # images and clips in one run
    assert dataset.num_skipped == 1  # the corrupt file, replaced by a readable clip of its bucket
    again = iter(stream_loader(dataset, collate_videos, 2, 0, 0, 1, 0, num_workers=2))  # the same batches from workers
    for batch in batches[:4]:
        other = next(again)
        assert torch.equal(other["video"], batch["video"]) and other["caption"] == batch["caption"]


def test_synthetic_buckets_with_an_image_share():
    dataset = build_dataset({"source": "synthetic", "num_samples": 60, "buckets": {**BUCKETS, "image_share": 0.5}})
    weights = dataset.weights()
    assert weights[0] == pytest.approx(0.5) and weights.sum() == pytest.approx(1)
    item = dataset[(3, 2)]
    assert item["video"].shape == (3, 9, 32, 32) and item["bucket"] == 2
    with pytest.raises(GenvidError, match="data.buckets works with"):
        build_dataset({"source": "real_images", "buckets": BUCKETS})
