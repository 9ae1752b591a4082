"""Conditioning shared by both pipelines: windows over a long video, keyframes, structure maps.

A video longer than a model's training window is generated window by window: each window after the
first overlaps the previous one by ``context`` latent frames, which it takes as given (clean) and
continues, so the model's memory and compute per window stay those of one training clip whatever
the total length. :func:`windows` plans them; the pipelines run them.
"""

from __future__ import annotations

from typing import Any

import torch

from genvid.errors import GenvidError
from genvid.pipelines.common import image_to_tensor


def windows(total: int, window: int, context: int) -> list[tuple[int, int]]:
    """Latent-frame spans ``[start, end)`` covering ``range(total)``: the first ``[0, window)``, each
    next one starting ``context`` frames before the previous end (the last one ends at ``total``,
    starting earlier when that leaves it shorter than ``window``: more of it is then given)."""
    if window < 2 or not 1 <= context < window:
        raise GenvidError(f"a window of {window} latent frames cannot continue on {context} given ones; need 1 <= context < window")
    spans = [(0, min(window, total))]
    while spans[-1][1] < total:
        end = min(spans[-1][1] - context + window, total)
        spans.append((max(0, end - window), end))
    return spans


def latent_index(frame: int) -> int:
    """The causal tokenizer's latent frame holding pixel frame ``frame`` (0 alone, then groups of 4)."""
    return 0 if frame == 0 else (frame + 3) // 4


def parse_keyframes(keyframes: Any, num_frames: int) -> list[tuple[Any, int]]:
    """``[(image, frame index), ...]`` checked: indices in ``[0, num_frames)``, one image per latent frame."""
    if not isinstance(keyframes, (list, tuple)) or not all(
        isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], int) for item in keyframes
    ):
        raise GenvidError("keyframes must be a list of (image, frame index) pairs")
    seen = {}
    for _, index in keyframes:
        if not 0 <= index < num_frames:
            raise GenvidError(f"keyframe index {index} is outside the video's {num_frames} frames")
        latent = latent_index(index)
        if latent in seen:
            raise GenvidError(
                f"keyframes at frames {seen[latent]} and {index} fall in the same latent frame {latent}; keep one"
            )
        seen[latent] = index
    return sorted(keyframes, key=lambda item: item[1])


def keyframe_guide(keyframes: list[tuple[Any, int]], num_frames: int, height: int, width: int) -> torch.Tensor:
    """A clip ``(batch, 3, num_frames, H, W)`` in which every frame is its nearest keyframe (ties to the
    later one). Encoded by the causal tokenizer, the latent frame holding a keyframe is that image as
    it would sit in a clip: what training gave clean at that position."""
    images = [image_to_tensor(image, height, width) for image, _ in keyframes]
    rows = max(image.shape[0] for image in images)
    if any(image.shape[0] not in (1, rows) for image in images):
        raise GenvidError(f"keyframes hold {sorted({image.shape[0] for image in images})} images each; give 1 or {rows}")
    images = [image.expand(rows, -1, -1, -1, -1) for image in images]
    indices = torch.tensor([index for _, index in keyframes], dtype=torch.float32)
    frames = torch.arange(num_frames, dtype=torch.float32)
    distance = (frames[:, None] - indices[None]).abs() - 1e-3 * indices[None] / max(num_frames, 1)
    nearest = distance.argmin(dim=1)
    return torch.cat([images[int(choice)] for choice in nearest], dim=2)


def grey_structure(video: torch.Tensor) -> torch.Tensor:
    """The clip's grey-level map, ``(B, 3, T, H, W)`` in [-1, 1]: luma stretched to the full range per
    clip and repeated on three channels. It keeps every object's silhouette, position and motion
    (the synthetic set's shapes are flat colours on a background, so their outline is a luma step)
    and drops their colour, which the prompt then supplies; no model is needed to compute it."""
    luma = 0.299 * video[:, 0] + 0.587 * video[:, 1] + 0.114 * video[:, 2]
    low = luma.flatten(1).amin(dim=1)[:, None, None, None]
    high = luma.flatten(1).amax(dim=1)[:, None, None, None]
    stretched = (luma - low) / (high - low).clamp_min(1e-3) * 2 - 1
    return stretched[:, None].expand(-1, 3, -1, -1, -1).contiguous()


#: structure maps a video-to-video call may take from its input instead of the input itself
STRUCTURES = {"grey": grey_structure}
