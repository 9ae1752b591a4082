"""Video data: file IO, the synthetic captioned set, manifest folders, and the training config.

Videos are ``(C, T, H, W)`` float tensors in [-1, 1] (an image is T = 1); batches add B in front.
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
