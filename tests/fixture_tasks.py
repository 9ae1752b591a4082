"""A tiny denoising task that exercises the training loop without the big models."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_model
from torch import nn

from genvid.training.task import TrainingTask


class TinyDenoiser(nn.Module):
    def __init__(self, channels: int = 3, hidden: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(channels, hidden, 3, padding=1), nn.SiLU(), nn.Conv3d(hidden, channels, 3, padding=1)
        )

    def forward(self, video):
        return self.net(video)


@dataclass
class DenoiseOptions:
    noise: float = 0.3
    #: slows each step so that a test can kill the run in the middle
    sleep_per_step: float = 0.0
    #: steps (0-based) whose loss is made NaN
    nan_steps: tuple = ()


class DenoiseTask(TrainingTask):
    options_class = DenoiseOptions
    model_class = TinyDenoiser

    def build_model(self):
        torch.manual_seed(0)
        return TinyDenoiser(**self.model_config)

    def training_step(self, model, batch, step, generator):
        if self.options.sleep_per_step:
            time.sleep(self.options.sleep_per_step)
        video = batch["video"]
        noise = torch.randn(video.shape, generator=generator, device=video.device) * self.options.noise
        bfloat16_autocast = torch.is_autocast_enabled(video.device.type) and (
            torch.get_autocast_dtype(video.device.type) == torch.bfloat16
        )
        output = model(video + noise)
        loss = F.mse_loss(output.float(), video)
        if step in tuple(self.options.nan_steps):
            loss = loss * float("nan")
        return loss, {"noise_level": self.options.noise, "bfloat16_autocast": float(bfloat16_autocast)}

    def export(self, model, output_dir: Path):
        output_dir.mkdir(parents=True, exist_ok=True)
        save_model(model, str(output_dir / "model.safetensors"))
