"""Training task for video super-resolution (``task: super_resolution``).

The batch's clips are the true high-resolution video (``data.height`` x ``data.width``); the
task makes the model's input from them by area downsampling (genvid.models.super_resolution.
area_downsample), so the data never holds a low-resolution copy and any video source works.
To spend a CPU's steps where the errors are, each clip is first cut to ``clip_frames`` frames at a
random start and, with ``crop_size``, to a square crop that (for ``object_crop_fraction`` of the
clips) holds the moving object: on a plain background most pixels are already right after
bicubic upsampling. The loss is the mean squared error on the high-resolution pixels (what PSNR
measures; measured here, L1 barely moved a zero-initialised residual: nine pixels in ten are flat
background that bicubic already gets exactly, and L1's gradient there is as large as at an edge;
overfitting 8 crops for 80 steps gained +0.05 dB over bicubic with L1, +3.6 dB with MSE). Logs ``psnr_gain_db``: the model's PSNR over bicubic's on
the batch. The export is a :class:`genvid.pipelines.upscale.GenVidUpscalePipeline` folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genvid.config import ConfigError, build_model, check_fractions
from genvid.models.super_resolution import VideoSuperResolution, area_downsample, bicubic_upsample
from genvid.training.task import TrainingTask

# a pixel whose colour is this far (0-2 scale of [-1, 1] video) from its frame's median is the object
_OBJECT_THRESHOLD = 0.3


@dataclass
class SuperResolutionOptions:
    """``task_options:`` of a super-resolution config."""

    #: frames of each clip the step trains on (a random window; None = all)
    clip_frames: int | None = 4
    #: side of the square high-resolution crop trained on (None = the whole frame); a multiple of the scale
    crop_size: int | None = None
    #: share of the crops placed so that they hold the object (the rest anywhere)
    object_crop_fraction: float = 0.75
    mse_weight: float = 1.0
    l1_weight: float = 0.0
    preview_samples: int = 2


def _object_centres(video: torch.Tensor) -> torch.Tensor:
    """``(batch, 2)`` row/column of the mean position of pixels unlike their frame's median colour
    in the clip's first frame (the frame centre when there are none)."""
    first = video[:, :, 0]  # b c h w
    median = first.flatten(2).median(dim=2).values[:, :, None, None]
    mask = ((first - median).abs().amax(dim=1) > _OBJECT_THRESHOLD).float()  # b h w
    rows = torch.arange(first.shape[2], dtype=torch.float32)
    columns = torch.arange(first.shape[3], dtype=torch.float32)
    area = mask.sum(dim=(1, 2))
    centre_row = torch.where(area > 0, (mask.sum(dim=2) * rows).sum(dim=1) / area.clamp_min(1), first.shape[2] / 2)
    centre_column = torch.where(area > 0, (mask.sum(dim=1) * columns).sum(dim=1) / area.clamp_min(1), first.shape[3] / 2)
    return torch.stack([centre_row, centre_column], dim=1)


class SuperResolutionTask(TrainingTask):
    options_class = SuperResolutionOptions
    model_class = VideoSuperResolution

    def __init__(self, model_config: dict[str, Any], options: SuperResolutionOptions | None, data_config: Any):
        options = options or SuperResolutionOptions()
        super().__init__(dict(model_config or {}), options, data_config)
        scale = int(self.model_config.get("scale_factor", 2))
        self.scale_factor = scale
        if options.clip_frames is not None and options.clip_frames < 1:
            raise ConfigError(f"task_options.clip_frames must be >= 1 (or null for whole clips), got {options.clip_frames}")
        if options.crop_size is not None and (options.crop_size < scale or options.crop_size % scale):
            raise ConfigError(f"task_options.crop_size must be a positive multiple of model.scale_factor ({scale}), got {options.crop_size}")
        check_fractions(options, ("object_crop_fraction",))
        if data_config is not None and getattr(data_config, "buckets", None) is None:
            height, width = data_config.height, data_config.width
            if height % scale or width % scale:
                raise ConfigError(f"data.height and data.width ({height}x{width}) must be multiples of model.scale_factor ({scale})")
        self.device = torch.device("cpu")

    def build_model(self) -> VideoSuperResolution:
        return build_model(VideoSuperResolution, self.model_config, "model")

    def setup(self, device: torch.device) -> None:
        self.device = torch.device(device)

    def cut(self, video: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The step's training window of each clip: ``clip_frames`` frames from a random start,
        then a ``crop_size`` square (aligned to the scale factor, so that the low-resolution input
        is exactly the crop's downsampling)."""
        options, scale = self.options, self.scale_factor
        batch, _, frames, height, width = video.shape
        generator_device = generator.device if generator is not None else "cpu"

        def uniform(count: int) -> torch.Tensor:
            return torch.rand(count, generator=generator, device=generator_device).cpu()

        if options.clip_frames is not None and options.clip_frames < frames:
            starts = (uniform(batch) * (frames - options.clip_frames + 1)).long().clamp_max(frames - options.clip_frames)
            video = torch.stack([clip[:, start : start + options.clip_frames] for clip, start in zip(video, starts.tolist())])
        size = options.crop_size
        if size is None or (size >= height and size >= width):
            return video
        size_y, size_x = min(size, height), min(size, width)
        # anywhere in the frame, or around the object's centre at a random place inside the crop
        tops = uniform(batch) * (height - size_y)
        lefts = uniform(batch) * (width - size_x)
        centres = _object_centres(video)
        around = uniform(batch) < options.object_crop_fraction
        tops = torch.where(around, centres[:, 0] - uniform(batch) * size_y, tops)
        lefts = torch.where(around, centres[:, 1] - uniform(batch) * size_x, lefts)
        tops = (tops.clamp(0, height - size_y) / scale).long() * scale
        lefts = (lefts.clamp(0, width - size_x) / scale).long() * scale
        return torch.stack([
            clip[:, :, top : top + size_y, left : left + size_x] for clip, top, left in zip(video, tops.tolist(), lefts.tolist())
        ])

    def training_step(self, model, batch, step, generator):
        target = self.cut(batch["video"].float(), generator).to(self.device)
        low = area_downsample(target, self.scale_factor)
        prediction = model(low)
        l1 = (prediction - target).abs().mean()
        mse = F.mse_loss(prediction, target)
        loss = self.options.mse_weight * mse + self.options.l1_weight * l1
        with torch.no_grad():
            baseline = F.mse_loss(bicubic_upsample(low, self.scale_factor), target)
            gain = 10 * torch.log10(baseline.clamp_min(1e-12) / mse.detach().clamp_min(1e-12))
        return loss, {"l1": float(l1.detach()), "mse": float(mse.detach()), "psnr_gain_db": float(gain)}

    def tokens_in_batch(self, batch: dict[str, Any]) -> int:
        batch_size, _, frames, height, width = batch["video"].shape
        frames = min(frames, self.options.clip_frames or frames)
        size = self.options.crop_size
        if size is not None:
            height, width = min(size, height), min(size, width)
        return batch_size * frames * height * width // self.scale_factor**2

    @torch.no_grad()
    def preview(self, model, step, output_dir, generator) -> None:
        """A contact sheet: per clip, the bicubic upsampling, the model's and the true clip."""
        from genvid.data import build_dataset, collate_videos, write_contact_sheet

        dataset = build_dataset(self.data_config)
        items = [dataset[index] for index in range(min(self.options.preview_samples, len(dataset)))]
        target = collate_videos(items)["video"].to(self.device)
        low = area_downsample(target, self.scale_factor)
        module = getattr(model, "module", model)
        prediction = module(low).clamp(-1, 1)
        rows = []
        for bicubic, predicted, true in zip(bicubic_upsample(low, self.scale_factor).clamp(-1, 1), prediction, target):
            rows += [bicubic, predicted, true]
        write_contact_sheet(Path(output_dir) / f"super_resolution_step{step:07d}.png", rows)

    def export(self, model, output_dir) -> None:
        from genvid.pipelines.upscale import GenVidUpscalePipeline

        module = getattr(model, "module", model)
        GenVidUpscalePipeline(upscaler=module).save_pretrained(str(output_dir))
