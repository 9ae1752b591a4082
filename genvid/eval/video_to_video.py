"""Video-to-video: how close does the DiT stay to its input at each strength? (the measuring part
of ``genvid eval v2v``)

Each true clip is given as ``video=`` with its own caption; the output is compared with the input
(PSNR) and read by the analyzer. Strength 0 returns the input's latents decoded: the tokenizer's
round trip, the ceiling of every other row.
"""

from __future__ import annotations

import torch

from genvid.data.synthetic import caption_for
from genvid.eval.analyzer import evaluate_prompt_following
from genvid.eval.metrics import psnr
from genvid.eval.references import generate_batched, references

DEFAULT_STRENGTHS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def video_to_video_psnr(
    pipeline, split: str = "heldout", samples_per_combination: int = 3, seed: int = 0,
    strengths=DEFAULT_STRENGTHS, num_frames: int = 17, height: int = 64, width: int = 64, batch_size: int = 8, combinations: int | None = None,
    **call_options,
) -> dict:
    """``{"strength S": {"psnr_db", "psnr_min_db", colour / shape / motion accuracy...}}``."""
    items = references(split, samples_per_combination, seed, combinations)
    inputs = torch.stack([item.clip(num_frames, height, width) for item in items])
    prompts = [caption_for(*item.label) for item in items]
    report = {}
    for strength in strengths:
        clips = generate_batched(
            pipeline, prompts, batch_size, seed, lambda start, end: {"video": inputs[start:end]},
            strength=strength, num_frames=num_frames, height=height, width=width, **call_options,
        )
        values = psnr(torch.stack(clips).clamp(-1, 1), inputs, reduction="none")
        row = {"psnr_db": float(values.mean()), "psnr_min_db": float(values.min())}
        row.update(evaluate_prompt_following(clips, [item.label for item in items]))
        report[f"strength {strength:g}"] = row
    return report
