"""genvid eval upscale: a super-resolution pipeline against bicubic upsampling on held-out clips.

Held-out synthetic combinations (never trained on) are rendered at --height x --width (the truth),
area-downsampled by the pipeline's scale factor (the input) and upsampled back by the model and by
bicubic interpolation. Prints, per clip and as per-clip means, PSNR and SSIM of both against the
truth and whether genvid's analyzer reads the same colour, shape and motion in the model's output
as in the input. Default pipeline: the shipped demo (genvid.demo_path("upscale")).
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "super-resolution: PSNR / SSIM over bicubic and the analyzer's reading at both sizes, on held-out clips"


def add_arguments(parser) -> None:
    parser.add_argument("--pipeline", default=None, help="an upscale pipeline folder (default: the shipped demo)")
    parser.add_argument("--num-clips", type=int, default=8, help="held-out clips (default 8: each held-out combination once)")
    parser.add_argument("--num-frames", type=int, default=17)
    parser.add_argument("--height", type=int, default=128, help="the true clip's height (the input is this / scale)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1, help="which held-out clips (positions, sizes, backgrounds)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--json", default=None, help="write the figures (and every clip's row) to this JSON file")


def run(args) -> int:
    from genvid.commands.checks import check_number, check_seed, resolve_device
    from genvid.errors import GenvidError
    from genvid.pipelines.upscale import load_upscale_pipeline

    check_number(args.num_clips, "--num-clips", minimum=1, maximum=100000)
    check_number(args.num_frames, "--num-frames", minimum=1, maximum=100000)
    check_seed(args.seed)
    pipeline = load_upscale_pipeline(args.pipeline, str(resolve_device(args.device)))
    scale = pipeline.scale_factor
    for option, value in (("--height", args.height), ("--width", args.width)):
        check_number(value, option, minimum=8 * scale)
        if value % scale:
            raise GenvidError(f"{option} {value} must be a multiple of the pipeline's scale factor {scale}")
    from genvid.eval.upscaling import evaluate_upscaling

    figures = evaluate_upscaling(pipeline.upscaler, args.num_clips, args.num_frames, args.height, args.width, args.seed)
    for row in figures["clips"]:
        same = "same" if row["same_as_input"] else f"differs (input {row['reads']['input']}, output {row['reads']['model']})"
        print(
            f"{row['caption']}: PSNR {row['psnr_model']:.2f} dB (bicubic {row['psnr_bicubic']:.2f}), "
            f"SSIM {row['ssim_model']:.4f} (bicubic {row['ssim_bicubic']:.4f}), analyzer {same}"
        )
    print(
        f"{scale}x on {figures['num_clips']} held-out clips {args.num_frames}x{args.height // scale}x{args.width // scale} -> "
        f"{args.height}x{args.width}: PSNR {figures['psnr_model']:.2f} dB vs bicubic {figures['psnr_bicubic']:.2f} dB "
        f"({figures['psnr_gain_db']:+.2f} dB), SSIM {figures['ssim_model']:.4f} vs {figures['ssim_bicubic']:.4f}, "
        f"analyzer reads the same colour/shape/motion at both sizes in {figures['analyzer_same_fraction']:.0%} of clips "
        f"(prompt's attributes: output {figures['analyzer_model_right_fraction']:.0%}, input {figures['analyzer_input_right_fraction']:.0%})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=list))
    return 0
