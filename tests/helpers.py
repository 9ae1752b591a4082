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


#: the tiny FSQ video tokenizer of the sound tests' pipelines (a 4x4-level code per latent cell)
TINY_SOUND_TOKENIZER = dict(bottleneck="fsq", fsq_levels=[4, 4], base_channels=8, channel_multipliers=[1, 2, 2, 2],
                            num_res_blocks=1, num_mid_blocks=1, cell_skip=False)


def save_tiny_audio_codec(folder):
    """An untrained 2-level, 8-code AudioCodec saved at ``folder`` (returned), seeded for the sound tests."""
    from tokenizer import AudioCodec

    torch.manual_seed(0)
    AudioCodec(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=2, codebook_size=8,
               dilations=[1]).save_pretrained(folder)
    return folder
