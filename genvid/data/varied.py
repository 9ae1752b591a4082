"""A folder of clips of mixed lengths, sizes and aspect ratios (plus still images), for trying
buckets, caches and loaders on something shaped like a real collection: camera moves over the
photographs installed packages bundle (genvid.data.camera_motion), written as mp4 / png files
with a manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

#: (frames, height, width) of the clips, cycled: landscape, portrait, square; short and long
VARIED_SHAPES = ((33, 72, 128), (17, 96, 96), (49, 64, 112), (25, 128, 72), (9, 80, 80), (41, 90, 160))


def write_varied_folder(out: str | Path, num: int, image_every: int = 5, seed: int = 0, fps: float = 8.0) -> Path:
    """Write ``num`` files (every ``image_every``-th a png image) and ``out/manifest.jsonl``."""
    from genvid.data.camera_motion import CameraMotionDataset
    from genvid.data.video_io import write_video

    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(num):
        frames, height, width = VARIED_SHAPES[index % len(VARIED_SHAPES)]
        is_image = image_every > 0 and index % image_every == image_every - 1
        dataset = CameraMotionDataset(
            split="all", num_samples=num, num_frames=1 if is_image else frames, height=height, width=width,
            seed=seed, still_fraction=0.0,
        )
        item = dataset[index]
        name = f"clips/{index:05d}.{'png' if is_image else 'mp4'}"
        write_video(out / name, item["video"], fps=fps)
        rows.append({"video": name, "caption": item["caption"]})
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest
