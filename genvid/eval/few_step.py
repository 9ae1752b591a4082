"""Prompt following against the number of transformer evaluations per clip (the measuring part of
``genvid eval steps``): the few-step table of a diffusion pipeline and of its guidance-distilled
student, with the CPU time each clip took.

A guided pipeline spends two evaluations a step (conditional and unconditional); a
guidance-distilled one (``guidance_distilled`` in its model_index.json) one. So a budget of E
evaluations is E / 2 guided steps or E distilled ones. ``shift`` resamples the flow-matching
scheduler's noise levels towards the noisy end (diffusers' ``shift``): the same steps, placed where
a few big ones lose least.
"""

from __future__ import annotations

import time

from genvid.errors import GenvidError
from genvid.eval.analyzer import evaluate_prompt_following
from genvid.eval.prompts_eval import generate_splits
from genvid.pipelines.flow_scheduler import sampler_shift, with_shift


def evaluations_per_step(pipeline, guidance_scale: float | None = None) -> int:
    """1 for a guidance-distilled pipeline sampled without guidance, else 2 (with guidance > 1)."""
    if guidance_scale is None:
        distilled = pipeline.config.get("guidance_distilled", False)
        guidance_scale = 1.0 if distilled else pipeline.config.get("default_guidance_scale", 5.0)
    return 2 if guidance_scale > 1 else 1


def few_step_rows(pipeline, evaluations=(60, 30, 8, 4), splits=("heldout",), samples_per_combination: int = 3,
                  batch_size: int = 16, seed: int = 0, wordings=("canonical",), guidance_scale: float | None = None,
                  shift: float | None = None, **call_options) -> dict:
    """``{"E evaluations": {split: accuracy dict, "steps": n, "cpu_seconds_per_clip": t}}``: for each
    budget, the step count it buys, the analyzer's accuracy per split and the process CPU time per
    generated clip (all threads of this process, decoding included)."""
    per_step = evaluations_per_step(pipeline, guidance_scale)
    if shift is not None:
        pipeline.scheduler = with_shift(pipeline.scheduler, shift)
    if guidance_scale is not None:
        call_options["guidance_scale"] = guidance_scale
    rows = {}
    for budget in evaluations:
        steps = budget // per_step
        if steps < 1 or steps * per_step != budget:
            raise GenvidError(f"{budget} evaluations is not a whole number of steps at {per_step} evaluations a step")
        started = time.process_time()
        generated = generate_splits(pipeline, splits, samples_per_combination, batch_size, seed, wordings,
                                    num_inference_steps=steps, **call_options)
        seconds = time.process_time() - started
        clips = sum(len(labels) for labels, _ in generated.values())
        row = {split: evaluate_prompt_following(clips_, labels) for split, (labels, clips_) in generated.items()}
        scheduler = getattr(pipeline, "scheduler", None)
        row.update(steps=steps, cpu_seconds_per_clip=seconds / clips,
                   shift=sampler_shift(scheduler) if scheduler is not None else 1.0)
        rows[f"{budget} evaluations"] = row
    return rows


def format_rows(name: str, rows: dict) -> str:
    """Markdown rows: pipeline, evaluations, steps, shift, split, colour / shape / motion / all, CPU s per clip."""
    lines = []
    for budget, row in rows.items():
        for split, values in row.items():
            if not isinstance(values, dict):
                continue
            lines.append(
                f"| {name} | {budget.split()[0]} | {row['steps']} | {row['shift']:g} | {split} | {values['color_accuracy']:.1%} | "
                f"{values['shape_accuracy']:.1%} | {values['motion_accuracy']:.1%} | {values['all_accuracy']:.1%} | "
                f"{row['cpu_seconds_per_clip']:.3f} |"
            )
    return "\n".join(lines)


TABLE_HEADER = ("| pipeline | evaluations | steps | shift | split | color | shape | motion | all three | CPU s / clip |\n"
                "|---|---|---|---|---|---|---|---|---|---|")
