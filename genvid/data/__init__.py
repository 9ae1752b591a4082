"""Video data: file IO, the synthetic captioned set, manifest folders, and the training config.

Videos are ``(C, T, H, W)`` float tensors in [-1, 1] (an image is T = 1); batches add B in front.

Example::

    >>> from torch.utils.data import DataLoader
    >>> from genvid.data import DataConfig, build_dataset, collate_videos, write_video, write_contact_sheet
    >>> dataset = build_dataset(DataConfig(source="synthetic", num_samples=64, num_frames=17, height=64, width=64))
    >>> batch = next(iter(DataLoader(dataset, batch_size=8, collate_fn=collate_videos)))
    >>> batch["video"].shape, batch["caption"][0]            # (8, 3, 17, 64, 64), e.g. "a red circle moving left"
    >>> write_video("clip.mp4", batch["video"][0])            # libx264 / yuv420p
    >>> write_contact_sheet("sheet.png", [batch["video"][0], batch["video"][1]])   # one row per video

Your own videos: a manifest (CSV / JSONL with ``video``, ``caption``) and
``DataConfig(source="folder", manifest="data/manifest.jsonl")``; unreadable files are skipped and
counted. ``genvid dataset synth --out DIR --num N`` writes the synthetic set as mp4s + manifest.
"""

from genvid.data.config import DataConfig, build_dataset, collate_videos
from genvid.data.folder import FolderVideoDataset, read_manifest
from genvid.data.synthetic import (
    COLORS,
    HELDOUT_COMBINATIONS,
    MOTIONS,
    SHAPES,
    SyntheticVideoDataset,
    caption_for,
    parse_caption,
    render_clip,
)
from genvid.data.video_io import (
    probe_video,
    read_frames,
    read_video,
    resize_and_center_crop,
    uint8_to_video,
    video_to_uint8,
    write_contact_sheet,
    write_video,
)

__all__ = [
    "COLORS",
    "DataConfig",
    "FolderVideoDataset",
    "HELDOUT_COMBINATIONS",
    "MOTIONS",
    "SHAPES",
    "SyntheticVideoDataset",
    "build_dataset",
    "caption_for",
    "collate_videos",
    "parse_caption",
    "probe_video",
    "read_frames",
    "read_manifest",
    "read_video",
    "render_clip",
    "resize_and_center_crop",
    "uint8_to_video",
    "video_to_uint8",
    "write_contact_sheet",
    "write_video",
]
