"""Synthetic clips to start a conditioned generation from, and the loop that runs a pipeline on them.

The keyframe, stylization and video-to-video measurements (genvid.eval.keyframes, .stylization,
.video_to_video) each take true clips of a split's combinations (rendered by genvid.data.synthetic,
with seeds no training clip uses: training draws its clip seeds from a 62-bit range) and give a
pipeline part of them; this module holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from genvid.data.synthetic import object_path, render_clip
from genvid.eval.prompts_eval import split_combinations
from genvid.pipelines.common import frames_to_video

#: clip seeds of reference clips start here (per sample), far from a caption template's index
REFERENCE_SEED = 100_000


@dataclass(frozen=True)
class Reference:
    """One true clip: its combination and the seed that renders it."""

    label: tuple[str, str, str]
    seed: int

    def clip(self, num_frames: int = 17, height: int = 64, width: int = 64) -> torch.Tensor:
        return render_clip(*self.label, num_frames, height, width, self.seed)

    def path(self, num_frames: int = 17, height: int = 64, width: int = 64):
        """``(T, 2)`` true object centres (x, y) in pixels."""
        return object_path(*self.label, num_frames, height, width, self.seed)


def references(
    split: str = "heldout", samples_per_combination: int = 3, seed: int = 0, combinations: int | None = None
) -> list[Reference]:
    """``samples_per_combination`` true clips of every combination of ``split`` ("seen", "heldout",
    "all"), or of its first ``combinations`` ones (a smoke run)."""
    return [
        Reference(tuple(combination), REFERENCE_SEED + 1000 * seed + 97 * index + sample)
        for index, combination in enumerate(split_combinations(split)[:combinations])
        for sample in range(samples_per_combination)
    ]


def generate_batched(pipeline, prompts: list[str], batch_size: int = 8, seed: int = 0, per_item=None, **call_options):
    """``(C, T, H, W)`` clips in [-1, 1], one per prompt, in order. ``per_item(start, end)`` returns
    the call's conditioning for prompts ``[start, end)`` (a batch of videos, keyframes...)."""
    clips: list[torch.Tensor] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="generate", leave=False):
        end = min(start + batch_size, len(prompts))
        options = dict(call_options, **(per_item(start, end) if per_item else {}))
        generator = torch.Generator().manual_seed(seed + start)
        frames = pipeline(prompt=prompts[start:end], generator=generator, output_type="pt", **options).frames
        clips.extend(frames_to_video(frames))
    return clips
