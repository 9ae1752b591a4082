"""genvid eval edit: inpainting, outpainting, keyframes and continuation on held-out clips.

Renders ``--samples-per-combination`` synthetic clips of each combination of the split (default:
the held-out ones) at 17x64x64 and, with each clip's own caption as the prompt: inpaints the cells
the object covers, outpaints all but a band of background it never touches (the analyzer then reads
colour, shape and motion from regenerated tokens; the kept tokens must equal the input's), gives
the first and last frames as keyframes (the object's centre between them against its true path),
and continues the demo's own 17-frame clip with ``genvid generate --video`` and no other option.
The DiT takes keyframes only. Prints one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "editing: inpaint / outpaint (attributes read, kept tokens exact), keyframes (path error), continuation"


def add_arguments(parser) -> None:
    from genvid.eval.editing import TASKS

    parser.add_argument("--model", choices=("diffusion", "ar"), default=None,
                        help="the shipped demo of this kind (default: the kind of --pipeline, else ar)")
    parser.add_argument("--pipeline", default=None, help="pipeline folder (default: the shipped demo)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None,
                        help=f"what to measure (default: ar {' '.join(TASKS)}; diffusion keyframes)")
    parser.add_argument("--splits", nargs="+", choices=("seen", "heldout", "all"), default=["heldout"])
    parser.add_argument("--samples-per-combination", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps")
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--work", default="runs/eval_edit", help="folder for the continuation's clips")
    parser.add_argument("--output", default=None, help="write the report as JSON here")


def run(args) -> int:
    from genvid.commands.checks import check_number, pipeline_folder, resolve_device
    from genvid.commands.generate import load_pipeline
    from genvid.errors import GenvidError
    from genvid.eval.editing import evaluate_editing
    from genvid.eval.prompts_eval import split_combinations

    check_number(args.samples_per_combination, "--samples-per-combination", minimum=1)
    device = str(resolve_device(args.device))
    _, kind = pipeline_folder(args.pipeline, args.model or (None if args.pipeline else "ar"))
    tasks = args.tasks or (["keyframes"] if kind == "diffusion" else None)
    if kind == "diffusion" and set(tasks) - {"keyframes"}:
        raise GenvidError(f"the diffusion pipeline takes keyframes only, not {' '.join(sorted(set(tasks) - {'keyframes'}))}")
    pipeline = load_pipeline(kind, args.pipeline, device)
    options = {}
    if args.guidance is not None:
        options["guidance_scale"] = args.guidance
    if args.steps is not None and kind == "diffusion":
        options["num_inference_steps"] = args.steps
    Path(args.work).mkdir(parents=True, exist_ok=True)
    report = {"pipeline": args.pipeline or f"demo {kind}", "splits": {}}
    for split in args.splits:
        report["splits"][split] = evaluate_editing(
            pipeline, split_combinations(split), *([tasks] if tasks else []), samples_per_combination=args.samples_per_combination,
            seed=args.seed, folder=args.pipeline, model=kind, work=args.work, **options)
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0
