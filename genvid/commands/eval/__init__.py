"""genvid eval {tokenizer,prompts,fvd,clipsim,long,edit,upscale,...,sound} ...: one module per evaluation in this package,
each with ``HELP``, ``add_arguments(parser)`` and ``run(args)``; the measuring code is genvid.eval."""

import importlib

HELP = "evaluate: a tokenizer's reconstructions, a generator's prompt following, FVD, CLIPSIM, long video, editing, super-resolution, the DiT's keyframes / stylization / video-to-video / few-step table, sound (v2a, a2v, audio-conditioned diffusion)"

EVALUATIONS = ("tokenizer", "prompts", "fvd", "clipsim", "long", "edit", "upscale", "keyframes", "stylize", "v2v", "steps", "sound")


def add_arguments(parser) -> None:
    subparsers = parser.add_subparsers(dest="evaluation", metavar="WHAT", required=True)
    for name in EVALUATIONS:
        module = importlib.import_module(f"{__name__}.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(_evaluation=module)


def run(args) -> int:
    return args._evaluation.run(args)
