"""genvid eval stylize: the diffusion pipeline restyles true synthetic clips from their structure
map (--structure grey: the grey levels) with prompts asking for another colour; a clip passes when
the analyzer reads the prompt's colour and the input's shape, and the object stays on the input's
path (within 3 px on average: stylized_accuracy); all_accuracy is the analyzer's reading alone.
One row per --strengths.
"""

from __future__ import annotations

from genvid.commands.eval import conditioned

HELP = "stylization by the diffusion pipeline: input's shape and motion kept, prompt's colour taken"


def add_arguments(parser) -> None:
    conditioned.add_arguments(parser)
    parser.add_argument("--structure", default="grey", help="structure map of the input (default: grey)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.6])


def run(args) -> int:
    from genvid.errors import GenvidError
    from genvid.eval.stylization import stylization_accuracy
    from genvid.pipelines.conditioning import STRUCTURES

    if args.structure not in STRUCTURES:
        raise GenvidError(f"--structure must be one of {', '.join(STRUCTURES)}, got {args.structure!r}")
    if not all(0 <= strength <= 1 for strength in args.strengths):
        raise GenvidError("--strengths must lie in [0, 1]")
    pipeline, options = conditioned.load(args)
    report = stylization_accuracy(pipeline, args.split, args.samples_per_combination, args.seed, args.strengths,
                                  args.structure, batch_size=args.batch_size, combinations=args.combinations, **options)
    return conditioned.finish(args, report, ["stylized_accuracy", "all_accuracy", "path_kept", "color_accuracy", "shape_accuracy", "motion_accuracy",
                                             "mean_path_distance_px"])
