"""A dataset whose items are read at the shape of the bucket they belong to.

Items are addressed ``dataset[(index, bucket)]`` (what :class:`genvid.training.data.BucketBatchSampler`
yields); a plain ``dataset[index]`` reads the item in its own bucket. The source only needs
``load_at(index, num_frames, height, width)`` raising :class:`GenvidError` for an unreadable item:
such an item is skipped, counted and replaced by the next readable member of the same bucket, so
a batch stays one shape.
"""

from __future__ import annotations

import logging

import numpy as np
from torch.utils.data import Dataset

from genvid.data.buckets import Bucket, bucket_weights
from genvid.errors import GenvidError

logger = logging.getLogger(__name__)


class BucketedDataset(Dataset):
    def __init__(self, source, buckets: list[Bucket], bucket_of: np.ndarray, image_share: float | None = None):
        self.source = source
        self.buckets = list(buckets)
        self.bucket_of = np.asarray(bucket_of, dtype=np.int32)
        if len(self.bucket_of) != len(source):
            raise GenvidError(f"bucket assignment has {len(self.bucket_of)} entries for {len(source)} samples")
        self.members = [np.flatnonzero(self.bucket_of == index) for index in range(len(self.buckets))]
        self.counts = np.array([len(members) for members in self.members], dtype=np.int64)
        self.image_share = image_share
        self.num_unfit = int((self.bucket_of < 0).sum())
        if self.num_unfit:
            logger.warning(f"{self.num_unfit} of {len(source)} samples fit no bucket (too short, or unreadable) and are left out")
        if not self.counts.sum():
            raise GenvidError("data.buckets: no sample fits any bucket (check the frame counts against the clips' lengths)")
        self.bad_indices: set[int] = set()

    def weights(self) -> np.ndarray:
        return bucket_weights(self.buckets, self.counts, self.image_share)

    def with_batch_size(self, batch_size: int) -> list[Bucket]:
        """The buckets, those without their own batch size taking ``batch_size``."""
        return [bucket if bucket.batch_size else bucket._replace(batch_size=int(batch_size)) for bucket in self.buckets]

    @property
    def num_skipped(self) -> int:
        return len(self.bad_indices) + int(getattr(self.source, "num_skipped", 0))

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key):
        index, bucket = key if isinstance(key, tuple) else (int(key), int(self.bucket_of[int(key)]))
        if bucket < 0:
            raise GenvidError(f"sample {index} fits no bucket")
        members = self.members[bucket]
        shape = self.buckets[bucket].shape
        first = int(np.searchsorted(members, index))
        for offset in range(len(members)):
            candidate = int(members[(first + offset) % len(members)])
            if candidate in self.bad_indices:
                continue
            try:
                item = self.source.load_at(candidate, *shape)
            except GenvidError as error:
                self.bad_indices.add(candidate)
                logger.warning(f"skipping unreadable sample ({self.num_skipped} skipped so far): {error}")
                continue
            item["bucket"] = bucket
            return item
        raise GenvidError(f"none of the {len(members)} samples of bucket {shape} can be read")

    def first_batches(self, count: int, batch_size: int):
        """Up to ``count`` lists of items, each from one bucket (the buckets in turn, their first
        members): for latent statistics and previews, which need no shuffling."""
        filled = [index for index, members in enumerate(self.members) if len(members)]
        for number in range(count):
            bucket = filled[number % len(filled)]
            members = self.members[bucket]
            begin = (number // len(filled)) * batch_size % len(members)
            chosen = [int(members[(begin + offset) % len(members)]) for offset in range(min(batch_size, len(members)))]
            yield [self[(index, bucket)] for index in chosen]
