"""``genvid eval tokenizer``: reconstruction quality of a tokenizer on videos.

Prints one line per clip (PSNR, SSIM) and the means; for a discrete tokenizer also the
codebook usage and perplexity over all clips' ids. ``--sheet`` writes a contact sheet of the first
clip, one row per shown frame: input | reconstruction | error (|difference| x ``--error-gain``,
black = exact); ``--json`` the figures. Without --tokenizer the shipped tokenizer is evaluated
(``--pretrained gaussian|fsq``). ``--heldout real|synthetic`` evaluates genvid's fixed held-out
sets (camera-motion clips of the held-out bundled photographs; the held-out synthetic combinations)
instead of files.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "PSNR / SSIM (and codebook usage) of a tokenizer on videos"


def add_arguments(parser) -> None:
    from genvid.commands.encode import add_tokenizer_arguments

    parser.add_argument("videos", nargs="*", help="video/image files, or a manifest (.csv / .jsonl) of them")
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
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def _video_paths(items: list[str]) -> list[str]:
    from genvid.data import read_manifest

    paths = []
    for item in items:
        if Path(item).suffix.lower() in (".csv", ".tsv", ".jsonl", ".json"):
            paths.extend(row["video"] for row in read_manifest(item))  # made absolute by read_manifest
        else:
            paths.append(item)
    return paths


def _fit(tokenizer, video, num_frames, height, width):
    """Trim to 1 + 4k frames and crop to a multiple of the spatial compression."""
    from genvid.data import resize_and_center_crop

    step, factor = tokenizer.temporal_factor, tokenizer.spatial_factor
    frames = 1 + (min(video.shape[1], num_frames) - 1) // step * step
    video = video[:, :frames]
    height = height or video.shape[2] // factor * factor
    width = width or video.shape[3] // factor * factor
    return resize_and_center_crop(video, height, width)


def comparison_video(video, reconstruction, max_frames: int = 5, error_gain: float = 4.0):
    """One (3, F, H, 3W + 2 gaps) video whose frames read input | reconstruction | error.

    The error panel is ``|reconstruction - input|`` (mean over colour, times ``error_gain``) on black,
    so a perfect reconstruction shows a black panel and a blur lights up every edge.
    """
    import torch

    frames = video.shape[1]
    picked = torch.linspace(0, frames - 1, min(max_frames, frames)).round().long().unique()
    video, reconstruction = video[:, picked].float(), reconstruction[:, picked].float()
    error = (reconstruction - video).abs().mean(0, keepdim=True).mul(error_gain / 2).clamp(0, 1)
    error = (error * 2 - 1).expand_as(video)
    gap = torch.ones_like(video[..., :2])  # white separators
    return torch.cat([video, gap, reconstruction, gap, error], dim=-1)


def write_comparison_sheet(path, video, reconstruction, max_frames: int = 5, error_gain: float = 4.0):
    """A PNG: one row per shown frame, input | reconstruction | error."""
    from genvid.data import write_contact_sheet

    combined = comparison_video(video, reconstruction, max_frames, error_gain)
    return write_contact_sheet(path, combined, columns=1)


def heldout_clips(kind: str, num_frames: int = 17, height: int = 64, width: int = 64):
    """``(name, (3, T, H, W))`` of a fixed held-out set: "real" (bundled photographs, camera motion) or
    "synthetic" (one clip of each held-out combination)."""
    if kind == "real":
        from genvid.data.camera_motion import heldout_real_clips

        return heldout_real_clips(num_frames, height, width)
    from genvid.data.synthetic import HELDOUT_COMBINATIONS, render_clip

    return [
        ("-".join(combination), render_clip(*combination, num_frames=num_frames, height=height, width=width, seed=index))
        for index, combination in enumerate(HELDOUT_COMBINATIONS)
    ]


def evaluate(tokenizer, videos, chunk_size=None, names=None):
    """Yields ``(name, input, reconstruction, figures, ids)`` per ``(C, T, H, W)`` video."""
    import torch

    from genvid.eval.metrics import psnr, ssim

    for index, video in enumerate(videos):
        batch = video.unsqueeze(0).to(tokenizer.device, tokenizer.dtype)
        with torch.no_grad():
            latents = tokenizer.encode(batch, chunk_size=chunk_size)
            reconstruction = tokenizer.decode(latents, chunk_size=chunk_size).float().clamp(-1, 1).cpu()[0]
            ids = tokenizer.latents_to_ids(latents).cpu() if tokenizer.is_discrete else None
        figures = {"psnr": float(psnr(reconstruction, video)), "ssim": float(ssim(reconstruction, video))}
        yield (names[index] if names else str(index)), video, reconstruction, figures, ids


def run(args) -> int:
    import torch

    from genvid.commands.encode import load_tokenizer, pick_device, tokenizer_reference
    from genvid.data import read_video
    from genvid.errors import GenvidError
    from genvid.eval.metrics import codebook_usage

    device, dtype = pick_device(args.device), getattr(torch, args.dtype)
    tokenizer = load_tokenizer(tokenizer_reference(args), device, dtype)
    if args.heldout:
        if args.videos:
            raise GenvidError("give either videos or --heldout, not both")
        named = heldout_clips(args.heldout, args.num_frames, args.height or 64, args.width or 64)[: args.max_clips]
        paths = [name for name, _ in named]

        def clips():
            for _, clip in named:
                yield clip
    else:
        paths = _video_paths(args.videos)[: args.max_clips]
        if not paths:
            raise GenvidError("no videos to evaluate (give files, a manifest, or --heldout real|synthetic)")

        def clips():
            for path in paths:
                yield _fit(tokenizer, read_video(path, num_frames=args.num_frames), args.num_frames, args.height, args.width)

    results, all_ids = [], []
    for name, video, reconstruction, figures, ids in evaluate(tokenizer, clips(), args.chunk_size, paths):
        print(f"{name}: PSNR {figures['psnr']:.2f} dB  SSIM {figures['ssim']:.4f}  ({video.shape[1]}x{video.shape[2]}x{video.shape[3]})")
        results.append({"clip": name, **figures})
        if ids is not None:
            all_ids.append(ids.flatten())
        if args.sheet and len(results) == 1:
            write_comparison_sheet(args.sheet, video, reconstruction, args.sheet_frames, args.error_gain)
    summary = {
        "clips": len(results),
        "psnr": sum(r["psnr"] for r in results) / len(results),
        "ssim": sum(r["ssim"] for r in results) / len(results),
    }
    line = f"mean over {len(results)} clips: PSNR {summary['psnr']:.2f} dB  SSIM {summary['ssim']:.4f}"
    if all_ids:
        usage, perplexity = codebook_usage(torch.cat(all_ids), tokenizer.codebook_size)
        summary.update(codebook_usage=usage, codebook_perplexity=perplexity, codebook_size=tokenizer.codebook_size)
        line += f"  codebook usage {usage:.2%} of {tokenizer.codebook_size}  perplexity {perplexity:.1f}"
    print(line)
    if args.sheet:
        print(f"contact sheet: {args.sheet}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "clips": results}, indent=1))
    return 0
