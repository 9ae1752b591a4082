"""``--upscale FACTOR`` of ``genvid generate``: the generated clip through a super-resolution pipeline.

Checked before anything is loaded (the factor against the upscaler's saved config), applied after
generation, so it works the same for both generators.
"""

from __future__ import annotations

UPSCALE_CLASS = "GenVidUpscalePipeline"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--upscale", type=int, default=None, metavar="FACTOR",
        help="upsample the generated clip FACTOR times with a super-resolution pipeline (the shipped one: 2, 64x64 -> 128x128)",
    )
    parser.add_argument("--upscaler", default=None, help="an upscale pipeline folder for --upscale (default: the shipped demo)")


def check(args):
    """The upscaler folder (None without ``--upscale``), its factor checked against ``--upscale``."""
    from genvid.commands.checks import local_folder, read_json
    from genvid.errors import GenvidError

    if args.upscale is None:
        if args.upscaler is not None:
            raise GenvidError("--upscaler needs --upscale FACTOR (how many times larger)")
        return None
    if getattr(args, "task", None) == "v2a":
        raise GenvidError("--upscale is for videos; --task v2a makes a soundtrack")
    if args.upscaler is None:
        from genvid.demo import demo_path

        folder = local_folder(demo_path("upscale"), "--upscaler", "upscale pipeline")
    else:
        folder = local_folder(args.upscaler, "--upscaler", "upscale pipeline")
    index = folder / "model_index.json"
    if not index.is_file() or read_json(index, "--upscaler").get("_class_name") != UPSCALE_CLASS:
        raise GenvidError(f"--upscaler {folder} is not an upscale pipeline folder (no model_index.json of a {UPSCALE_CLASS})")
    config = folder / "upscaler" / "config.json"
    factor = int(read_json(config, "--upscaler").get("scale_factor", 2)) if config.is_file() else None
    if factor is None:
        raise GenvidError(f"--upscaler {folder} has no upscaler/config.json")
    if args.upscale != factor:
        raise GenvidError(f"--upscale {args.upscale}: the upscaler at {folder} makes {factor}x only; pass --upscale {factor}")
    return folder


def apply(folder, result, device):
    """``result`` (a pipeline output with "pt" frames) with its frames upsampled."""
    from genvid.pipelines.common import GenVidPipelineOutput, frames_to_video
    from genvid.pipelines.upscale import load_upscale_pipeline

    upscaler = load_upscale_pipeline(str(folder), str(device))
    frames = upscaler(video=frames_to_video(result.frames), output_type="pt").frames
    return GenVidPipelineOutput(frames=frames, audio=result.audio)
