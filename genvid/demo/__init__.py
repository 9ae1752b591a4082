"""The small demo pipelines that ship inside the package (trained by scripts/train_demo.py).

The package is also their folder: ``diffusion/``, ``ar/`` and ``upscale/`` beside this file, the
audio codec the demos' sound stages train with in ``audio_codec/``, README.md with their figures.
"""

from __future__ import annotations

from pathlib import Path

from genvid.errors import GenvidError

DEMO_ROOT = Path(__file__).parent  # the data folders sit beside this module
DEMO_NAMES = ("diffusion", "ar", "upscale")
#: the saved AudioCodec of the synthetic set's soundtracks (not a pipeline: a config.json folder)
AUDIO_CODEC = "audio_codec"
#: what demo_path finds
DEMO_FOLDERS = DEMO_NAMES + (AUDIO_CODEC,)


def demo_path(name: str = "diffusion") -> str:
    """Folder of a shipped demo pipeline: ``"diffusion"`` (GenVidDiffusionPipeline) or ``"ar"``
    (GenVidARPipeline) or ``"upscale"`` (GenVidUpscalePipeline, 2x super-resolution). Load it with ``GenVidDiffusionPipeline.from_pretrained(demo_path("diffusion"))``;
    nothing is downloaded. ``"audio_codec"``: the demo's AudioCodec folder
    (``tokenizer.AudioCodec.from_pretrained(demo_path("audio_codec"))``)."""
    if name not in DEMO_FOLDERS:
        raise GenvidError(f"unknown demo {name!r}; choose one of {', '.join(DEMO_FOLDERS)}")
    path = DEMO_ROOT / name
    marker = "config.json" if name == AUDIO_CODEC else "model_index.json"
    if not (path / marker).is_file():
        raise GenvidError(
            f"the demo {name!r} is not in this installation (expected {path}/{marker}); "
            "train it with scripts/train_demo.py or pass --pipeline PATH"
        )
    return str(path)
