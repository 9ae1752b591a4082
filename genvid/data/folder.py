"""A dataset of your own videos (and still images) listed in a manifest.

The manifest is CSV (header row), JSONL, or a JSON list of rows, with a ``video`` and a ``caption`` column and an optional
``audio`` column; relative paths are resolved against the manifest's folder. A still image is a
one-frame video, so images and clips can be listed together for joint image-video training: with
``data.buckets`` (genvid.data.buckets) every batch is one bucket, images in 1-frame buckets;
without buckets a batch must share its shape, so pick one kind with ``media="video"`` / ``"image"``.
Optional ``num_frames`` / ``height`` / ``width`` / ``fps`` columns spare the files' probing when
bucketing; big manifests are read on demand (genvid.data.manifest).

A file that cannot be read is skipped with a logged warning and counted in ``num_skipped``; the
item of the next readable index is returned instead, so a corrupt file never stops a DataLoader.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from genvid.data.manifest import Manifest
from genvid.data.video_io import is_image_path, probe_video, read_video
from genvid.errors import GenvidError

logger = logging.getLogger(__name__)

# files found unreadable in this process, as (path, size, mtime): a second dataset over the same
# files (the export's statistics pass) neither retries nor recounts them; a changed file is retried
_UNREADABLE: set[tuple[str, int, int]] = set()


def _file_key(path: str) -> tuple[str, int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_size, stat.st_mtime_ns)

MEDIA = ("all", "video", "image")


def read_manifest(path: str | Path) -> list[dict]:
    """Rows of a CSV / TSV / JSONL / JSON-list manifest, with ``video`` (and ``audio``) made absolute.

    All rows in memory: for big manifests use :class:`genvid.data.manifest.Manifest` instead.
    """
    return list(Manifest(path))


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
        self.rows = Manifest(self.manifest)
        kinds = {"all": np.ones(len(self.rows), dtype=bool), "video": ~self.rows.is_image, "image": self.rows.is_image}
        # positions of the manifest rows this dataset serves (8 bytes a row, whatever the manifest's size)
        self.indices = np.flatnonzero(kinds[media])
        if num_samples is not None:
            self.indices = self.indices[:num_samples]
        if not len(self.indices):
            raise GenvidError(f"manifest {self.manifest} lists no {'' if media == 'all' else media + ' '}files")
        self.num_frames = int(num_frames)
        self.height = int(height)
        self.width = int(width)
        self.frame_stride = int(frame_stride)
        self.random_start = bool(random_start)
        self.seed = int(seed)
        self.audio_sample_rate = audio_sample_rate
        self.bad_indices: set[int] = set()
        self._facts: dict[int, dict] = {}  # probe results per index (one file open saved per epoch)

    @property
    def num_skipped(self) -> int:
        """Files of this dataset skipped so far, those an earlier dataset found unreadable included
        (each DataLoader worker keeps its own count)."""
        return len(self.bad_indices)

    def __len__(self) -> int:
        return len(self.indices)

    def row(self, index: int) -> dict:
        return self.rows[int(self.indices[index])]

    def is_image(self, index: int) -> bool:
        return bool(self.rows.is_image[self.indices[index]])

    def shape_facts(self, probe: bool = True) -> dict[str, np.ndarray]:
        """``num_frames``, ``height``, ``width``, ``is_image`` of every item (-1 = unreadable),
        from the manifest's columns, probing the files they leave unknown."""
        if probe:
            self.rows.probe_missing(self.indices)
        facts = {name: self.rows.facts[name][self.indices] for name in ("num_frames", "height", "width", "fps")}
        facts["is_image"] = self.rows.is_image[self.indices]
        facts["num_frames"] = np.where(facts["is_image"], 1, facts["num_frames"])
        return facts

    def _known_facts(self, index: int, path: str) -> dict:
        row = int(self.indices[index])
        known = {name: float(self.rows.facts[name][row]) for name in ("num_frames", "fps")}
        if known["num_frames"] > 0 and known["fps"] > 0:
            return {"num_frames": int(known["num_frames"]), "fps": known["fps"]}
        if index not in self._facts:
            self._facts[index] = probe_video(path)
        return self._facts[index]

    def _start_frame(self, index: int, available: int, num_frames: int | None = None) -> int:
        span = ((num_frames or self.num_frames) - 1) * self.frame_stride + 1
        if not self.random_start or available <= span:
            return 0
        return int(np.random.default_rng([self.seed, index]).integers(available - span + 1))

    def load(self, index: int) -> dict:
        """Item ``index``; raises GenvidError when its file cannot be read (no skipping)."""
        return self.load_at(index, self.num_frames, self.height, self.width)

    def load_at(self, index: int, num_frames: int, height: int, width: int) -> dict:
        """Item ``index`` at another shape (a bucket's): ``num_frames`` at the dataset's stride,
        resized to cover ``height x width`` and centre-cropped."""
        row = self.row(index)
        path = row["video"]
        item = {"caption": row["caption"], "path": path}
        if is_image_path(path):
            video = read_video(path, crop_to=(height, width))
        else:
            needs_facts = self.random_start or self.audio_sample_rate
            facts = self._known_facts(index, path) if needs_facts else {"num_frames": 0, "fps": 0.0}
            start = self._start_frame(index, facts["num_frames"], num_frames)
            video = read_video(path, num_frames=num_frames, frame_stride=self.frame_stride, start=start, crop_to=(height, width))
            if video.shape[1] < num_frames:
                padding = video[:, -1:].expand(-1, num_frames - video.shape[1], -1, -1)
                video = torch.cat([video, padding], dim=1)
            if self.audio_sample_rate:
                item["audio"] = self._load_audio(row.get("audio") or path, start, facts["fps"], num_frames)
        item["video"] = video
        if row.get("audio") and not self.audio_sample_rate:
            item["audio_path"] = row["audio"]
        return item

    def _load_audio(self, path: str, start_frame: int, fps: float, num_frames: int) -> torch.Tensor:
        from genvid.data.audio_io import read_audio

        if fps <= 0:
            raise GenvidError(f"cannot align audio with {path}: its frame rate is unknown")
        duration = num_frames * self.frame_stride / fps
        length = int(round(duration * self.audio_sample_rate))
        waveform = read_audio(path, self.audio_sample_rate, start_seconds=start_frame / fps, duration_seconds=duration)
        waveform = waveform[:length]
        return torch.nn.functional.pad(waveform, (0, length - waveform.shape[0]))

    def __getitem__(self, index: int) -> dict:
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)
            if candidate in self.bad_indices:
                continue
            if _UNREADABLE and _file_key(self.row(candidate)["video"]) in _UNREADABLE:
                self.bad_indices.add(candidate)  # found unreadable by an earlier dataset: not retried
                continue
            try:
                return self.load(candidate)
            except GenvidError as error:
                self.bad_indices.add(candidate)
                _UNREADABLE.add(_file_key(self.row(candidate)["video"]))
                logger.warning(f"skipping unreadable file ({len(_UNREADABLE)} skipped so far in this process): {error}")
        raise GenvidError(f"manifest {self.manifest}: none of its {len(self)} files can be read")
