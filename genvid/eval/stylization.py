"""Stylization: does the DiT keep a true clip's shape and motion and take the prompt's colour?
(the measuring part of ``genvid eval stylize``)

Each true clip is given through its structure map (``structure="grey"``: its grey levels, see
genvid.pipelines.conditioning.grey_structure) with a prompt that asks for the same shape and
motion in another colour. A clip passes when the analyzer reads the prompt's colour and the
input's shape and motion. Since the prompt names that shape and motion too, a clip that ignored
its input would pass the analyzer: ``stylized_accuracy`` also asks that the object stay on the
input's own path (mean centre distance <= ``PATH_KEPT_PX``), which only the input tells.
"""

from __future__ import annotations

import numpy as np
import torch

from genvid.data.synthetic import COLORS, caption_for
from genvid.eval.analyzer import analyze_clip, evaluate_prompt_following
from genvid.eval.keyframes import path_distance
from genvid.eval.references import generate_batched, references

#: the object follows the input's path when its centre stays this close on average (pixels)
PATH_KEPT_PX = 3.0


def restyled_colour(colour: str, sample: int) -> str:
    """The colour a stylization prompt asks for: another colour than the input's, cycling with the sample."""
    others = [name for name in COLORS if name != colour]
    return others[(sample * 3 + list(COLORS).index(colour)) % len(others)]


def stylization_accuracy(
    pipeline, split: str = "heldout", samples_per_combination: int = 3, seed: int = 0, strengths=(0.6,),
    structure: str = "grey", num_frames: int = 17, height: int = 64, width: int = 64, batch_size: int = 8, combinations: int | None = None,
    **call_options,
) -> dict:
    """``{"strength S": {...}}`` per strength: the analyzer's accuracy against (prompt colour, input
    shape, input motion), the mean path distance to the input, the share of clips on the input's
    path (``path_kept``) and of clips with the prompt's colour, the input's shape and its path
    (``stylized_accuracy``)."""
    items = references(split, samples_per_combination, seed, combinations)
    inputs = torch.stack([item.clip(num_frames, height, width) for item in items])
    targets = [(restyled_colour(item.label[0], index), *item.label[1:]) for index, item in enumerate(items)]
    prompts = [caption_for(*target) for target in targets]
    report = {}
    for strength in strengths:
        clips = generate_batched(
            pipeline, prompts, batch_size, seed, lambda start, end: {"video": inputs[start:end]},
            structure=structure, strength=strength, num_frames=num_frames, height=height, width=width, **call_options,
        )
        row = evaluate_prompt_following(clips, targets)
        distances = np.asarray([path_distance(clip, item.path(num_frames, height, width))[0]
                                for clip, item in zip(clips, items)])
        kept = distances <= PATH_KEPT_PX  # NaN (no object seen) is not kept
        readings = [analyze_clip(clip) for clip in clips]
        styled = [found["color"] == target[0] and found["shape"] == target[1] for found, target in zip(readings, targets)]
        row["mean_path_distance_px"] = float(np.nanmean(distances)) if not np.isnan(distances).all() else float("nan")
        row["path_kept"] = float(kept.mean())
        row["stylized_accuracy"] = float(np.mean(np.asarray(styled) & kept))
        report[f"strength {strength:g}"] = row
    return report
