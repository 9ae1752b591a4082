"""``DataConfig`` (the ``data:`` section of a training config), ``build_dataset`` and ``collate_videos``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genvid.errors import GenvidError

SOURCES = ("synthetic", "folder")
DEFAULT_SYNTHETIC_SAMPLES = 10000


@dataclass
class DataConfig:
    """Where training videos come from and how they are shaped.

    source: "synthetic" (genvid.data.synthetic, rendered on the fly) or "folder" (a manifest).
    manifest: CSV / JSONL manifest for source="folder".
    num_samples: dataset size for "synthetic" (default 10000); for "folder" the first N rows (None = all).
    num_frames, height, width: clip shape; frame_stride: source frames between sampled frames ("folder").
    seed: picks the synthetic clips and the folder clips' start frames.
    split: synthetic split "train" | "heldout" | "all".
    random_start: "folder": start each clip at a (seed, index)-determined frame instead of frame 0.
    media: "folder": "all" | "video" | "image" (a batch must share its frame count).
    fps: frame rate of synthetic clips (sets their soundtrack's duration).
    audio_sample_rate: when set, items carry "audio", a mono waveform (samples,) aligned with the
        clip (synthetic: a tone naming the attributes; folder: the audio column or the video's track).
    """

    source: str = "synthetic"
    manifest: str | None = None
    num_samples: int | None = None
    num_frames: int = 17
    height: int = 64
    width: int = 64
    frame_stride: int = 1
    seed: int = 0
    split: str = "train"
    random_start: bool = True
    media: str = "all"
    fps: float = 8.0
    audio_sample_rate: int | None = None


def build_dataset(config: DataConfig | dict):
    """The torch Dataset a DataConfig (or a dict of its fields) describes."""
    if isinstance(config, dict):
        from genvid.config import build_dataclass

        config = build_dataclass(DataConfig, config, "data")
    if config.source == "synthetic":
        from genvid.data.synthetic import SyntheticVideoDataset

        return SyntheticVideoDataset(
            split=config.split,
            num_samples=config.num_samples or DEFAULT_SYNTHETIC_SAMPLES,
            num_frames=config.num_frames,
            height=config.height,
            width=config.width,
            seed=config.seed,
            fps=config.fps,
            audio_sample_rate=config.audio_sample_rate,
        )
    if config.source == "folder":
        if not config.manifest:
            raise GenvidError("data.source is 'folder' but data.manifest is not set")
        from genvid.data.folder import FolderVideoDataset

        return FolderVideoDataset(
            config.manifest,
            num_frames=config.num_frames,
            height=config.height,
            width=config.width,
            frame_stride=config.frame_stride,
            random_start=config.random_start,
            seed=config.seed,
            media=config.media,
            num_samples=config.num_samples,
            audio_sample_rate=config.audio_sample_rate,
        )
    raise GenvidError(f"unknown data.source {config.source!r}; expected one of {', '.join(SOURCES)}")


def collate_videos(items: list[dict | None]) -> dict[str, Any]:
    """Batch dataset items: ``{"video": (B, C, T, H, W), "caption": [str], <other keys>: list}``.

    ``None`` items are dropped. All videos of a batch must share their shape (an image, T = 1,
    cannot share a batch with a clip): mixing them is a clear error rather than silent padding.
    """
    items = [item for item in items if item is not None]
    if not items:
        raise GenvidError("collate_videos: every item of the batch was unreadable")
    shapes = {tuple(item["video"].shape) for item in items}
    if len(shapes) != 1:
        raise GenvidError(
            f"collate_videos: videos in one batch differ in shape {sorted(shapes)}; images (T=1) and clips need "
            "separate batches (data.media='video' or 'image'), and all clips the same num_frames/height/width"
        )
    batch: dict[str, Any] = {"video": torch.stack([item["video"] for item in items])}
    for key in items[0]:
        if key == "video":
            continue
        values = [item.get(key) for item in items]
        if all(isinstance(value, torch.Tensor) for value in values) and len({tuple(v.shape) for v in values}) == 1:
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch
