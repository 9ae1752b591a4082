"""How much a super-resolution model beats bicubic upsampling, on held-out synthetic clips.

Each clip is one of genvid.data.synthetic's HELDOUT_COMBINATIONS (never in a training split),
rendered at the high resolution (the truth), reduced by area downsampling (the input), then
upsampled by the model and by bicubic interpolation. Per clip: PSNR and SSIM of both against the
truth, and genvid's analyzer (genvid.eval.analyzer) read on the input, the model's output and the
truth: the attributes must read the same at both sizes. Figures are per-clip means.

Example::

    >>> from genvid.eval.upscaling import evaluate_upscaling
    >>> figures = evaluate_upscaling(pipeline.upscaler, num_clips=8)
    >>> figures["psnr_gain_db"], figures["analyzer_same_fraction"]
"""

from __future__ import annotations

import torch

from genvid.eval.analyzer import analyze_clip
from genvid.eval.metrics import psnr, ssim
from genvid.models.super_resolution import area_downsample, bicubic_upsample

ATTRIBUTES = ("color", "shape", "motion")


def heldout_clips(num_clips: int, num_frames: int, height: int, width: int, seed: int):
    """``(item, clip)`` pairs of held-out synthetic clips at the high resolution."""
    from genvid.data.synthetic import SyntheticVideoDataset

    dataset = SyntheticVideoDataset(split="heldout", num_samples=num_clips, num_frames=num_frames, height=height, width=width, seed=seed)
    for index in range(num_clips):
        item = dataset[index]
        yield item, item["video"]


def _reads(clip: torch.Tensor) -> tuple:
    found = analyze_clip(clip)
    return tuple(found[name] for name in ATTRIBUTES)


@torch.no_grad()
def score_clip(model, truth: torch.Tensor, labels: tuple, chunk_frames: int | None = None) -> dict:
    """The figures of one high-resolution clip ``(3, T, H, W)`` in [-1, 1]."""
    scale = int(model.config.scale_factor)
    parameter = next(model.parameters())
    low = area_downsample(truth[None].float(), scale)
    upscaled = model.upscale_in_chunks(low.to(parameter.device, parameter.dtype), chunk_frames).float().cpu().clamp(-1, 1)
    bicubic = bicubic_upsample(low, scale).clamp(-1, 1)
    reads = {"input": _reads(low[0]), "model": _reads(upscaled[0]), "truth": _reads(truth)}
    return {
        "psnr_model": float(psnr(upscaled, truth[None])),
        "psnr_bicubic": float(psnr(bicubic, truth[None])),
        "ssim_model": float(ssim(upscaled, truth[None])),
        "ssim_bicubic": float(ssim(bicubic, truth[None])),
        "reads": reads,
        # the analyzer reads the model's output as it reads the input (the same clip at both sizes)
        "same_as_input": reads["model"] == reads["input"],
        "model_right": reads["model"] == tuple(labels),
        "input_right": reads["input"] == tuple(labels),
    }


def evaluate_upscaling(
    model, num_clips: int = 8, num_frames: int = 17, height: int = 128, width: int = 128, seed: int = 1,
    chunk_frames: int | None = None,
) -> dict:
    """Per-clip means over ``num_clips`` held-out clips whose truth is ``height x width``
    (the model's input is that divided by its scale factor); ``clips`` holds every clip's row."""
    was_training = model.training
    model.eval()
    rows = []
    for item, truth in heldout_clips(num_clips, num_frames, height, width, seed):
        labels = (item["color"], item["shape"], item["motion"])
        row = score_clip(model, truth, labels, chunk_frames)
        rows.append({"caption": item["caption"], "labels": labels, **row})
    model.train(was_training)

    def mean(key):
        return sum(float(row[key]) for row in rows) / len(rows)

    figures = {name: mean(name) for name in ("psnr_model", "psnr_bicubic", "ssim_model", "ssim_bicubic")}
    figures["psnr_gain_db"] = figures["psnr_model"] - figures["psnr_bicubic"]
    figures["analyzer_same_fraction"] = mean("same_as_input")
    figures["analyzer_model_right_fraction"] = mean("model_right")
    figures["analyzer_input_right_fraction"] = mean("input_right")
    figures["num_clips"] = len(rows)
    figures["truth_size"] = [num_frames, height, width]
    figures["clips"] = rows
    return figures
