"""genvid eval steps: the few-step table. For each diffusion pipeline (--pipeline, repeatable: a
guided one and its guidance-distilled student) and each budget of transformer evaluations per
clip (--evaluations), the analyzer's prompt-following accuracy and the CPU time per clip. A guided
pipeline spends two evaluations a step, a distilled one one.
"""

from __future__ import annotations

import json
from pathlib import Path

from genvid.pipelines.flow_scheduler import SAMPLERS

HELP = "few-step table of diffusion pipelines: accuracy and CPU time per clip per evaluation budget"


def add_arguments(parser) -> None:
    parser.add_argument("--pipeline", action="append", default=None,
                        help="diffusion pipeline folder (repeatable; default: the shipped demo)")
    parser.add_argument("--evaluations", type=int, nargs="+", default=[60, 30, 8, 4])
    parser.add_argument("--splits", nargs="+", choices=("seen", "heldout", "all"), default=["heldout"])
    parser.add_argument("--wording", nargs="+", choices=("canonical", "heldout"), default=["canonical"])
    parser.add_argument("--samples-per-combination", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: each pipeline's)")
    parser.add_argument("--shifts", type=float, nargs="+", default=[None],
                        help="scheduler shifts to sample with, one set of rows each (default: each pipeline's own)")
    parser.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=None,
                        help="samplers to compare, one set of rows each, at the pipeline's shift (default: its own)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None, help="write the table as JSON here")


def run(args) -> int:
    from genvid.commands.encode import pick_device
    from genvid.commands.generate import load_pipeline
    from genvid.errors import GenvidError
    from genvid.eval.few_step import TABLE_HEADER, few_step_rows, format_rows
    from genvid.pipelines.flow_scheduler import diffusers_sampler, sampler_shift

    if args.samples_per_combination < 1 or min(args.evaluations) < 1:
        raise GenvidError("--samples-per-combination and --evaluations must be >= 1")
    if any(shift is not None and shift <= 0 for shift in args.shifts):
        raise GenvidError("--shifts must be positive")
    device = pick_device(args.device)
    report, lines = {}, [TABLE_HEADER]
    for path in args.pipeline or [None]:
        pipeline = load_pipeline("diffusion", path, device)
        pipeline.set_progress_bar_config(disable=True)
        own = pipeline.scheduler
        for sampler in args.samplers or [None]:
            pipeline.scheduler = own if sampler is None else diffusers_sampler(sampler, sampler_shift(own))
            for shift in args.shifts:
                name = " ".join(part for part in (path or "shipped demo", sampler) if part)
                rows = few_step_rows(pipeline, args.evaluations, args.splits, args.samples_per_combination,
                                     args.batch_size, args.seed, args.wording, args.guidance, shift)
                report[name if shift is None else f"{name} shift {shift:g}"] = rows
                lines.append(format_rows(name, rows))
                print(lines[-1], flush=True)
    print("\n".join(lines))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=1))
    return 0
