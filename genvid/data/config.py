"""``DataConfig`` (the ``data:`` section of a training config), ``build_dataset`` and ``collate_videos``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genvid.data.clip_shape import CLIP_SHAPE_FIELDS, ClipShape
from genvid.data.seeded import SeededDataset
from genvid.errors import GenvidError

SOURCES = ("synthetic", "folder", "real_images", "mixed", "cache")
BUCKETED_SOURCES = ("synthetic", "folder", "cache")
DEFAULT_SYNTHETIC_SAMPLES = 10000
#: the DataConfig fields every source's dataset class takes
CLIP_FIELDS = (*CLIP_SHAPE_FIELDS, "seed")


@dataclass
class DataConfig(ClipShape):
    """Where training videos come from and how they are shaped.

    source: "synthetic" (genvid.data.synthetic, rendered on the fly), "folder" (a manifest),
        "real_images" (camera-motion clips of the photographs installed packages bundle,
        genvid.data.real_images / camera_motion; no download) or "mixed" (real_images + synthetic,
        + the manifest's videos when ``manifest`` is set; see the *_fraction fields) or "cache"
        (latents / token ids and text states written by ``genvid dataset encode``; ``cache``).
    manifest: CSV / JSONL manifest for source="folder" (and, optionally, "mixed").
    buckets: shape buckets (genvid.data.buckets.BucketConfig: ``shapes`` or the rule
        ``aspect_ratios`` x ``areas`` x ``frame_counts``, ``max_tokens``, ``image_share``); every
        batch is one bucket, each sample in the bucket that fits it best. num_frames / height /
        width are then unused. Sources "folder" (bucket by each file's shape) and "synthetic"
        (samples spread evenly over the buckets); a cache keeps the buckets it was written with.
    cache: the folder ``genvid dataset encode --out`` wrote, for source="cache".
    num_samples: dataset size for "synthetic" / "real_images" / "mixed" (default 10000); for "folder"
        the first N rows (None = all).
    num_frames, height, width: clip shape (genvid.data.clip_shape.ClipShape, each >= 1);
        frame_stride: source frames between sampled frames ("folder").
    seed: picks the synthetic clips and the folder clips' start frames.
    split: "train" | "heldout" | "all": the synthetic combinations and the bundled photographs
        (genvid.data.real_images.HELDOUT_IMAGES are only in "heldout").
    random_start: "folder": start each clip at a (seed, index)-determined frame instead of frame 0.
    media: "folder": "all" | "video" | "image" (a batch must share its frame count).
    fps: frame rate of synthetic clips (sets their soundtrack's duration).
    audio_sample_rate: when set, items carry "audio", a mono waveform (samples,) aligned with the
        clip (synthetic: a tone naming the attributes; folder: the audio column or the video's track).
    still_fraction: "real_images" / "mixed": share of photographs shown with a motionless camera.
    captions: synthetic caption grammar: "basic" or "rich" (synonyms, more sentence forms).
    travel_frames: synthetic: the object crosses half the frame in this many frames, wrapping
        around the frame in longer clips (None: in the whole clip).
    phase_probability: synthetic: share of clips starting at a random point of their wrapping path,
        so the object crosses the frame's edge within a clip (0: every clip starts where it always did).
    synthetic_fraction: "mixed": share of synthetic clips.
    manifest_fraction: "mixed" with a manifest: share of the manifest's videos (the rest real_images).
    """

    source: str = "synthetic"
    manifest: str | None = None
    num_samples: int | None = None
    frame_stride: int = 1
    seed: int = 0
    split: str = "train"
    random_start: bool = True
    media: str = "all"
    fps: float = 8.0
    audio_sample_rate: int | None = None
    captions: str = "basic"
    travel_frames: int | None = None
    phase_probability: float = 0.0
    still_fraction: float = 0.1
    synthetic_fraction: float = 0.25
    manifest_fraction: float = 0.5
    buckets: dict | None = None
    cache: str | None = None


def build_dataset(config: DataConfig | dict):
    """The torch Dataset a DataConfig (or a dict of its fields) describes."""
    if isinstance(config, dict):
        from genvid.config import build_dataclass

        config = build_dataclass(DataConfig, config, "data")
    if config.source == "cache":
        if not config.cache:
            raise GenvidError("data.source is 'cache' but data.cache (the folder genvid dataset encode wrote) is not set")
        from genvid.data.cache import open_cache_dataset

        return open_cache_dataset(config.cache, config.buckets)
    if config.buckets:
        return _bucketed(config)
    if config.source == "synthetic":
        from genvid.data.synthetic import SyntheticVideoDataset

        return SyntheticVideoDataset(
            num_samples=config.num_samples or DEFAULT_SYNTHETIC_SAMPLES,
            **_fields(config, "split", *CLIP_FIELDS, "fps", "audio_sample_rate", "captions", "travel_frames",
                      "phase_probability"),
        )
    if config.source == "folder":
        if not config.manifest:
            raise GenvidError("data.source is 'folder' but data.manifest is not set")
        from genvid.data.folder import FolderVideoDataset

        return FolderVideoDataset(
            config.manifest,
            **_fields(config, *CLIP_FIELDS, "frame_stride", "random_start", "media", "num_samples", "audio_sample_rate"),
        )
    if config.source == "real_images":
        return _real_images(config)
    if config.source == "mixed":
        return _mixed(config)
    raise GenvidError(f"unknown data.source {config.source!r}; expected one of {', '.join(SOURCES)}")


def _fields(config: DataConfig, *names: str) -> dict:
    """The named DataConfig fields as keyword arguments of the dataset class of its source."""
    return {name: getattr(config, name) for name in names}


def _bucketed(config: DataConfig):
    """The source dataset wrapped so that every item is read at its bucket's shape."""
    import numpy as np
    from dataclasses import replace

    from genvid.data.bucketed import BucketedDataset
    from genvid.data.buckets import assign_buckets, bucket_config, make_buckets

    if config.source not in BUCKETED_SOURCES:
        raise GenvidError(f"data.buckets works with data.source {', '.join(BUCKETED_SOURCES)}, not {config.source!r}")
    settings = bucket_config(config.buckets)
    buckets = make_buckets(settings)
    source = build_dataset(replace(config, buckets=None))
    if config.source == "folder":
        facts = source.shape_facts()
        bucket_of = assign_buckets(
            buckets, facts["num_frames"], facts["height"], facts["width"], facts["is_image"], config.frame_stride
        )
    else:  # rendered at any shape: spread evenly, fixed by the seed
        bucket_of = np.random.default_rng([config.seed, 41]).integers(len(buckets), size=len(source))
    return BucketedDataset(source, buckets, bucket_of, settings.image_share)


def _real_images(config: DataConfig):
    from genvid.data.camera_motion import CameraMotionDataset

    return CameraMotionDataset(
        num_samples=config.num_samples or DEFAULT_SYNTHETIC_SAMPLES,
        **_fields(config, "split", *CLIP_FIELDS, "still_fraction"),
    )


def _mixed(config: DataConfig):
    from dataclasses import replace

    for name in ("synthetic_fraction", "manifest_fraction"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise GenvidError(f"data.{name} must be within [0, 1], got {getattr(config, name)}")
    num_samples = config.num_samples or DEFAULT_SYNTHETIC_SAMPLES
    parts = [(1.0 - config.synthetic_fraction, _real_images(config))]
    if config.manifest:
        manifest = build_dataset(replace(config, source="folder", num_samples=None, media="video"))
        real_share = parts[0][0]
        parts = [(real_share * (1 - config.manifest_fraction), parts[0][1]), (real_share * config.manifest_fraction, manifest)]
    if config.synthetic_fraction > 0:
        synthetic = build_dataset(replace(config, source="synthetic", num_samples=num_samples))
        parts.append((config.synthetic_fraction, synthetic))
    return MixtureDataset(parts, num_samples, config.seed)


class MixtureDataset(SeededDataset):
    """Item ``i`` comes from one of several datasets, picked by weight from ``(seed, i)``.

    The chosen dataset's own item ``i mod len`` is returned, so every part stays deterministic.
    """

    def __init__(self, parts: list[tuple[float, Any]], num_samples: int, seed: int = 0):
        parts = [(float(weight), dataset) for weight, dataset in parts if weight > 0 and len(dataset) > 0]
        if not parts:
            raise GenvidError("data.source 'mixed': every part has weight 0")
        super().__init__(num_samples, seed)
        total = sum(weight for weight, _ in parts)
        self.datasets = [dataset for _, dataset in parts]
        self.bounds = torch.tensor([weight for weight, _ in parts], dtype=torch.float64).cumsum(0) / total

    def part_of(self, index: int) -> int:
        import numpy as np

        draw = float(np.random.default_rng([self.seed, index, 17]).random())
        return min(int(torch.searchsorted(self.bounds, torch.tensor(draw, dtype=torch.float64), right=True)), len(self.datasets) - 1)

    def __getitem__(self, index: int):
        self.check_index(index)
        dataset = self.datasets[self.part_of(index)]
        return dataset[index % len(dataset)]


def collate_videos(items: list[dict | None]) -> dict[str, Any]:
    """Batch dataset items: ``{"video": (B, C, T, H, W), "caption": [str], <other keys>: list}``.

    ``None`` items are dropped. All videos of a batch must share their shape (an image, T = 1,
    cannot share a batch with a clip): mixing them is a clear error rather than silent padding.
    """
    items = [item for item in items if item is not None]
    if not items:
        raise GenvidError("collate_videos: every item of the batch was unreadable")
    if "video" not in items[0]:  # a cache's items: latents or token ids, text states
        return _stack_fields(items, {})
    shapes = {tuple(item["video"].shape) for item in items}
    if len(shapes) != 1:
        raise GenvidError(
            f"collate_videos: videos in one batch differ in shape {sorted(shapes)}; images (T=1) and clips need "
            "separate batches (data.media='video' or 'image'), and all clips the same num_frames/height/width"
        )
    return _stack_fields(items, {"video": torch.stack([item["video"] for item in items])})


def _stack_fields(items: list[dict], batch: dict[str, Any]) -> dict[str, Any]:
    """Tensors of one shape are stacked; anything else becomes a list."""
    for key in items[0]:
        if key in batch:
            continue
        values = [item.get(key) for item in items]
        if all(isinstance(value, torch.Tensor) for value in values) and len({tuple(v.shape) for v in values}) == 1:
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch
