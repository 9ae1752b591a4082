"""Sampling from the VideoLanguageModel: KV caches, logits processing, the decode loop.

Two caches share one small interface (``length``, ``start(positions, valid)``, ``update(layer,
key, value)``):

- :class:`DynamicCache` grows by concatenation; the eager path for CPU and tests.
- :class:`StaticCache` pre-allocates every buffer (global layers: the whole context; local layers:
  a ring of ``sliding_window`` slots) and writes with ``index_copy_`` at a position *tensor*, so a
  one-token decode step has the same shapes at every step and ``torch.compile(mode=
  "reduce-overhead")`` can capture it in a CUDA graph. Its buffers are module buffers, which
  CUDA graphs treat as static (a mutated *input* would make torch skip the graph).

Both give the logits of a full uncached forward pass (tests check it).
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm


def _kind(is_local: bool) -> str:
    return "local" if is_local else "global"


def _join_valid(old, old_length: int, keep: int, new, new_length: int):
    """The last ``keep`` of the old key-validity columns then the new ones; None = all valid."""
    if old is None and new is None:
        return None
    reference = old if old is not None else new
    batch, device = reference.shape[0], reference.device
    old = old if old is not None else torch.ones(batch, old_length, dtype=torch.bool, device=device)
    new = new if new is not None else torch.ones(batch, new_length, dtype=torch.bool, device=device)
    return torch.cat([old[:, old_length - keep :], new], dim=1)


class DynamicCache:
    """Keys/values concatenated per layer; local layers keep only the last ``sliding_window - 1``
    old entries (all that a later query can still see)."""

    def __init__(self, model):
        self.layer_is_local = list(model.layer_is_local)
        self.window = model.config.sliding_window
        self.keys: list[torch.Tensor | None] = [None] * len(self.layer_is_local)
        self.values: list[torch.Tensor | None] = [None] * len(self.layer_is_local)
        self.positions: dict[str, torch.Tensor | None] = {"global": None, "local": None}
        self.valid: dict[str, torch.Tensor | None] = {"global": None, "local": None}
        self.keep: dict[str, int] = {"global": 0, "local": 0}
        self.length = 0

    def start(self, positions: torch.Tensor, valid: torch.Tensor | None):
        states = {}
        for kind in ("global", "local"):
            old_positions, old_valid = self.positions[kind], self.valid[kind]
            keep = 0 if old_positions is None else len(old_positions)
            if kind == "local" and self.window is not None:
                keep = min(keep, self.window - 1)
            self.keep[kind] = keep
            if old_positions is None:
                new_positions, new_valid = positions, valid
            else:
                new_positions = torch.cat([old_positions[len(old_positions) - keep :], positions])
                new_valid = _join_valid(old_valid, len(old_positions), keep, valid, len(positions))
            self.positions[kind], self.valid[kind] = new_positions, new_valid
            states[kind] = (new_positions, new_valid)
        self.length += len(positions)
        return states

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor):
        keep = self.keep[_kind(self.layer_is_local[layer])]
        if self.keys[layer] is not None:
            old_keys, old_values = self.keys[layer], self.values[layer]
            start = old_keys.shape[2] - keep
            key = torch.cat([old_keys[:, :, start:], key], dim=2)
            value = torch.cat([old_values[:, :, start:], value], dim=2)
        self.keys[layer], self.values[layer] = key, value
        return key, value


class StaticCache(nn.Module):
    """Pre-allocated cache. Fill it with one prefill call (the whole prefix, from position 0), then
    decode one token per call with ``positions`` a (1,) tensor."""

    def __init__(self, model, batch_size: int, max_length: int | None = None, dtype=None, device=None):
        super().__init__()
        config = model.config
        max_length = max_length or config.max_sequence_length
        dtype = dtype or model.dtype
        device = device or model.device
        self.layer_is_local = list(model.layer_is_local)
        self.window = config.sliding_window
        self.slots = {"global": max_length, "local": min(self.window or max_length, max_length)}
        self.length = 0
        for index, is_local in enumerate(self.layer_is_local):
            shape = (batch_size, model.num_kv_heads, self.slots[_kind(is_local)], model.head_dim)
            self.register_buffer(f"key_{index}", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
            self.register_buffer(f"value_{index}", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        for kind, slots in self.slots.items():
            # position held by each slot (-1: empty) and whether that key is real (not padding)
            self.register_buffer(f"positions_{kind}", torch.full((slots,), -1, dtype=torch.long, device=device), persistent=False)
            self.register_buffer(f"valid_{kind}", torch.zeros(batch_size, slots, dtype=torch.bool, device=device), persistent=False)
        self.prefilling = False
        self._written: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def reset(self) -> None:
        """Empty the cache in place (same buffers: a captured CUDA graph stays valid)."""
        for kind in self.slots:
            getattr(self, f"positions_{kind}").fill_(-1)
            getattr(self, f"valid_{kind}").fill_(False)
        self.length = 0
        self.prefilling = False

    def _slot_index(self, kind: str, positions: torch.Tensor) -> torch.Tensor:
        return positions % self.slots[kind] if kind == "local" else positions

    def start(self, positions: torch.Tensor, valid: torch.Tensor | None):
        batch = getattr(self, "valid_global").shape[0]
        if valid is None:
            valid = torch.ones(batch, positions.shape[0], dtype=torch.bool, device=positions.device)
        self.prefilling = positions.shape[0] > 1
        if self.prefilling and self.length:
            raise ValueError("StaticCache takes one prefill call (from position 0), then one token per call")
        states = {}
        for kind, slots in self.slots.items():
            # a prefill longer than the ring keeps only its last `slots` positions
            keep = slice(max(0, positions.shape[0] - slots), None)
            index = self._slot_index(kind, positions[keep])
            self._written[kind] = (index, keep)
            getattr(self, f"positions_{kind}").index_copy_(0, index, positions[keep])
            getattr(self, f"valid_{kind}").index_copy_(1, index, valid[:, keep])
            if self.prefilling:  # the prefix attends to itself in full (bidirectionally)
                states[kind] = (positions, valid)
            else:
                states[kind] = (getattr(self, f"positions_{kind}"), getattr(self, f"valid_{kind}"))
        if self.prefilling:
            self.length = positions.shape[0]
        return states

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor):
        index, keep = self._written[_kind(self.layer_is_local[layer])]
        key_buffer, value_buffer = getattr(self, f"key_{layer}"), getattr(self, f"value_{layer}")
        key_buffer.index_copy_(2, index, key[:, :, keep].to(key_buffer.dtype))
        value_buffer.index_copy_(2, index, value[:, :, keep].to(value_buffer.dtype))
        if self.prefilling:
            return key, value
        return key_buffer, value_buffer


class DecodeStep(nn.Module):
    """One token through the model with a static cache: the function to ``torch.compile``.
    Model and cache are submodules so that CUDA graphs see their tensors as static."""

    def __init__(self, model, cache: StaticCache):
        super().__init__()
        self.model = model
        self.cache = cache

    def forward(self, tokens: torch.Tensor, position: torch.Tensor, prefix_length: torch.Tensor) -> torch.Tensor:
        logits = self.model(tokens, prefix_length=prefix_length, positions=position, cache=self.cache)
        return logits[:, -1].float()


# ----------------------------------------------------------------------------------------------


def process_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    allowed: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Float32 logits with disallowed ids, and those outside top-k / top-p, at -inf."""
    logits = logits.float()
    if allowed is not None:
        low, high = allowed
        ids = torch.arange(logits.shape[-1], device=logits.device)
        logits = logits.masked_fill((ids < low) | (ids >= high), float("-inf"))
    if temperature > 0:
        logits = logits / temperature
    if top_k is not None and top_k > 0:
        top_k = min(top_k, logits.shape[-1])
        threshold = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # drop a token once the mass before it already reaches top_p (the first always stays)
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_token(logits: torch.Tensor, temperature: float, generator=None) -> torch.Tensor:
    """``logits`` (batch, vocabulary) already processed -> ids (batch,). ``generator``: one
    torch.Generator for the batch, or a list of them, one per row (diffusers' convention: row ``i``
    then draws the same ids whatever else is in the batch)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probabilities = logits.softmax(dim=-1)
    if isinstance(generator, (list, tuple)):
        if len(generator) != len(probabilities):
            raise ValueError(f"got {len(generator)} generators for a batch of {len(probabilities)}")
        return torch.cat([_multinomial(row[None], row_generator) for row, row_generator in zip(probabilities, generator)])
    return _multinomial(probabilities, generator)


def _multinomial(probabilities: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is not None and generator.device != probabilities.device:
        # a CPU generator with a GPU model (as diffusers allows): draw on the generator's device
        drawn = torch.multinomial(probabilities.to(generator.device), 1, generator=generator)
        return drawn.squeeze(-1).to(probabilities.device)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def guide(logits: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance on a (2 * batch) stack: conditional rows first, unconditional last."""
    if guidance_scale == 1.0:
        return logits
    conditional, unconditional = logits.chunk(2)
    return unconditional + guidance_scale * (conditional - unconditional)


def _static_decoder(model, batch_size: int, length: int, compile: bool):
    """A static cache and its decode step. Compiled steps are kept on the model (one at a time)
    and reused by later calls of the same shape: compiling and recording a CUDA graph costs
    seconds, so only the first call pays it."""
    if not compile:
        cache = StaticCache(model, batch_size, max_length=length)
        return cache, DecodeStep(model, cache)
    kept = model.__dict__.setdefault("_compiled_decoders", {})  # plain dict: not a submodule, not saved
    key = (batch_size, length, model.dtype, model.device)
    if key not in kept:
        kept.clear()
        cache = StaticCache(model, batch_size, max_length=length)
        for buffer in cache.buffers():
            # fixed addresses: CUDA graphs may then mutate them in place instead of skipping the graph
            torch._dynamo.mark_static_address(buffer)
        kept[key] = (cache, torch.compile(DecodeStep(model, cache), mode="reduce-overhead", fullgraph=True))
    cache, step = kept[key]
    cache.reset()
    return cache, step


@torch.no_grad()
def generate(
    model,
    prefix_ids: torch.Tensor,
    num_tokens: int,
    text_hidden_states: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    allowed=None,
    forced: torch.Tensor | None = None,
    generator=None,
    static_cache: bool = False,
    compile: bool = False,
    progress: bool = True,
    return_logits: bool = False,
    callback=None,
    negative_text_hidden_states: torch.Tensor | None = None,
    negative_text_mask: torch.Tensor | None = None,
    interrupt=None,
):
    """Sample ``num_tokens`` target tokens after a laid-out prefix (ending with ``<bov>``).

    ``prefix_ids`` (batch, prefix_length); ``text_*`` fill its ``<text>`` positions.
    ``guidance_scale`` != 1 runs a second stream in the same batch and mixes the logits: text-free
    (text mask all False, as trained with text dropout), or ``negative_text_*`` when given. ``allowed``: the id range ``(low, high)``
    to sample from (video ids for a video target), or a function of the token index giving it (an
    audio target: each position's codebook level). ``forced`` (batch, num_tokens): ids to emit instead of
    sampling where >= 0 (inpainting's given tokens). ``generator``: one, or a list with one per
    row. ``static_cache``: the pre-allocated cache
    and fixed-shape decode step; ``compile``: wrap that step in ``torch.compile(mode=
    "reduce-overhead")`` (CUDA graphs on GPUs). ``callback(index, tokens)`` is called after each
    token with the ids so far; a tensor it returns replaces them (the last one is fed next).
    ``interrupt()`` is asked before each token: when True, sampling stops and the tokens not
    sampled keep the lowest allowed id. Returns ids (batch, num_tokens) (and the guided logits (batch,
    num_tokens, vocabulary) with ``return_logits``).
    """
    batch, prefix_length = prefix_ids.shape
    total = prefix_length + num_tokens
    if total > model.config.max_sequence_length:
        raise ValueError(
            f"prefix ({prefix_length} tokens) + {num_tokens} target tokens is longer than the model's "
            f"context (max_sequence_length={model.config.max_sequence_length})"
        )
    device = prefix_ids.device
    prefix_ids, text_hidden_states, text_mask, streams = guidance_streams(
        prefix_ids, text_hidden_states, text_mask, guidance_scale, negative_text_hidden_states, negative_text_mask
    )
    prefix_lengths = torch.full((prefix_ids.shape[0],), prefix_length, dtype=torch.long, device=device)

    step = None
    if static_cache:
        cache, step = _static_decoder(model, prefix_ids.shape[0], total, compile)
    else:
        cache = DynamicCache(model)
    logits = model(prefix_ids, text_hidden_states, text_mask, prefix_lengths, cache=cache, num_logits=1)[:, -1]
    position = torch.full((1,), prefix_length, dtype=torch.long, device=device)

    allowed_at = allowed if callable(allowed) else lambda index: allowed
    tokens = torch.empty(batch, num_tokens, dtype=torch.long, device=device)
    kept_logits = []
    for index in tqdm(range(num_tokens), desc="tokens", disable=not progress, leave=False):
        if interrupt is not None and interrupt():
            for rest in range(index, num_tokens):
                tokens[:, rest] = (allowed_at(rest) or (0,))[0]
            break
        guided = process_logits(guide(logits.float(), guidance_scale), temperature, top_k, top_p, allowed_at(index))
        if return_logits:
            kept_logits.append(guided)
        token = sample_token(guided, temperature, generator)
        if forced is not None:
            given = forced[:, index].to(device)
            token = torch.where(given >= 0, given, token)
        tokens[:, index] = token
        if callback is not None:
            replaced = callback(index, tokens[:, : index + 1])
            if replaced is not None:
                tokens[:, : index + 1] = replaced
                token = tokens[:, index]
        if index == num_tokens - 1:
            break
        fed = token[:, None].repeat(streams, 1)
        if step is not None:
            logits = step(fed, position, prefix_lengths)
            position += 1
        else:
            logits = model(fed, prefix_length=prefix_lengths, cache=cache)[:, -1]
    if return_logits:
        return tokens, torch.stack(kept_logits, dim=1) if kept_logits else None
    return tokens


def guidance_streams(
    prefix_ids, text_hidden_states, text_mask, guidance_scale: float, negative_hidden_states=None, negative_mask=None
):
    """Duplicate the batch into a conditional and an unconditional stream when guidance is on.

    Returns ``(prefix_ids, text_hidden_states, text_mask, streams)``. The second half of the batch
    has its text masked out (the text-free stream classifier-free guidance was trained with), or
    the negative prompt's ``negative_hidden_states`` / ``negative_mask`` when given (the same
    length as the text)."""
    streams = 2 if guidance_scale != 1.0 else 1
    if streams == 2:
        prefix_ids = torch.cat([prefix_ids, prefix_ids])
        if text_hidden_states is not None:
            if text_mask is None:
                text_mask = torch.ones(text_hidden_states.shape[:2], dtype=torch.bool, device=prefix_ids.device)
            if negative_hidden_states is None:
                negative_hidden_states, negative_mask = text_hidden_states, torch.zeros_like(text_mask, dtype=torch.bool)
            elif negative_mask is None:
                negative_mask = torch.ones(negative_hidden_states.shape[:2], dtype=torch.bool, device=prefix_ids.device)
            text_hidden_states = torch.cat([text_hidden_states, negative_hidden_states.to(text_hidden_states.dtype)])
            text_mask = torch.cat([text_mask.bool(), negative_mask.to(text_mask.device).bool()])
    return prefix_ids, text_hidden_states, text_mask, streams
