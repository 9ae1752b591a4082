"""Small helpers several test modules share (importable as ``helpers``: conftest puts tests/ on the path)."""

from __future__ import annotations

import torch


def train_on_batch(task, model, batch, optimizer, steps: int, seed: int = 0):
    """``steps`` optimizer steps of ``task`` on one batch; returns the losses and the last step's logs."""
    generator = torch.Generator().manual_seed(seed)
    losses, logs = [], {}
    for step in range(steps):
        loss, logs = task.training_step(model, batch, step, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return losses, logs
