"""``SeededDataset``: the base of the datasets whose item ``i`` is made from ``(seed, i)`` alone."""

from __future__ import annotations

from torch.utils.data import Dataset

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
