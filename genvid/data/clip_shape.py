"""``ClipShape``: the clip size fields that every config section making clips shares."""

from __future__ import annotations

from dataclasses import dataclass, fields

from genvid.errors import GenvidError


@dataclass
class ClipShape:
    """Frames, height and width of the clips a section makes (the tokenizer wants ``1 + 4k`` frames).

    A base of config dataclasses (``data:``, ``training.eval:``): the fields stay flat in their
    YAML sections, and a clip with no frames or pixels is refused where the section is read.
    """

    num_frames: int = 17
    height: int = 64
    width: int = 64

    def __post_init__(self):
        sizes = {name: getattr(self, name) for name in CLIP_SHAPE_FIELDS}
        if any(size is None or size < 1 for size in sizes.values()):
            shown = ", ".join(f"{name}={size}" for name, size in sizes.items())
            raise GenvidError(f"num_frames, height and width must each be >= 1, got {shown}")


CLIP_SHAPE_FIELDS = tuple(field.name for field in fields(ClipShape))
