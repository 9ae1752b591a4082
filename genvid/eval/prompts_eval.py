"""``genvid eval prompts``: does a pipeline draw what its prompt asks for?

Generates one clip (or more) for every colour x shape x motion of the synthetic vocabulary,
reads each back with genvid.eval.analyzer, and reports per-attribute accuracy separately for the
combinations seen in training and the held-out ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from genvid.data.synthetic import ALL_COMBINATIONS, HELDOUT_COMBINATIONS, caption_for
from genvid.eval.analyzer import evaluate_prompt_following


def generate_for_combinations(
    pipeline,
    combinations,
    samples_per_combination: int = 1,
    batch_size: int = 16,
    seed: int = 0,
    **call_options,
) -> list[torch.Tensor]:
    """One (C, T, H, W) clip in [-1, 1] per (combination, sample), in order."""
    prompts = [caption_for(*combination, template=sample) for combination in combinations
               for sample in range(samples_per_combination)]
    clips: list[torch.Tensor] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="eval prompts", leave=False):
        chunk = prompts[start : start + batch_size]
        generator = torch.Generator().manual_seed(seed + start)
        frames = pipeline(prompt=chunk, generator=generator, output_type="pt", **call_options).frames
        clips.extend(frame.permute(1, 0, 2, 3) * 2 - 1 for frame in frames)  # (T,C,H,W) [0,1] -> (C,T,H,W)
    return clips


def evaluate_pipeline(pipeline, samples_per_combination: int = 1, batch_size: int = 16, seed: int = 0, **call_options):
    """Accuracy per attribute for seen and held-out combinations: {"seen": {...}, "heldout": {...}}."""
    seen = [c for c in ALL_COMBINATIONS if c not in HELDOUT_COMBINATIONS]
    report = {}
    for name, combinations in (("seen", seen), ("heldout", HELDOUT_COMBINATIONS)):
        clips = generate_for_combinations(pipeline, combinations, samples_per_combination, batch_size, seed, **call_options)
        labels = [combination for combination in combinations for _ in range(samples_per_combination)]
        report[name] = evaluate_prompt_following(clips, labels)
    return report


def format_table(reports: dict[str, dict]) -> str:
    """Markdown table: one row per (model, split)."""
    lines = ["| model | split | clips | color | shape | motion | all three |", "|---|---|---|---|---|---|---|"]
    for model, report in reports.items():
        for split, values in report.items():
            lines.append(
                f"| {model} | {split} | {values['num_clips']} | {values['color_accuracy']:.1%} | "
                f"{values['shape_accuracy']:.1%} | {values['motion_accuracy']:.1%} | {values['all_accuracy']:.1%} |"
            )
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("--model", choices=("diffusion", "ar", "both"), default="both")
    parser.add_argument("--pipeline", default=None, help="pipeline folder (default: the shipped demo; not with --model both)")
    parser.add_argument("--samples-per-combination", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps")
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None, help="write the report as JSON here")


def run(args) -> int:
    from genvid.commands.generate import load_pipeline
    from genvid.errors import GenvidError

    if args.model == "both" and args.pipeline:
        raise GenvidError("--pipeline needs --model diffusion or --model ar")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    reports = {}
    for model in ("diffusion", "ar") if args.model == "both" else (args.model,):
        pipeline = load_pipeline(model, args.pipeline, device)
        options = {}
        if args.guidance is not None:
            options["guidance_scale"] = args.guidance
        if model == "diffusion" and args.steps is not None:
            options["num_inference_steps"] = args.steps
        reports[model] = evaluate_pipeline(pipeline, args.samples_per_combination, args.batch_size, args.seed, **options)
    print(format_table(reports))
    if args.output:
        Path(args.output).write_text(json.dumps(reports, indent=1))
    return 0
