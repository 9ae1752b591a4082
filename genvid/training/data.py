"""Deterministic, resumable batches for the training loop.

The sample stream is a concatenation of per-epoch permutations seeded by ``(seed, epoch)``. Global
micro-batch ``g`` takes stream positions ``[g * B * W, (g + 1) * B * W)`` and rank ``r`` takes its
``B`` of them. The batch for any step is a pure function of the seed, so a resumed run sees exactly
the batches the uninterrupted run would have seen, with no sampler state to save.
Bucketed data (genvid.data.buckets) goes through :class:`BucketBatchSampler`, the same idea per bucket.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler


class _RankStream(Sampler):
    """What both samplers share: an endless stream of micro-batches from ``start_micro_batch`` on,
    each a pure function of ``seed``, of which rank ``rank`` of ``world_size`` takes its share."""

    def __init__(self, seed: int, rank: int, world_size: int, start_micro_batch: int):
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.start_micro_batch = int(start_micro_batch)

    def rank_start(self, draw: int, size: int) -> int:
        """This rank's first stream position in the ``draw``-th global batch of ``size`` items a rank."""
        return (draw * self.world_size + self.rank) * size

    def __len__(self):  # an endless stream; DataLoader only needs this for len()
        return 2**62


class StreamBatchSampler(_RankStream):
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
        super().__init__(seed, rank, world_size, start_micro_batch)
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self._permutations: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._permutations:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._permutations = {epoch: torch.randperm(self.dataset_size, generator=generator)}
        return self._permutations[epoch]

    def indices_for(self, micro_batch: int) -> list[int]:
        start = self.rank_start(micro_batch, self.batch_size)
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


def stream_loader(dataset, collate_fn, batch_size, seed, rank, world_size, start_micro_batch, num_workers) -> DataLoader:
    """The endless loader of a run; a bucketed dataset (``data.buckets``, a cache) gets one bucket a batch."""
    if hasattr(dataset, "members") and hasattr(dataset, "with_batch_size"):
        batch_sizes = [bucket.batch_size for bucket in dataset.with_batch_size(batch_size)]
        sampler = BucketBatchSampler(dataset.members, batch_sizes, dataset.weights(), seed, rank, world_size, start_micro_batch)
    else:
        sampler = StreamBatchSampler(len(dataset), batch_size, seed, rank, world_size, start_micro_batch)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


class BucketBatchSampler(_RankStream):
    """Batches of one bucket each, as ``[(index, bucket), ...]``; a pure function of the seed.

    Micro-batch ``g`` draws its bucket from ``weights`` with a uniform number fixed by
    ``(seed, g)``, the same on every rank. Each bucket has its own stream of per-epoch
    permutations of its members (seeded by ``(seed, bucket, epoch)``); the ``k``-th time bucket
    ``b`` is drawn, rank ``r`` takes stream positions ``[(k * W + r) * B_b, ... + B_b)``. ``k`` is
    recounted from the draws before the start, so a resumed run sees the uninterrupted run's batches.
    """

    BLOCK = 1 << 16

    def __init__(
        self,
        members: list,
        batch_sizes: list[int],
        weights,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_micro_batch: int = 0,
    ):
        import numpy as np

        self.members = [np.asarray(group, dtype=np.int64) for group in members]
        self.batch_sizes = [int(size) for size in batch_sizes]
        self.bounds = np.cumsum(np.asarray(weights, dtype=np.float64))
        self.bounds /= self.bounds[-1]
        super().__init__(seed, rank, world_size, start_micro_batch)
        self._permutations: dict[int, tuple[int, torch.Tensor]] = {}

    def buckets_for(self, begin: int, end: int):
        """The bucket of every micro-batch in ``[begin, end)`` (numpy int64)."""
        import numpy as np

        pieces = []
        for block in range(begin // self.BLOCK, (max(end, begin + 1) - 1) // self.BLOCK + 1):
            draws = np.random.default_rng([self.seed, 31, block]).random(self.BLOCK)
            low = max(begin - block * self.BLOCK, 0)
            high = min(end - block * self.BLOCK, self.BLOCK)
            pieces.append(np.searchsorted(self.bounds, draws[low:high], side="right"))
        choice = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        return np.minimum(choice, len(self.bounds) - 1)

    def _member(self, bucket: int, position: int) -> int:
        members = self.members[bucket]
        epoch, offset = divmod(position, len(members))
        cached = self._permutations.get(bucket)
        if cached is None or cached[0] != epoch:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + bucket * 7_919 + epoch) % (2**63 - 1))
            cached = self._permutations[bucket] = (epoch, torch.randperm(len(members), generator=generator))
        return int(members[int(cached[1][offset])])

    def _batch(self, bucket: int, uses_before: int) -> list[tuple[int, int]]:
        size = self.batch_sizes[bucket]
        start = self.rank_start(uses_before, size)
        return [(self._member(bucket, position), bucket) for position in range(start, start + size)]

    def indices_for(self, micro_batch: int) -> list[tuple[int, int]]:
        bucket = int(self.buckets_for(micro_batch, micro_batch + 1)[0])
        uses_before = int((self.buckets_for(0, micro_batch) == bucket).sum())
        return self._batch(bucket, uses_before)

    def __iter__(self):
        import numpy as np

        uses = np.bincount(self.buckets_for(0, self.start_micro_batch), minlength=len(self.members))
        micro_batch = self.start_micro_batch
        while True:
            block_end = (micro_batch // self.BLOCK + 1) * self.BLOCK
            for bucket in self.buckets_for(micro_batch, block_end).tolist():
                yield self._batch(bucket, int(uses[bucket]))
                uses[bucket] += 1
            micro_batch = block_end
