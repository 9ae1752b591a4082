"""What ``genvid eval keyframes|stylize|v2v`` share: the flags that pick the diffusion pipeline and
the true clips, the pipeline's loading, and the printed table of one report."""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(parser, samples: int = 3) -> None:
    parser.add_argument("--pipeline", default=None, help="diffusion pipeline folder (default: the shipped demo)")
    parser.add_argument("--split", choices=("heldout", "seen", "all"), default="heldout",
                        help="combinations of the true clips (default: heldout, never in training)")
    parser.add_argument("--samples-per-combination", type=int, default=samples)
    parser.add_argument("--combinations", type=int, default=None, help="only the split's first N combinations (a smoke run)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the pipeline's)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--output", default=None, help="write the report as JSON here")


def load(args):
    """``(pipeline, call options)`` from the flags, with checked numbers."""
    from genvid.commands.encode import pick_device
    from genvid.commands.generate import load_pipeline
    from genvid.errors import GenvidError

    if min(args.samples_per_combination, args.batch_size, args.combinations or 1) < 1:
        raise GenvidError("--samples-per-combination, --batch-size and --combinations must be >= 1")
    pipeline = load_pipeline("diffusion", args.pipeline, pick_device(args.device))
    pipeline.set_progress_bar_config(disable=True)
    options = {}
    if args.steps is not None:
        options["num_inference_steps"] = args.steps
    if args.guidance is not None:
        options["guidance_scale"] = args.guidance
    return pipeline, options


def finish(args, report: dict, columns: list[str]) -> int:
    """Print one line per row (its ``columns``) and write the JSON report if asked."""
    for row, values in report.items():
        cells = [f"{name} {values[name]:.1%}" if name.endswith("accuracy") or name in ("within_3px", "visible_fraction", "path_kept")
                 else f"{name} {values[name]:.2f}" for name in columns]
        print(f"{row}: " + "  ".join(cells) + f"  ({values['num_clips']} clips)")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=1))
    return 0
