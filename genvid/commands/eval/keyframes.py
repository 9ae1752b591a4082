"""genvid eval keyframes: given the first and last frames of true synthetic clips, how far do the
diffusion pipeline's generated middle frames put the object from its true path?

Per clip: the mean distance (pixels) of the object's centre in frames 1..T-2 to the true centre
(genvid.data.synthetic.object_path); reported with the share of clips within 3 px, the share of
middle frames where an object is seen, and what the analyzer reads. The row "text only" runs the
same prompts without the keyframes, for reference.
"""

from __future__ import annotations

from genvid.commands.eval import conditioned

HELP = "keyframe interpolation of the diffusion pipeline: distance of the middle frames to the true path"


def add_arguments(parser) -> None:
    conditioned.add_arguments(parser)
    parser.add_argument("--num-frames", type=int, default=17)
    parser.add_argument("--no-text-only", action="store_true", help="skip the reference row without keyframes")


def run(args) -> int:
    from genvid.eval.keyframes import keyframe_path_error

    pipeline, options = conditioned.load(args)
    report = keyframe_path_error(pipeline, args.split, args.samples_per_combination, args.seed, args.num_frames,
                                 batch_size=args.batch_size, combinations=args.combinations, text_only=not args.no_text_only, **options)
    return conditioned.finish(args, report, ["mean_distance_px", "median_distance_px", "within_3px", "visible_fraction",
                                             "color_accuracy", "shape_accuracy", "motion_accuracy"])
