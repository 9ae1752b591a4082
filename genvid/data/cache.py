"""On-disk caches of what the frozen networks make of a dataset: tokenizer latents (and token ids
for a discrete tokenizer) and text-encoder states, per sample, at the shape of its bucket.

Layout of a cache folder (written by ``genvid dataset encode``, genvid.training.encode_dataset)::

    plan.json                  what is being encoded (manifest, buckets, fingerprints); fixed at the start
    empty_text.safetensors     the empty caption's states (text dropout for classifier-free guidance)
    shards/b003-00012.safetensors   one bucket's samples: latents (n, c, t, h, w), token_ids (n, t, h, w),
                               text_states (n, L, D) zero past text_mask (n, L), rows (n,) manifest rows
    index.json                 written last: every shard with its bucket, sample count and size

Each shard is written to a temporary name and renamed, so a killed run leaves whole shards only;
a resumed run skips them. The index records a fingerprint of the tokenizer and of the text
encoder (hashes of their files): training from a cache checks them without loading either model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from genvid.errors import GenvidError

FORMAT = "genvid-cache/1"
INDEX_NAME = "index.json"
PLAN_NAME = "plan.json"
EMPTY_TEXT_NAME = "empty_text.safetensors"
SHARD_FOLDER = "shards"
_HASHED_SUFFIXES = (".json", ".safetensors", ".txt", ".model")


def _hash_files(digest, folder: Path) -> None:
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix in _HASHED_SUFFIXES and not file.name.startswith("."):
            digest.update(file.name.encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)


def tokenizer_fingerprint(path: str | None, config: dict | None = None) -> str:
    """A hash of a saved tokenizer folder's files (or of the constructor arguments of a random-init one)."""
    digest = hashlib.blake2b(digest_size=16)
    if path is not None:
        from genvid.pretrained import REFERENCE_PREFIX, resolve_tokenizer

        folder = resolve_tokenizer(path) if str(path).startswith(REFERENCE_PREFIX) else Path(path)
        if not (folder / "config.json").is_file():
            raise GenvidError(f"no saved tokenizer at {folder} (expected config.json)")
        _hash_files(digest, folder)
    else:
        digest.update(json.dumps(dict(config or {}), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def text_encoder_fingerprint(name: str, max_length: int) -> str:
    """A hash of a text encoder's files and its token limit (the packaged name is resolved locally)."""
    from genvid.text import resolve_text_encoder_path

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"max_length={int(max_length)}".encode())
    _hash_files(digest, resolve_text_encoder_path(name))
    return digest.hexdigest()


def shard_name(bucket: int, chunk: int) -> str:
    return f"b{bucket:03d}-{chunk:05d}.safetensors"


def read_json(folder: Path, name: str) -> dict:
    path = Path(folder) / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        if name == INDEX_NAME:
            raise GenvidError(
                f"{folder} is not a finished genvid cache (no {INDEX_NAME}): run genvid dataset encode again to finish it"
            ) from None
        raise GenvidError(f"{path} not found") from None
    except json.JSONDecodeError as error:
        raise GenvidError(f"{path} is corrupt: {error.msg}") from None


def read_index(folder: str | Path) -> dict:
    index = read_json(Path(folder), INDEX_NAME)
    if index.get("format") != FORMAT:
        raise GenvidError(f"{folder}: not a {FORMAT} cache (format {index.get('format')!r})")
    return index


def check_cache_matches(index: dict, folder, tokenizer: str | None, tokenizer_config: dict | None, text_encoder: str, text_max_length: int) -> None:
    """A one-line error when the cache was made by another tokenizer or text encoder than the run's."""
    made = index["tokenizer"]
    if tokenizer is not None or tokenizer_config is not None:
        if tokenizer_fingerprint(tokenizer, tokenizer_config) != made["fingerprint"]:
            raise GenvidError(
                f"the cache {folder} was made with another tokenizer ({made.get('path')}, fingerprint "
                f"{made['fingerprint'][:12]}) than task_options.tokenizer ({tokenizer}): encode the dataset again with it"
            )
    text = index["text_encoder"]
    if text_encoder_fingerprint(text_encoder, text_max_length) != text["fingerprint"]:
        raise GenvidError(
            f"the cache {folder} was made with another text encoder ({text['name']}, max_length {text['max_length']}) "
            f"than the run's ({text_encoder}, max_length {text_max_length}): encode the dataset again with it"
        )


def read_empty_text(folder: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The empty caption's ``(length, dim)`` states and ``(length,)`` mask."""
    from safetensors.torch import load_file

    tensors = load_file(str(Path(folder) / EMPTY_TEXT_NAME))
    return tensors["text_states"], tensors["text_mask"].bool()


class CacheDataset(torch.utils.data.Dataset):
    """The samples of a finished cache; ``load_at(index, *bucket_shape)`` reads one from its shard."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.index = read_index(self.folder)
        shards = self.index["shards"]
        self.shard_paths = [self.folder / SHARD_FOLDER / shard["name"] for shard in shards]
        for shard, path in zip(shards, self.shard_paths):
            self._check_shard(shard, path)
        counts = np.array([shard["count"] for shard in shards], dtype=np.int64)
        self.sample_shard = np.repeat(np.arange(len(shards), dtype=np.int64), counts)
        self.sample_position = np.concatenate([np.arange(count) for count in counts]) if len(counts) else np.zeros(0, np.int64)
        self.bucket_of = np.repeat(np.array([shard["bucket"] for shard in shards], dtype=np.int32), counts)
        self.fields = list(self.index["fields"])
        self._handles: dict[int, object] = {}
        self._handles_pid = None

    @staticmethod
    def _check_shard(shard: dict, path: Path) -> None:
        from safetensors import safe_open

        if not path.is_file():
            raise GenvidError(f"cache shard {path} is missing")
        if path.stat().st_size != shard["bytes"]:
            raise GenvidError(f"cache shard {path} is corrupt: {path.stat().st_size} bytes, the index says {shard['bytes']}")
        try:
            with safe_open(str(path), "pt") as handle:
                count = handle.get_slice("rows").get_shape()[0]
        except Exception as error:
            raise GenvidError(f"cache shard {path} is corrupt: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
        if count != shard["count"]:
            raise GenvidError(f"cache shard {path} is corrupt: {count} samples, the index says {shard['count']}")

    def __len__(self) -> int:
        return len(self.sample_shard)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"], state["_handles_pid"] = {}, None  # each worker opens its own
        return state

    def _handle(self, shard: int):
        from safetensors import safe_open

        if self._handles_pid != os.getpid():
            self._handles, self._handles_pid = {}, os.getpid()
        if shard not in self._handles:
            if len(self._handles) >= 64:
                self._handles.pop(next(iter(self._handles)))
            self._handles[shard] = safe_open(str(self.shard_paths[shard]), "pt")
        return self._handles[shard]

    def load_at(self, index: int, num_frames: int, height: int, width: int) -> dict:
        shard, position = int(self.sample_shard[index]), int(self.sample_position[index])
        try:
            handle = self._handle(shard)
            item = {name: handle.get_slice(name)[position : position + 1][0] for name in self.fields}
            captions = json.loads(handle.metadata()["captions"])
        except Exception as error:
            raise GenvidError(f"cache shard {self.shard_paths[shard]} is corrupt: {str(error).splitlines()[0]}") from None
        item["text_mask"] = item["text_mask"].bool()
        item["caption"] = captions[position]
        return item


def open_cache_dataset(folder: str | Path, buckets_section=None):
    """A cache as a bucketed dataset: its own buckets, batch sizes from ``data.buckets``
    (``max_tokens``, ``image_share``; shapes must be left out or match the cache's)."""
    from genvid.data.bucketed import BucketedDataset
    from genvid.data.buckets import Bucket, bucket_config, make_buckets

    cache = CacheDataset(folder)
    buckets = [Bucket(*shape) for shape in cache.index["buckets"]]
    image_share = None
    if buckets_section:
        settings = bucket_config(buckets_section)
        image_share = settings.image_share
        if settings.shapes is None and settings.aspect_ratios is None:
            settings.shapes = [list(bucket.shape) for bucket in buckets]
        configured = make_buckets(settings)
        if {bucket.shape for bucket in configured} != {bucket.shape for bucket in buckets}:
            raise GenvidError(
                f"data.buckets lists other shapes than the cache {folder} holds ({[list(b.shape) for b in buckets]}); "
                "leave the shapes out to train on the cache's"
            )
        sizes = {bucket.shape: bucket.batch_size for bucket in configured}
        buckets = [bucket._replace(batch_size=sizes[bucket.shape]) for bucket in buckets]
    return BucketedDataset(cache, buckets, cache.bucket_of, image_share)
