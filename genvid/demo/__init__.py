"""The small demo pipelines that ship inside the package (trained by scripts/train_demo.py).

The package is also their folder: ``diffusion/`` and ``ar/`` beside this file, README.md with their figures.
"""

from __future__ import annotations

from pathlib import Path

from genvid.errors import GenvidError

DEMO_ROOT = Path(__file__).parent  # the data folders sit beside this module
DEMO_NAMES = ("diffusion", "ar", "upscale")


def demo_path(name: str = "diffusion") -> str:
    """Folder of a shipped demo pipeline: ``"diffusion"`` (GenVidDiffusionPipeline) or ``"ar"``
    (GenVidARPipeline) or ``"upscale"`` (GenVidUpscalePipeline, 2x super-resolution). Load it with ``GenVidDiffusionPipeline.from_pretrained(demo_path("diffusion"))``;
    nothing is downloaded."""
    if name not in DEMO_NAMES:
        raise GenvidError(f"unknown demo {name!r}; choose one of {', '.join(DEMO_NAMES)}")
    path = DEMO_ROOT / name
    if not (path / "model_index.json").is_file():
        raise GenvidError(
            f"the demo pipeline {name!r} is not in this installation (expected {path}/model_index.json); "
            "train it with scripts/train_demo.py or pass --pipeline PATH"
        )
    return str(path)
