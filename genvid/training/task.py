"""The small object each model gives the one training loop (genvid.training.loop).

A task turns a batch into a loss; the loop owns everything else (devices, mixed precision,
accumulation, clipping, schedules, EMA, checkpoints, logging). Randomness inside a step comes from
the ``generator`` the loop passes (seeded from the run seed, the step and the rank), so that a
resumed run draws the same noise as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class TrainingTask:
    """Base class. Subclasses set ``options_class`` (a dataclass) and ``model_class``."""

    #: dataclass of the ``task_options:`` section
    options_class: type | None = None
    #: class whose constructor the ``model:`` section mirrors
    model_class: type | None = None

    def __init__(self, model_config: dict[str, Any] | None, options: Any, data_config: Any):
        self.model_config = dict(model_config or {})
        #: no options given: the defaults of ``options_class``
        self.options = options if options is not None or self.options_class is None else self.options_class()
        self.data_config = data_config

    def build_model(self) -> nn.Module:
        """The module whose parameters the optimizer trains (may hold several networks)."""
        raise NotImplementedError

    def setup(self, device: torch.device) -> None:
        """Move frozen helpers (text encoder, frozen tokenizer) to ``device``."""

    def training_step(
        self, model: nn.Module, batch: dict[str, Any], step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the scalar loss to minimise and floats to log. Call ``model(...)`` (not its
        submodules directly) so that a DDP/FSDP wrapper sees the forward pass."""
        raise NotImplementedError

    def samples_in_batch(self, batch: dict[str, Any]) -> int:
        return len(batch["video"]) if "video" in batch else len(batch["caption"])  # a cache's carry latents

    def tokens_in_batch(self, batch: dict[str, Any]) -> int:
        """Tokens (or latent positions) the model processed, for throughput logs; 0 if unknown."""
        return 0

    def preview(self, model: nn.Module, step: int, output_dir: Path, generator: torch.Generator) -> None:
        """Optionally write a sample (mp4 + contact sheet) to ``output_dir``."""

    def export(self, model: nn.Module, output_dir: Path) -> None:
        """Write a ``save_pretrained`` artifact (a model or a whole pipeline) to ``output_dir``."""
        raise NotImplementedError
