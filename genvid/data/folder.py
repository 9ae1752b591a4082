"""A dataset of your own videos (and still images) listed in a manifest.

The manifest is CSV (header row), JSONL, or a JSON list of rows, with a ``video`` and a ``caption`` column and an optional
``audio`` column; relative paths are resolved against the manifest's folder. A still image is a
one-frame video, so images and clips can be listed together for joint image-video training; a
batch must share its frame count though (see :func:`genvid.data.collate_videos`), so give images and
clips separate manifests, or pick one kind with ``media="video"`` / ``media="image"``.

A file that cannot be read is skipped with a logged warning and counted in ``num_skipped``; the
item of the next readable index is returned instead, so a corrupt file never stops a DataLoader.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from genvid.data.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, is_image_path, probe_video, read_video, resize_and_center_crop
from genvid.errors import GenvidError

logger = logging.getLogger(__name__)

MEDIA = ("all", "video", "image")


def read_manifest(path: str | Path) -> list[dict]:
    """Rows of a CSV / TSV / JSONL / JSON-list manifest, with ``video`` (and ``audio``) made absolute."""
    path = Path(path)
    if not path.is_file():
        raise GenvidError(f"manifest not found: {path}")
    rows: list[dict] = []
    try:
        text = path.read_text(encoding="utf-8") if path.suffix.lower() in (".jsonl", ".json") else ""
        if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as error:
                raise GenvidError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
        elif path.suffix.lower() in (".jsonl", ".json"):
            for line_number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise GenvidError(f"{path}, line {line_number}: not valid JSON ({error.msg})") from None
        elif path.suffix.lower() in (".csv", ".tsv"):
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            with path.open(newline="", encoding="utf-8") as handle:
                rows = [dict(row) for row in csv.DictReader(handle, delimiter=delimiter)]
        else:
            raise GenvidError(f"manifest {path} must be .csv, .tsv, .jsonl or .json (a list of rows)")
    except UnicodeDecodeError:
        raise GenvidError(f"manifest {path} is not UTF-8 text") from None
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("video"):
            raise GenvidError(f"manifest {path}: row {index + 1} has no 'video' entry")
        if "caption" not in row:
            raise GenvidError(f"manifest {path}: row {index + 1} has no 'caption' entry")
        row["caption"] = "" if row["caption"] is None else str(row["caption"])
        for key in ("video", "audio"):
            if row.get(key):
                file_path = Path(str(row[key])).expanduser()
                row[key] = str(file_path if file_path.is_absolute() else (path.parent / file_path))
    return rows


class FolderVideoDataset(Dataset):
    """Videos / images from a manifest, sampled to ``num_frames`` frames every ``frame_stride``
    source frames, resized (short side) and centre-cropped to ``height x width``.

    Items: ``{"video": (3, T, H, W) float [-1, 1], "caption": str, "path": str}``. Images give
    T = 1. A clip shorter than ``num_frames * frame_stride`` repeats its last frame to fill the count.

    ``audio_sample_rate``: when set, clips also carry ``"audio"``, a mono waveform of the sampled
    frames' time span (``num_frames * frame_stride / fps`` seconds, zero-padded to that length),
    from the row's ``audio`` file or else the video's own soundtrack; a clip whose audio cannot be
    read is skipped like an unreadable video. When not set, a row's ``audio`` path is passed
    through as ``"audio_path"``.

    ``random_start``: the first frame is drawn from ``(seed, index)``; deterministic, so workers,
    epochs and resumed runs agree (every epoch sees the same window of a given clip).
    """

    def __init__(
        self,
        manifest: str | Path,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        frame_stride: int = 1,
        random_start: bool = True,
        seed: int = 0,
        media: str = "all",
        num_samples: int | None = None,
        audio_sample_rate: int | None = None,
    ):
        if media not in MEDIA:
            raise GenvidError(f"media must be one of {', '.join(MEDIA)}, got {media!r}")
        if num_frames < 1 or frame_stride < 1:
            raise GenvidError(f"num_frames and frame_stride must be >= 1 (got {num_frames}, {frame_stride})")
        self.manifest = Path(manifest)
        rows = read_manifest(self.manifest)
        unknown = [row["video"] for row in rows if Path(row["video"]).suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
        if unknown:
            raise GenvidError(f"manifest {self.manifest}: unsupported file type {unknown[0]}")
        if media == "video":
            rows = [row for row in rows if not is_image_path(row["video"])]
        elif media == "image":
            rows = [row for row in rows if is_image_path(row["video"])]
        if num_samples is not None:
            rows = rows[:num_samples]
        if not rows:
            raise GenvidError(f"manifest {self.manifest} lists no {'' if media == 'all' else media + ' '}files")
        self.rows = rows
        self.num_frames = int(num_frames)
        self.height = int(height)
        self.width = int(width)
        self.frame_stride = int(frame_stride)
        self.random_start = bool(random_start)
        self.seed = int(seed)
        self.audio_sample_rate = audio_sample_rate
        self.bad_indices: set[int] = set()
        self._facts: dict[int, dict] = {}  # probe results per index (one ffmpeg start saved per epoch)

    @property
    def num_skipped(self) -> int:
        """Files found unreadable so far (in this process; each DataLoader worker keeps its own count)."""
        return len(self.bad_indices)

    def __len__(self) -> int:
        return len(self.rows)

    def is_image(self, index: int) -> bool:
        return is_image_path(self.rows[index]["video"])

    def _start_frame(self, index: int, available: int) -> int:
        span = (self.num_frames - 1) * self.frame_stride + 1
        if not self.random_start or available <= span:
            return 0
        return int(np.random.default_rng([self.seed, index]).integers(available - span + 1))

    def load(self, index: int) -> dict:
        """Item ``index``; raises GenvidError when its file cannot be read (no skipping)."""
        row = self.rows[index]
        path = row["video"]
        item = {"caption": row["caption"], "path": path}
        if is_image_path(path):
            video = read_video(path)
        else:
            needs_probe = self.random_start or self.audio_sample_rate
            if needs_probe and index not in self._facts:
                self._facts[index] = probe_video(path)
            facts = self._facts[index] if needs_probe else {"num_frames": 0, "fps": 0.0}
            start = self._start_frame(index, facts["num_frames"])
            video = read_video(path, num_frames=self.num_frames, frame_stride=self.frame_stride, start=start)
            if video.shape[1] < self.num_frames:
                padding = video[:, -1:].expand(-1, self.num_frames - video.shape[1], -1, -1)
                video = torch.cat([video, padding], dim=1)
            if self.audio_sample_rate:
                item["audio"] = self._load_audio(row.get("audio") or path, start, facts["fps"])
        item["video"] = resize_and_center_crop(video, self.height, self.width)
        if row.get("audio") and not self.audio_sample_rate:
            item["audio_path"] = row["audio"]
        return item

    def _load_audio(self, path: str, start_frame: int, fps: float) -> torch.Tensor:
        from genvid.data.audio_io import read_audio

        if fps <= 0:
            raise GenvidError(f"cannot align audio with {path}: its frame rate is unknown")
        duration = self.num_frames * self.frame_stride / fps
        length = int(round(duration * self.audio_sample_rate))
        waveform = read_audio(path, self.audio_sample_rate, start_seconds=start_frame / fps, duration_seconds=duration)
        waveform = waveform[:length]
        return torch.nn.functional.pad(waveform, (0, length - waveform.shape[0]))

    def __getitem__(self, index: int) -> dict:
        for offset in range(len(self.rows)):
            candidate = (index + offset) % len(self.rows)
            if candidate in self.bad_indices:
                continue
            try:
                return self.load(candidate)
            except GenvidError as error:
                self.bad_indices.add(candidate)
                logger.warning(f"skipping unreadable file ({self.num_skipped} skipped so far): {error}")
        raise GenvidError(f"manifest {self.manifest}: none of its {len(self.rows)} files can be read")
