"""Which clips an evaluation reads: files, folders and manifests, and prompts paired with clips."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

from genvid.errors import GenvidError

MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


def _folder_videos(folder: Path) -> list[str]:
    from genvid.data.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    suffixes = VIDEO_SUFFIXES | IMAGE_SUFFIXES
    return sorted(str(path) for path in folder.iterdir() if path.is_file() and path.suffix.lower() in suffixes)


def clip_paths(items: Sequence[str]) -> list[str]:
    """Video paths named by ``items``: files, folders (their videos, sorted by name) or manifests."""
    from genvid.data import read_manifest

    paths: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = _folder_videos(path)
            if not found:
                raise GenvidError(f"no videos in the folder {path}")
            paths.extend(found)
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            paths.extend(row["video"] for row in read_manifest(path))  # made absolute by read_manifest
        else:
            paths.append(item)
    return paths


def read_clips(paths: Sequence[str], num_frames: int | None = None) -> Iterator:
    """``(3, T, H, W)`` clips in [-1, 1], read one at a time (a long set never sits in memory)."""
    from genvid.data import read_video

    for path in paths:
        yield read_video(path, num_frames=num_frames)


def prompted_clips(generated: str | None, prompts: str) -> tuple[list[str], list[str]]:
    """``(video paths, prompts)``: from a manifest with ``video`` and ``caption`` columns, or from a
    text file with one prompt per line paired with the videos of ``generated`` sorted by name."""
    from genvid.data import read_manifest

    prompts_path = Path(prompts)
    if not prompts_path.is_file():
        raise GenvidError(f"prompts file not found: {prompts_path}")
    if prompts_path.suffix.lower() in MANIFEST_SUFFIXES:
        rows = read_manifest(prompts_path)
        missing = [index for index, row in enumerate(rows) if not row.get("caption")]
        if missing:
            raise GenvidError(f"{prompts_path}: row {missing[0] + 1} has no 'caption'")
        return [row["video"] for row in rows], [row["caption"] for row in rows]
    lines = [line.strip() for line in prompts_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if generated is None:
        raise GenvidError("--generated DIR is needed with a text prompts file (or give a manifest with video and caption)")
    paths = clip_paths([generated])
    if len(paths) != len(lines):
        raise GenvidError(
            f"{len(paths)} videos in {generated} but {len(lines)} prompts in {prompts_path}: "
            "give one prompt per line, in the videos' name order"
        )
    return paths, lines
