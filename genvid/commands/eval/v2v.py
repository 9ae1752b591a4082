"""genvid eval v2v: the diffusion pipeline's video-to-video on true synthetic clips with their own
captions: PSNR of the output to the input, and the analyzer's reading, per --strengths (strength 0
is the tokenizer's round trip).
"""

from __future__ import annotations

from genvid.commands.eval import conditioned

HELP = "video-to-video of the diffusion pipeline: PSNR to the input per strength"


def add_arguments(parser) -> None:
    from genvid.eval.video_to_video import DEFAULT_STRENGTHS

    conditioned.add_arguments(parser)
    parser.add_argument("--strengths", type=float, nargs="+", default=list(DEFAULT_STRENGTHS))


def run(args) -> int:
    from genvid.errors import GenvidError
    from genvid.eval.video_to_video import video_to_video_psnr

    if not all(0 <= strength <= 1 for strength in args.strengths):
        raise GenvidError("--strengths must lie in [0, 1]")
    pipeline, options = conditioned.load(args)
    report = video_to_video_psnr(pipeline, args.split, args.samples_per_combination, args.seed, args.strengths,
                                 batch_size=args.batch_size, combinations=args.combinations, **options)
    return conditioned.finish(args, report, ["psnr_db", "psnr_min_db", "all_accuracy", "color_accuracy",
                                             "shape_accuracy", "motion_accuracy"])
