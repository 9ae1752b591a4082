"""Keyframe interpolation: given the first and last frames of a true clip, does the DiT draw the
object along the true path in between? (the measuring part of ``genvid eval keyframes``)

The generated middle frames' object centres (genvid.eval.analyzer.object_centres) are compared with
the true centres (genvid.data.synthetic.object_path). The same prompts without keyframes give the
reference: how far a clip that follows only the text is from that particular path.
"""

from __future__ import annotations

import numpy as np
import torch

from genvid.data.synthetic import caption_for
from genvid.eval.analyzer import evaluate_prompt_following, object_centres
from genvid.eval.references import generate_batched, references


def path_distance(clip, truth: np.ndarray, frames: slice | None = None) -> tuple[float, float]:
    """``(mean distance in pixels, share of frames where the object is seen)`` between a clip's
    object centres and the true ``(T, 2)`` path over ``frames`` (all frames by default). A frame
    without a visible object is left out of the mean and counts against the share."""
    centres = object_centres(clip)[frames or slice(None)]
    truth = np.asarray(truth)[frames or slice(None)]
    distances = np.linalg.norm(centres - truth, axis=1)
    seen = ~np.isnan(distances)
    return (float(distances[seen].mean()) if seen.any() else float("nan")), float(seen.mean())


def summarize(clips, items, num_frames: int, height: int, width: int) -> dict:
    """Mean path distance of the middle frames over the clips, the share within 3 px, the share of
    middle frames with a visible object, and what the analyzer reads from the clips."""
    middle = slice(1, num_frames - 1)
    measured = [path_distance(clip, item.path(num_frames, height, width), middle) for clip, item in zip(clips, items)]
    distances = np.asarray([distance for distance, _ in measured])
    found = ~np.isnan(distances)
    row = {
        "mean_distance_px": float(distances[found].mean()) if found.any() else float("nan"),
        "median_distance_px": float(np.median(distances[found])) if found.any() else float("nan"),
        "within_3px": float((distances[found] <= 3).sum() / len(distances)),
        "visible_fraction": float(np.mean([seen for _, seen in measured])),
    }
    row.update(evaluate_prompt_following(clips, [item.label for item in items]))
    return row


def keyframe_path_error(
    pipeline, split: str = "heldout", samples_per_combination: int = 3, seed: int = 0, num_frames: int = 17,
    height: int = 64, width: int = 64, batch_size: int = 8, combinations: int | None = None, text_only: bool = True,
    **call_options,
) -> dict:
    """``{"keyframes": {...}, "text only": {...}}``: :func:`summarize` of clips generated from each
    true clip's caption, with (and, if ``text_only``, without) its first and last frames given."""
    items = references(split, samples_per_combination, seed, combinations)
    truths = torch.stack([item.clip(num_frames, height, width) for item in items])  # (N, 3, T, H, W)
    prompts = [caption_for(*item.label) for item in items]

    def given(start: int, end: int) -> dict:
        return {"keyframes": [(truths[start:end, :, 0], 0), (truths[start:end, :, -1], num_frames - 1)]}

    options = dict(call_options, num_frames=num_frames, height=height, width=width)
    report = {"keyframes": summarize(generate_batched(pipeline, prompts, batch_size, seed, given, **options),
                                     items, num_frames, height, width)}
    if text_only:
        clips = generate_batched(pipeline, prompts, batch_size, seed, **options)
        report["text only"] = summarize(clips, items, num_frames, height, width)
    return report
