"""What a generator task (DiT, LM) reads from a cache instead of running its frozen helpers.

With ``data.source: cache`` a batch already carries the tokenizer's ``latents`` (and
``token_ids``) and the text encoder's ``text_states`` / ``text_mask`` (genvid.data.cache), so
training never loads either network; ``task_options.tokenizer`` / ``text_encoder`` are still
named, and checked against the cache's fingerprints here (the export writes a pipeline with them).
"""

from __future__ import annotations

from typing import Any

import torch

from genvid.data.cache import check_cache_matches, read_empty_text, read_index
from genvid.training.frozen_cache import pad_rows


def reads_cache(data_config: Any) -> bool:
    return data_config is not None and getattr(data_config, "source", None) == "cache"


def _index_fact(component: str, key: str, kind: type) -> property:
    """A fact the cache's index.json records about one of its frozen helpers."""
    return property(lambda self: kind(self.index[component][key]))


class CachedInputs:
    def __init__(self, data_config: Any, options: Any):
        self.folder = data_config.cache
        self.index = read_index(self.folder)
        check_cache_matches(
            self.index, self.folder, options.tokenizer, options.tokenizer_config, options.text_encoder, options.text_max_length
        )
        self.empty_states, self.empty_mask = read_empty_text(self.folder)

    latent_channels = _index_fact("tokenizer", "latent_channels", int)
    codebook_size = _index_fact("tokenizer", "codebook_size", int)
    is_discrete = _index_fact("tokenizer", "is_discrete", bool)
    text_hidden_size = _index_fact("text_encoder", "hidden_size", int)

    def latent_grids(self) -> list[tuple[int, int, int]]:
        return [tuple(shape) for shape in self.index["latent_shapes"]]

    def text(self, batch: dict, dropped: torch.Tensor | None, device, trim: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's text states and mask, rows in ``dropped`` replaced by the empty caption's.

        ``trim``: real tokens only, zero-padded to the batch's longest (what the DiT encodes raw);
        otherwise the stored ``text_max_length`` layout (the LM's).
        """
        states, mask = batch["text_states"], batch["text_mask"].bool()
        if dropped is not None and bool(dropped.any()):
            dropped = dropped.to(states.device)
            states = torch.where(dropped[:, None, None], self.empty_states.to(states.dtype), states)
            mask = torch.where(dropped[:, None], self.empty_mask, mask)
        if trim:
            return pad_rows([row[row_mask] for row, row_mask in zip(states, mask)], device)
        return states.to(device), mask.to(device)


def data_latent_grids(data_config: Any, tokenizer, cached: CachedInputs | None) -> list[tuple[int, int, int]]:
    """Latent grids ``(t, h, w)`` of every shape the run trains on: the cache's buckets, the
    configured buckets, or the one ``num_frames x height x width``."""
    if cached is not None:
        return cached.latent_grids()
    if getattr(data_config, "buckets", None):
        from genvid.data.buckets import bucket_config, make_buckets

        shapes = [bucket.shape for bucket in make_buckets(bucket_config(data_config.buckets))]
    else:
        shapes = [(data_config.num_frames, data_config.height, data_config.width)]
    return [tuple(tokenizer.latent_shape(*shape)) for shape in shapes]
