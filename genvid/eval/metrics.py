"""Reconstruction and codebook metrics.

Videos are ``(B, C, T, H, W)`` (or one ``(C, T, H, W)``) in [-1, 1]. PSNR and SSIM are computed
per sample on the [0, 1] scale and then averaged, so one bad clip does not hide in a big batch's
pooled error; ``reduction="none"`` gives the per-sample values.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange


def _as_batch(video: torch.Tensor) -> torch.Tensor:
    video = torch.as_tensor(video)
    if video.ndim == 4:
        video = video.unsqueeze(0)
    if video.ndim != 5:
        raise ValueError(f"expected a video (B, C, T, H, W) or (C, T, H, W), got shape {tuple(video.shape)}")
    return video.detach().float()


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_batch(a), _as_batch(b.to(a.device) if isinstance(b, torch.Tensor) else b)
    if a.shape != b.shape:
        raise ValueError(f"videos to compare differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def psnr(a: torch.Tensor, b: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (data range of [-1, 1] videos); identical videos give inf."""
    a, b = _check_pair(a, b)
    # Errors measured on the [0, 1] scale, i.e. half the [-1, 1] difference.
    mse = (((a - b) / 2) ** 2).flatten(1).mean(dim=1)
    values = torch.where(mse > 0, -10 * torch.log10(mse.clamp_min(1e-30)), torch.full_like(mse, math.inf))
    return _reduce(values, reduction)


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    coordinates = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    kernel = torch.exp(-(coordinates**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return torch.outer(kernel, kernel)


def ssim(
    a: torch.Tensor, b: torch.Tensor, window_size: int = 11, sigma: float = 1.5, reduction: str = "mean"
) -> torch.Tensor:
    """Structural similarity on each frame (gaussian window, per channel), averaged per sample.

    Frames smaller than the window use the largest odd window that fits.
    """
    a, b = _check_pair(a, b)
    batch, channels = a.shape[:2]
    a = (rearrange(a, "b c t h w -> (b t) c h w") + 1) / 2
    b = (rearrange(b, "b c t h w -> (b t) c h w") + 1) / 2
    size = min(window_size, a.shape[-2], a.shape[-1])
    size = size if size % 2 == 1 else size - 1
    window = _gaussian_window(size, sigma, a.device, a.dtype).expand(channels, 1, size, size)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    c1, c2 = 0.01**2, 0.03**2  # stabilisers for data range 1 (Wang et al. 2004)
    mean_a, mean_b = blur(a), blur(b)
    variance_a = blur(a * a) - mean_a**2
    variance_b = blur(b * b) - mean_b**2
    covariance = blur(a * b) - mean_a * mean_b
    numerator = (2 * mean_a * mean_b + c1) * (2 * covariance + c2)
    denominator = (mean_a**2 + mean_b**2 + c1) * (variance_a + variance_b + c2)
    per_frame = (numerator / denominator).flatten(1).mean(dim=1)
    values = rearrange(per_frame, "(b t) -> b t", b=batch).mean(dim=1)
    return _reduce(values, reduction)


def codebook_usage(ids: torch.Tensor, codebook_size: int) -> tuple[float, float]:
    """``(fraction_used, perplexity)`` of token ids over a codebook.

    ``fraction_used``: distinct ids seen / codebook size. ``perplexity``: exp of the entropy of the
    id histogram (1 = one code used; ``codebook_size`` = all used equally).
    """
    ids = torch.as_tensor(ids).detach().flatten().long().cpu()
    if codebook_size < 1:
        raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
    if ids.numel() == 0:
        return 0.0, 0.0
    if ids.min() < 0 or ids.max() >= codebook_size:
        raise ValueError(f"ids must lie in [0, {codebook_size}), got range [{int(ids.min())}, {int(ids.max())}]")
    counts = torch.bincount(ids, minlength=codebook_size).double()
    probabilities = counts / counts.sum()
    nonzero = probabilities[probabilities > 0]
    entropy = -(nonzero * nonzero.log()).sum()
    return float((counts > 0).sum() / codebook_size), float(entropy.exp())
