"""Caches of what frozen networks compute during training (text states, video latents or ids).

The text encoder and the tokenizer are frozen while a generator trains, so the same caption or
the same clip always encodes to the same thing. The synthetic set repeats its clips every epoch
and its captions far more often: on a CPU, re-encoding them costs more than the training step.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Callable, Hashable, Sequence

import torch


class EncodingCache:
    """A least-recently-used map from keys to per-item tensors, filled in batches."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.entries: OrderedDict[Hashable, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        self.entries.clear()

    def lookup(self, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence[torch.Tensor]]) -> list[torch.Tensor]:
        """The items for ``keys``; ``compute(positions)`` encodes the positions not cached yet
        (each key once) and returns one tensor per position."""
        if self.max_entries <= 0:
            return list(compute(list(range(len(keys)))))
        first_position: dict[Hashable, int] = {}
        for position, key in enumerate(keys):
            if key not in self.entries:
                first_position.setdefault(key, position)
        if first_position:
            for key, item in zip(first_position, compute(list(first_position.values()))):
                self.entries[key] = item.detach()
        items = []
        for key in keys:
            self.entries.move_to_end(key)
            items.append(self.entries[key])
        while len(self.entries) > max(self.max_entries, len(set(keys))):
            self.entries.popitem(last=False)
        return items


def content_keys(videos: torch.Tensor) -> list[str]:
    """A content hash per video of a batch (what a clip looks like, whatever its index)."""
    keys = []
    for video in videos:
        data = video.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        keys.append(hashlib.blake2b(data, digest_size=16).hexdigest())
    return keys


def pad_rows(rows: Sequence[torch.Tensor], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(length_i, dim)`` rows into ``(batch, max_length, dim)`` zeros-padded + a bool mask."""
    length = max(row.shape[0] for row in rows)
    hidden = torch.zeros(len(rows), length, rows[0].shape[-1], device=device, dtype=rows[0].dtype)
    mask = torch.zeros(len(rows), length, dtype=torch.bool, device=device)
    for index, row in enumerate(rows):
        hidden[index, : row.shape[0]] = row
        mask[index, : row.shape[0]] = True
    return hidden, mask
