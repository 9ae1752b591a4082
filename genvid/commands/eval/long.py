"""genvid eval long: does a generator hold its prompt past its training length, without seams, in flat memory?

Makes one ``--num-frames`` clip (default 129) per combination of the chosen split (default: the
held-out ones) and reads colour, shape and motion in every 17-frame window with genvid.eval.analyzer;
compares the frame-to-frame change where each window's new frames begin (a seam) with the median
change elsewhere (a seam stands out beyond 2x); and times one clip at each ``--lengths`` with its
peak memory (CUDA: max allocated; CPU: resident memory, sampled). Prints one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "long video: prompt held in every 17-frame window, seams, peak memory and time per frame by length"


def add_arguments(parser) -> None:
    parser.add_argument("--model", choices=("diffusion", "ar"), default=None,
                        help="the shipped demo of this kind (default: the kind of --pipeline, else diffusion)")
    parser.add_argument("--pipeline", default=None, help="pipeline folder (default: the shipped demo)")
    parser.add_argument("--splits", nargs="+", choices=("seen", "heldout", "all"), default=["heldout"])
    parser.add_argument("--num-frames", type=int, default=129, help="length of each measured clip (1 + 16k)")
    parser.add_argument("--samples-per-combination", type=int, default=1)
    parser.add_argument("--window-frames", type=int, default=17, help="frames one window generates (training length)")
    parser.add_argument("--context-frames", type=int, default=2, help="latent frames each window continues on")
    parser.add_argument("--lengths", type=int, nargs="*", default=[33, 129, 513],
                        help="clip lengths timed for peak memory and time per frame (none: skip)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps")
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None, help="write the report as JSON here")


def run(args) -> int:
    from genvid.commands.checks import check_options, pipeline_folder, resolve_device
    from genvid.commands.generate import load_pipeline
    from genvid.data.synthetic import caption_for
    from genvid.errors import GenvidError
    from genvid.eval.long_video import WINDOW, evaluate_long, measure_lengths, window_option
    from genvid.eval.prompts_eval import split_combinations

    if args.num_frames < WINDOW or (args.num_frames - 1) % (WINDOW - 1):
        raise GenvidError(f"--num-frames must be 1 + 16k and at least {WINDOW} (the analyzer's windows), got {args.num_frames}")
    if any(length < 1 for length in args.lengths):
        raise GenvidError(f"--lengths must be positive frame counts, got {args.lengths}")
    check_options(args, {
        "--samples-per-combination": {"minimum": 1, "maximum": 10000}, "--window-frames": {"minimum": 1},
        "--context-frames": {"minimum": 1}, "--batch-size": {"minimum": 1}, "--seed": {},
        "--steps": {"minimum": 1, "maximum": 10000}, "--guidance": {"minimum": 0}, "--height": {"minimum": 1},
        "--width": {"minimum": 1},
    })
    device = str(resolve_device(args.device))
    folder, kind = pipeline_folder(args.pipeline, args.model)  # the kind from model_index.json
    pipeline = load_pipeline(kind, str(folder), device)
    options = dict(height=args.height, width=args.width)
    if args.guidance is not None:
        options["guidance_scale"] = args.guidance
    if args.steps is not None and hasattr(pipeline, "scheduler"):
        options["num_inference_steps"] = args.steps
    report = {"pipeline": args.pipeline or f"demo {args.model or 'diffusion'}", "splits": {}}
    for split in args.splits:
        report["splits"][split] = evaluate_long(
            pipeline, split_combinations(split), args.num_frames, args.samples_per_combination, args.batch_size,
            args.seed, args.window_frames, args.context_frames, **options)
    if args.lengths:
        windowed = {window_option(pipeline): args.window_frames, "context_frames": args.context_frames, **options}
        prompt = caption_for(*split_combinations(args.splits[0])[0])
        report["lengths"] = measure_lengths(pipeline, prompt, args.lengths, args.seed, **windowed)
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0
