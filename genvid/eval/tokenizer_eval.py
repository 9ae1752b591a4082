"""``genvid eval tokenizer``: reconstruction quality of a tokenizer on videos.

Prints one line per clip (PSNR, SSIM) and the means; for a discrete tokenizer also the
codebook usage and perplexity over all clips' ids. ``--sheet`` writes an
input | reconstruction | error contact sheet of the first clip; ``--json`` the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "PSNR / SSIM (and codebook usage) of a tokenizer on videos"


def add_arguments(parser) -> None:
    parser.add_argument("videos", nargs="+", help="video/image files, or a manifest (.csv / .jsonl) of them")
    parser.add_argument("--tokenizer", required=True, help="a VideoTokenizer save_pretrained folder")
    parser.add_argument("--num-frames", type=int, default=17, help="frames per clip (1 + 4k; default 17)")
    parser.add_argument("--height", type=int, default=None, help="resize + centre-crop height (default: the file's, floored to a multiple of the compression)")
    parser.add_argument("--width", type=int, default=None, help="resize + centre-crop width")
    parser.add_argument("--max-clips", type=int, default=None, help="evaluate at most this many clips")
    parser.add_argument("--chunk-size", type=int, default=None, help="latent frames per chunk (default: automatic)")
    parser.add_argument("--sheet", default=None, help="write an input | reconstruction | error PNG of the first clip")
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

    from genvid.commands.encode import load_tokenizer, pick_device
    from genvid.data import read_video, write_contact_sheet
    from genvid.errors import GenvidError
    from genvid.eval.metrics import codebook_usage

    device, dtype = pick_device(args.device), getattr(torch, args.dtype)
    tokenizer = load_tokenizer(args.tokenizer, device, dtype)
    paths = _video_paths(args.videos)[: args.max_clips]
    if not paths:
        raise GenvidError("no videos to evaluate")

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
            error = ((reconstruction - video).abs() - 1).clamp(-1, 1)  # |error| on [0, 2] shown as [-1, 1]
            write_contact_sheet(args.sheet, [video, reconstruction, error])
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
