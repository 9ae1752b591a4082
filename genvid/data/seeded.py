"""``SeededDataset``: the base of the datasets whose item ``i`` is made from ``(seed, i)`` alone;
``SplitClipDataset``: such a dataset of clips, each made from one entry of a split."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from genvid.data.clip_shape import ClipShape
from genvid.errors import GenvidError


class SeededDataset(Dataset):
    """``num_samples`` items, each a function of ``(seed, index)``: the same in every worker and epoch."""

    def __init__(self, num_samples: int, seed: int = 0):
        if num_samples < 1:
            raise GenvidError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_samples

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")


class SplitClipDataset(SeededDataset):
    """Clips of ``num_frames x height x width``, item ``i`` made from entry ``order[i mod len(entries)]``
    of a split (the synthetic combinations, the bundled photographs).

    ``order`` is a permutation drawn from ``(seed, order_key)``: items cycle through the whole split
    (balanced), and the first items of different seeds differ in content too.
    """

    def __init__(self, entries: Sequence, split: str, num_samples: int, num_frames: int, height: int, width: int,
                 seed: int, order_key: int):
        super().__init__(num_samples, seed)
        ClipShape(num_frames, height, width)  # refuses a clip with no frames or pixels
        self.entries = entries
        self.split = split
        self.num_frames, self.height, self.width = int(num_frames), int(height), int(width)
        self._order = np.random.default_rng([self.seed, order_key]).permutation(len(entries))

    def entry(self, index: int):
        """The entry of the split that item ``index`` is made from."""
        self.check_index(index)
        return self.entries[self._order[index % len(self.entries)]]
