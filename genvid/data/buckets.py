"""Shape buckets: train on clips of many lengths, sizes and aspect ratios (and images) in one run.

A bucket is a ``(frames, height, width)`` shape with its own batch size. Every batch is one
bucket, so a batch is a plain stacked tensor (no padding); each sample goes to the bucket that
fits it best (:func:`best_bucket`) and is resized to cover the bucket, centre-cropped, and read
at the run's frame stride. Images are 1-frame buckets.

``data.buckets`` in YAML is either a list of shapes::

    buckets: {shapes: [[17, 64, 64], [9, 64, 112], [1, 128, 128]], max_tokens: 4096}

or a rule, aspect ratios (width / height) x areas (the side of the equal-area square) x frame
counts, each side rounded to ``multiple_of``::

    buckets: {aspect_ratios: ["16:9", 1, "9:16"], areas: [64, 128], frame_counts: [1, 9, 17], max_tokens: 8192}

Batch sizes come from ``max_tokens``: a bucket holds as many samples as fit that many latent
positions (``(1 + (frames - 1) / temporal_compression) * (height / s) * (width / s)`` each), so
short low-resolution buckets take bigger batches; a shape may also name its own as a 4th entry.
Without either, every bucket uses ``training.batch_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from genvid.errors import GenvidError


class Bucket(NamedTuple):
    frames: int
    height: int
    width: int
    #: None: the run's training.batch_size
    batch_size: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frames, self.height, self.width)

    @property
    def is_image(self) -> bool:
        return self.frames == 1


@dataclass
class BucketConfig:
    """The ``data.buckets:`` section (see the module docstring)."""

    #: [[frames, height, width], ...] or [[frames, height, width, batch_size], ...]
    shapes: list | None = None
    #: the rule: width / height ratios (numbers or "16:9"), equal-area square sides, frame counts
    aspect_ratios: list | None = None
    areas: list | None = None
    frame_counts: list | None = None
    #: heights and widths of the rule are rounded to a multiple of this (tokenizer x patch)
    multiple_of: int = 16
    #: latent positions per batch; None = every bucket takes training.batch_size
    max_tokens: int | None = None
    max_batch_size: int = 256
    temporal_compression: int = 4
    spatial_compression: int = 8
    #: share of batches drawn from image (1-frame) buckets when there are both kinds; None = by
    #: how many batches each bucket holds
    image_share: float | None = None


def bucket_config(section) -> BucketConfig:
    """``data.buckets`` (a dict, or a bare list of shapes) as a checked BucketConfig."""
    from genvid.config import build_dataclass

    if isinstance(section, BucketConfig):
        return section
    if isinstance(section, (list, tuple)):
        section = {"shapes": list(section)}
    return build_dataclass(BucketConfig, dict(section), "data.buckets")


def _ratio(value) -> float:
    if isinstance(value, str) and ":" in value:
        width, height = value.split(":", 1)
        return float(width) / float(height)
    return float(value)


def latent_positions(bucket: Bucket, config: BucketConfig) -> int:
    frames = 1 + (bucket.frames - 1) // config.temporal_compression
    return frames * (bucket.height // config.spatial_compression) * (bucket.width // config.spatial_compression)


def make_buckets(config: BucketConfig) -> list[Bucket]:
    """The buckets a config describes, with batch sizes filled from ``max_tokens`` when set."""
    if (config.shapes is None) == (config.aspect_ratios is None and config.areas is None and config.frame_counts is None):
        raise GenvidError("data.buckets: give either 'shapes' or the rule 'aspect_ratios' + 'areas' + 'frame_counts'")
    if config.image_share is not None and not 0.0 <= config.image_share <= 1.0:
        raise GenvidError(f"data.buckets.image_share must be within [0, 1], got {config.image_share}")
    buckets: list[Bucket] = []
    if config.shapes is not None:
        for shape in config.shapes:
            values = [int(value) for value in shape]
            if len(values) not in (3, 4) or min(values) < 1:
                raise GenvidError(f"data.buckets.shapes: {list(shape)} is not [frames, height, width(, batch_size)] of positive ints")
            buckets.append(Bucket(*values))
    else:
        if not (config.aspect_ratios and config.areas and config.frame_counts):
            raise GenvidError("data.buckets: the rule needs non-empty 'aspect_ratios', 'areas' and 'frame_counts'")
        step = int(config.multiple_of)
        for frames in config.frame_counts:
            for side in config.areas:
                for ratio in config.aspect_ratios:
                    ratio = _ratio(ratio)
                    height = max(step, int(round(float(side) / math.sqrt(ratio) / step)) * step)
                    width = max(step, int(round(float(side) * math.sqrt(ratio) / step)) * step)
                    bucket = Bucket(int(frames), height, width)
                    if bucket not in buckets:
                        buckets.append(bucket)
    for bucket in buckets:
        if (bucket.frames - 1) % config.temporal_compression:
            raise GenvidError(
                f"data.buckets: {bucket.frames} frames does not fit a causal tokenizer "
                f"(frames must be 1 + {config.temporal_compression}k)"
            )
        if bucket.height % config.spatial_compression or bucket.width % config.spatial_compression:
            raise GenvidError(
                f"data.buckets: {bucket.height}x{bucket.width} is not a multiple of the spatial compression {config.spatial_compression}"
            )
    if len({bucket.shape for bucket in buckets}) != len(buckets):
        raise GenvidError("data.buckets: the same shape is listed twice")
    if config.max_tokens is not None:
        buckets = [
            bucket if bucket.batch_size is not None else bucket._replace(
                batch_size=max(1, min(config.max_batch_size, config.max_tokens // latent_positions(bucket, config)))
            )
            for bucket in buckets
        ]
    return buckets


def best_bucket(buckets: list[Bucket], frames: int, height: int, width: int, is_image: bool) -> int:
    """Index of the bucket that fits a sample best, or -1 when none does.

    ``frames``: frames available at the run's stride. An image goes to a 1-frame bucket, a clip
    to a longer one holding no more frames than it has. Then, in order: the closest aspect ratio
    (least cropped away), the largest area that needs no upscaling (or the smallest, when every
    one would upscale), the most frames.
    """
    if min(frames, height, width) < 1:
        return -1
    candidates = [
        index for index, bucket in enumerate(buckets)
        if (bucket.is_image if is_image or frames == 1 else (not bucket.is_image and bucket.frames <= frames))
    ]
    if not candidates:
        return -1
    aspect = math.log(width / height)

    def score(index: int):
        bucket = buckets[index]
        crop = round(abs(math.log(bucket.width / bucket.height) - aspect), 6)
        upscale = max(bucket.height / height, bucket.width / width) > 1 + 1e-9
        area = bucket.height * bucket.width
        return (crop, upscale, area if upscale else -area, -bucket.frames)

    return min(candidates, key=score)


def assign_buckets(
    buckets: list[Bucket], num_frames: np.ndarray, heights: np.ndarray, widths: np.ndarray, is_image: np.ndarray, frame_stride: int = 1
) -> np.ndarray:
    """:func:`best_bucket` of every sample (int32, -1 = fits none / facts unknown).

    Samples sharing their facts share a bucket, so each distinct (frames, size, kind) is scored once.
    """
    available = np.where(num_frames > 0, 1 + (np.maximum(num_frames, 1) - 1) // frame_stride, -1)
    keys = np.stack([available, heights, widths, is_image.astype(np.float32)], axis=1).astype(np.int64)
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    choice = np.array([best_bucket(buckets, int(f), int(h), int(w), bool(i)) for f, h, w, i in distinct], dtype=np.int32)
    return choice[inverse.reshape(-1)]


def bucket_weights(buckets: list[Bucket], counts: np.ndarray, image_share: float | None) -> np.ndarray:
    """How often each bucket is drawn: by the batches it holds per epoch (every sample seen at
    the same rate), with the image buckets' total rescaled to ``image_share`` when set."""
    sizes = np.array([bucket.batch_size or 1 for bucket in buckets], dtype=np.float64)
    weights = counts.astype(np.float64) / sizes
    images = np.array([bucket.is_image for bucket in buckets]) & (counts > 0)
    videos = ~np.array([bucket.is_image for bucket in buckets]) & (counts > 0)
    if image_share is not None and images.any() and videos.any():
        weights[images] *= image_share / weights[images].sum()
        weights[videos] *= (1 - image_share) / weights[videos].sum()
    if weights.sum() <= 0:
        raise GenvidError("data.buckets: no sample fits any bucket")
    return weights / weights.sum()
