"""genvid eval tokenizer: reconstruction quality of a tokenizer on videos.

Prints one line per clip (PSNR, SSIM) and the means; for a discrete tokenizer also the codebook
usage and perplexity over all clips' ids. --sheet writes an input | reconstruction | error PNG of
the first clip (error = |difference| x --error-gain, black = exact); --json the figures; --report
an HTML page with every clip's sheet and the per-clip PSNR / SSIM charts. Without --tokenizer the
shipped tokenizer is evaluated (--pretrained gaussian|fsq). --heldout real|synthetic evaluates
genvid's fixed held-out sets instead of files.
"""

from __future__ import annotations

import json
from pathlib import Path

from genvid.errors import GenvidError

HELP = "PSNR / SSIM (and codebook usage) of a tokenizer on videos"


def add_arguments(parser) -> None:
    from genvid.commands.encode import add_tokenizer_arguments
    from genvid.commands.eval.outputs import add_output_arguments

    parser.add_argument("videos", nargs="*", help="video/image files, folders of them, or a manifest (.csv / .jsonl)")
    add_tokenizer_arguments(parser)
    parser.add_argument("--heldout", default=None, choices=["real", "synthetic"],
                        help="evaluate a fixed held-out set instead of files (size from --height/--width, default 64)")
    parser.add_argument("--num-frames", type=int, default=17, help="frames per clip (1 + 4k; default 17)")
    parser.add_argument("--height", type=int, default=None, help="resize + centre-crop height (default: the file's, floored to a multiple of the compression)")
    parser.add_argument("--width", type=int, default=None, help="resize + centre-crop width")
    parser.add_argument("--max-clips", type=int, default=None, help="evaluate at most this many clips")
    parser.add_argument("--chunk-size", type=int, default=None, help="latent frames per chunk (default: automatic)")
    parser.add_argument("--sheet", default=None, help="write an input | reconstruction | error PNG of the first clip")
    parser.add_argument("--sheet-frames", type=int, default=5, help="frames (rows) shown in the sheet, evenly spaced")
    parser.add_argument("--error-gain", type=float, default=4.0, help="error panel brightness: |difference| x this")
    add_output_arguments(parser, report_clips=12, clips_help="clips whose sheets")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def run(args) -> int:
    import torch

    from genvid.commands.encode import load_tokenizer, pick_device, tokenizer_config, tokenizer_reference
    from genvid.errors import GenvidError
    from genvid.eval.clips import clip_paths
    from genvid.eval.tokenizer_eval import heldout_clips, summarize, write_comparison_sheet

    check_request(args)
    device, dtype = pick_device(args.device), getattr(torch, args.dtype)
    reference = tokenizer_reference(args)
    check_spatial_size(args, tokenizer_config(reference))
    tokenizer = load_tokenizer(reference, device, dtype)
    skipped = []
    if args.heldout:
        if args.videos:
            raise GenvidError("give either videos or --heldout, not both")
        named = heldout_clips(args.heldout, args.num_frames, args.height or 64, args.width or 64)[: args.max_clips]
        names = [name for name, _ in named]
        clips = (clip for _, clip in named)
    else:
        names = clip_paths(args.videos)[: args.max_clips]
        if not names:
            raise GenvidError("no videos to evaluate (give files, a manifest, or --heldout real|synthetic)")
        clips = readable_clips(tokenizer, names, args, skipped)

    shown = []

    def on_clip(name, video, reconstruction, figures):
        print(f"{name}: PSNR {figures['psnr']:.2f} dB  SSIM {figures['ssim']:.4f}  ({video.shape[1]}x{video.shape[2]}x{video.shape[3]})")
        if args.sheet and not shown:
            write_comparison_sheet(args.sheet, video, reconstruction, args.sheet_frames, args.error_gain)
        if len(shown) < (args.report_clips if args.report else 1):
            shown.append((name, video, reconstruction, figures))

    summary, per_clip = summarize(tokenizer, clips, args.chunk_size, names, on_clip)
    if skipped:
        summary["skipped"] = len(skipped)
    line = f"mean over {summary['clips']} clips{f' ({len(skipped)} unreadable skipped)' if skipped else ''}: PSNR {summary['psnr']:.2f} dB  SSIM {summary['ssim']:.4f}"
    if "codebook_usage" in summary:
        line += (f"  codebook usage {summary['codebook_usage']:.2%} of {summary['codebook_size']}"
                 f"  perplexity {summary['codebook_perplexity']:.1f}")
    print(line)
    if args.sheet:
        print(f"contact sheet: {args.sheet}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "clips": per_clip}, indent=1))
    if args.report:
        page = write_report(args.report, reference, summary, per_clip, shown, args.sheet_frames, args.error_gain)
        print(f"report: {page}")
    return 0


def check_request(args) -> None:
    """Every option checked before the tokenizer loads: numbers, output names, the files named."""
    from genvid.commands.checks import check_options, check_output_suffix
    from genvid.commands.encode import check_sizes

    check_sizes(args)
    check_options(args, {"--max-clips": {"minimum": 1}, "--sheet-frames": {"minimum": 1, "maximum": 1000},
                         "--error-gain": {"above": 0}, "--report-clips": {"minimum": 0}})
    if args.sheet:
        check_output_suffix(args.sheet, "--sheet", (".png",))
    if args.json:
        check_output_suffix(args.json, "--json", (".json",))
    for item in args.videos:
        if not Path(item).exists():
            raise GenvidError(f"{item}: no such file or folder")


def check_spatial_size(args, config: dict) -> None:
    from genvid.commands import memory

    spatial = memory.tokenizer_factors(config)[1]
    for option, value in (("--height", args.height), ("--width", args.width)):
        if value is not None and value % spatial:
            raise GenvidError(f"{option} {value}: this tokenizer needs multiples of {spatial}")


def readable_clips(tokenizer, names: list[str], args, skipped: list[str]):
    """The files' clips fitted to the tokenizer; an unreadable file is skipped and counted, as in
    training, and leaves ``names`` so that names keep following the clips."""
    import sys

    from genvid.data import read_video
    from genvid.errors import GenvidError
    from genvid.eval.tokenizer_eval import fit_to_tokenizer

    for path in list(names):
        try:
            video = read_video(path, num_frames=args.num_frames)
        except GenvidError as error:
            if len(names) + len(skipped) == 1:  # the one file asked for: its reason is the error
                raise
            skipped.append(path)
            names.remove(path)
            print(f"skipping unreadable file ({len(skipped)} skipped so far): {error}", file=sys.stderr)
            continue
        yield fit_to_tokenizer(tokenizer, video, args.num_frames, args.height, args.width)
    if not names:
        raise GenvidError(f"none of the {len(skipped)} files could be read")


def write_report(target, reference, summary, per_clip, shown, sheet_frames, error_gain):
    from genvid.eval.report import Report
    from genvid.eval.tokenizer_eval import comparison_video

    report = Report(target, f"Tokenizer evaluation: {reference}")
    report.heading("Summary")
    report.table(["figure", "value"], [[key.replace("_", " "), value] for key, value in summary.items()])
    report.note("PSNR and SSIM per clip on the [0, 1] pixel scale, SSIM with an 11x11 Gaussian window "
                "(sigma 1.5) per frame and channel, averaged; higher is better for both.")
    labels = [Path(row["clip"]).name for row in per_clip]
    report.heading("Per clip")
    report.bar_chart("PSNR (dB)", labels, [row["psnr"] for row in per_clip])
    report.bar_chart("SSIM", labels, [row["ssim"] for row in per_clip], lower=0.0, upper=1.0)
    report.table(["clip", "PSNR (dB)", "SSIM"], [[row["clip"], row["psnr"], row["ssim"]] for row in per_clip])
    report.heading("Input | reconstruction | error")
    report.note(f"One row per shown frame; the error panel is |reconstruction - input| x {error_gain:g} (black = exact).")
    report.begin_grid()
    for name, video, reconstruction, figures in shown:
        sheet = comparison_video(video, reconstruction, sheet_frames, error_gain)
        caption = f"{Path(name).name}: {figures['psnr']:.2f} dB, SSIM {figures['ssim']:.3f}"
        report.sheet(sheet, caption, width=min(3 * 2 * video.shape[-1], 600), columns=1)
    report.end_grid()
    return report.write()
