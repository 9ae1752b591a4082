"""Exponential moving average of a model's weights, saved with the training state."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keeps ``shadow = decay * shadow + (1 - decay) * weight`` for every trainable parameter.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` over the first updates so that early
    averages are not dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: p.detach().clone().float() for name, p in model.named_parameters() if p.requires_grad}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        for name, parameter in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(parameter.detach().float(), 1.0 - decay)
        self.num_updates += 1

    @contextlib.contextmanager
    def applied(self, model: nn.Module):
        """Swap the averaged weights into ``model`` for the duration of the block."""
        backup = {}
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in self.shadow:
                    backup[name] = parameter.detach().clone()
                    parameter.copy_(self.shadow[name].to(parameter.dtype))
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, parameter in model.named_parameters():
                    if name in backup:
                        parameter.copy_(backup[name])

    def copy_to(self, model: nn.Module) -> None:
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in self.shadow:
                    parameter.copy_(self.shadow[name].to(parameter.dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {f"shadow.{name}": tensor.contiguous() for name, tensor in self.shadow.items()}
        state["num_updates"] = torch.tensor(self.num_updates, dtype=torch.int64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = [name for name in self.shadow if f"shadow.{name}" not in state]
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} parameters, e.g. {missing[0]}")
        for name in self.shadow:
            self.shadow[name].copy_(state[f"shadow.{name}"])
        self.num_updates = int(state["num_updates"])
