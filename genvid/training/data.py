"""Deterministic, resumable batches for the training loop.

The sample stream is a concatenation of per-epoch permutations seeded by ``(seed, epoch)``. Global
micro-batch ``g`` takes stream positions ``[g * B * W, (g + 1) * B * W)`` and rank ``r`` takes its
``B`` of them. The batch for any step is a pure function of the seed, so a resumed run sees exactly
the batches the uninterrupted run would have seen, with no sampler state to save.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler


class StreamBatchSampler(Sampler[list[int]]):
    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_micro_batch: int = 0,
    ):
        if dataset_size < 1:
            raise ValueError("the training dataset is empty")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_micro_batch = start_micro_batch
        self._permutations: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._permutations:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._permutations = {epoch: torch.randperm(self.dataset_size, generator=generator)}
        return self._permutations[epoch]

    def indices_for(self, micro_batch: int) -> list[int]:
        start = (micro_batch * self.world_size + self.rank) * self.batch_size
        indices = []
        for position in range(start, start + self.batch_size):
            epoch, offset = divmod(position, self.dataset_size)
            indices.append(int(self._permutation(epoch)[offset]))
        return indices

    def __iter__(self):
        micro_batch = self.start_micro_batch
        while True:
            yield self.indices_for(micro_batch)
            micro_batch += 1

    def __len__(self):  # an endless stream; DataLoader only needs this for len()
        return 2**62


def stream_loader(dataset, collate_fn, batch_size, seed, rank, world_size, start_micro_batch, num_workers) -> DataLoader:
    sampler = StreamBatchSampler(len(dataset), batch_size, seed, rank, world_size, start_micro_batch)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
