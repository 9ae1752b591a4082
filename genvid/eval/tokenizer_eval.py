"""Reconstruction quality of a tokenizer: per-clip PSNR / SSIM, comparison sheets, held-out sets.

The command is ``genvid eval tokenizer`` (genvid/commands/eval/tokenizer.py).
"""

from __future__ import annotations


def fit_to_tokenizer(tokenizer, video, num_frames, height, width):
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


def summarize(tokenizer, videos, chunk_size=None, names=None, on_clip=None) -> tuple[dict, list[dict]]:
    """``(summary, per_clip)`` of :func:`evaluate` over ``videos``: mean PSNR / SSIM and, for a
    discrete tokenizer, codebook usage and perplexity over all clips' ids. ``on_clip`` is called
    with each ``(name, input, reconstruction, figures)`` as it is measured."""
    import torch

    from genvid.eval.metrics import codebook_usage

    per_clip, all_ids = [], []
    for name, video, reconstruction, figures, ids in evaluate(tokenizer, videos, chunk_size, names):
        per_clip.append({"clip": name, **figures})
        if ids is not None:
            all_ids.append(ids.flatten())
        if on_clip is not None:
            on_clip(name, video, reconstruction, figures)
    if not per_clip:
        raise ValueError("no clips to evaluate")
    summary = {
        "clips": len(per_clip),
        "psnr": sum(row["psnr"] for row in per_clip) / len(per_clip),
        "ssim": sum(row["ssim"] for row in per_clip) / len(per_clip),
    }
    if all_ids:
        usage, perplexity = codebook_usage(torch.cat(all_ids), tokenizer.codebook_size)
        summary.update(codebook_usage=usage, codebook_perplexity=perplexity, codebook_size=tokenizer.codebook_size)
    return summary, per_clip
