"""The one attention entry point of genvid.

Every transformer in genvid (the DiT, the LM) calls :func:`attention`. It runs torch's
``scaled_dot_product_attention`` by default and xformers' memory-efficient attention when xformers
is importable and the tensors live on CUDA (and the mask is one xformers can take). Both give the
same result within floating-point tolerance.

Layout: ``query``/``key``/``value`` are ``(batch, heads, length, head_dim)``. ``key``/``value`` may
have fewer heads than ``query`` (grouped-query attention); their heads are shared by groups.

Masks: ``attention_mask`` is either boolean (True = may attend) or additive float, broadcastable
to ``(batch, heads, query_length, key_length)``, or a :class:`PrefixLM` description. A dense
``(length x length)`` mask costs O(L^2) memory and keeps SDPA off its fused causal kernels, so the
LM passes :class:`PrefixLM` and SDPA runs it as one unmasked pass over the prefix plus one causal
pass over the whole sequence (or, for a prefix longer than half the sequence, a pass of the target
rows alone under a ``targets x length`` mask); the other backends get the dense mask it stands for.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_XFORMERS = None


def _xformers_ops():
    global _XFORMERS
    if _XFORMERS is None:
        try:
            import xformers.ops as xops  # noqa: F401

            _XFORMERS = xops
        except Exception:  # xformers is optional, and absent on CPU installs
            _XFORMERS = False
    return _XFORMERS or None


def _choose_backend(query: torch.Tensor, attention_mask, backend: str | None) -> str:
    if backend is None:
        backend = os.environ.get("GENVID_ATTENTION_BACKEND", "auto")
    if backend == "auto":
        if query.is_cuda and _xformers_ops() is not None and attention_mask is None:
            return "xformers"
        return "sdpa"
    if backend not in ("sdpa", "math", "xformers"):
        raise ValueError(f"unknown attention backend {backend!r}; choose auto, sdpa, math or xformers")
    if backend == "xformers" and (not query.is_cuda or _xformers_ops() is None):
        raise RuntimeError("attention backend 'xformers' needs xformers installed and CUDA tensors")
    return backend


def _repeat_kv(tensor: torch.Tensor, num_query_heads: int) -> torch.Tensor:
    num_kv_heads = tensor.shape[1]
    if num_kv_heads == num_query_heads:
        return tensor
    return tensor.repeat_interleave(num_query_heads // num_kv_heads, dim=1)


def _as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return additive.masked_fill(~mask, torch.finfo(dtype).min)
    return mask.to(dtype)


@dataclass(frozen=True)
class PrefixLM:
    """Prefix-LM attention over one whole sequence (queries and keys are the same positions
    ``0 .. length - 1``): positions below ``prefix_length`` see each other both ways, later positions
    see everything before them. ``key_valid`` (batch, length) False marks padding keys, which lie in
    the prefix only. Build it with :func:`prefix_lm`, which says when a mask does not fit this form.

    The output at a padding position itself is not defined (nothing reads it: no real query sees a
    padding key); the dense mask lets it see itself, the SDPA path the real prefix keys.
    """

    prefix_length: int
    length: int
    key_valid: torch.Tensor | None = None

    def dense(self, device=None) -> torch.Tensor:
        positions = torch.arange(self.length, device=device)
        return prefix_lm_mask(positions, positions, torch.tensor(self.prefix_length, device=device), self.key_valid)


def prefix_lm(prefix_length: int | torch.Tensor, length: int, key_valid: torch.Tensor | None = None) -> PrefixLM | None:
    """A :class:`PrefixLM` for a sequence of ``length`` tokens, or None when the mask does not have
    that form (prefix lengths that differ between rows, or padding after the prefix): the caller
    then builds the dense mask. Reads tensors on the host: call it once per forward, not per token."""
    if torch.is_tensor(prefix_length):
        prefix_length = prefix_length.reshape(-1)
        first = int(prefix_length[0])
        if prefix_length.numel() > 1 and not bool((prefix_length == first).all()):
            return None
        prefix_length = first
    prefix_length = max(0, min(int(prefix_length), length))
    if key_valid is not None:
        if bool(key_valid.all()):
            key_valid = None
        elif not bool(key_valid[:, prefix_length:].all()):
            return None
    return PrefixLM(prefix_length, length, key_valid)


#: Up to this many tokens, CPU SDPA's causal pass (training forward and backward, 4 x 4 heads x 256
#: tokens, 1 thread) costs what the masked target rows cost, so the causal form's extra work (the
#: prefix rows it computes and throws away, and their gradient through the concatenation) is
#: pure loss: 20-25 ms against 16-18 ms at prefixes of 16, 64 and 128. At 1,024 tokens with a
#: short prefix the causal form wins (97-114 against 125-130 ms at prefixes 64 and 256).
SHORT_ON_CPU = 512


def _prefix_lm_sdpa(query, key, value, mask: PrefixLM, scale: float, grouped: bool) -> torch.Tensor:
    def sdpa(query, key, value, attn_mask=None, is_causal=False):
        return F.scaled_dot_product_attention(
            query, key, value, attn_mask=attn_mask, is_causal=is_causal, scale=scale, enable_gqa=grouped
        )

    prefix, length = mask.prefix_length, query.shape[2]
    if prefix >= length:
        padding = None if mask.key_valid is None else mask.key_valid[:, None, None, :]
        return sdpa(query, key, value, attn_mask=padding)
    padding = None if mask.key_valid is None else mask.key_valid[:, None, None, :prefix]
    if prefix > 1 and (2 * (length - prefix) < length or (query.device.type == "cpu" and length <= SHORT_ON_CPU)):
        # A long prefix (the LM's 896 of 1,024): its rows of a causal pass over the whole sequence
        # would be computed only to be replaced by the bidirectional pass. The target rows alone
        # against every key, under a (targets x length) mask, cost less than that causal pass.
        # So do short sequences on a CPU whatever their prefix (see SHORT_ON_CPU).
        rows = torch.arange(prefix, length, device=query.device)[:, None]
        allowed = torch.arange(length, device=query.device)[None, :] <= rows
        if mask.key_valid is not None:
            allowed = allowed & mask.key_valid[:, None, None, :]
        targets = sdpa(query[:, :, prefix:], key, value, attn_mask=allowed)
        bidirectional = sdpa(query[:, :, :prefix], key[:, :, :prefix], value[:, :, :prefix], attn_mask=padding)
        return torch.cat([bidirectional, targets], dim=2)
    if mask.key_valid is None:
        causal = sdpa(query, key, value, is_causal=True)
    else:
        # Reorder every row as [real prefix, targets, padding]: a plain causal pass then shows each
        # target exactly the real prefix and the targets before it, and the padding to no target.
        index = torch.arange(length, device=query.device)
        rank = torch.where(mask.key_valid, index, index + length)
        order = rank.argsort(dim=1)

        def reorder(tensor, order):
            return tensor.gather(2, order[:, None, :, None].expand(-1, tensor.shape[1], -1, tensor.shape[3]))

        causal = sdpa(reorder(query, order), reorder(key, order), reorder(value, order), is_causal=True)
        causal = reorder(causal, order.argsort(dim=1))
    if prefix <= 1:  # a one-token prefix is already causal
        return causal
    bidirectional = sdpa(query[:, :, :prefix], key[:, :, :prefix], value[:, :, :prefix], attn_mask=padding)
    return torch.cat([bidirectional, causal[:, :, prefix:]], dim=2)


def attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Attention over ``(batch, heads, length, head_dim)`` tensors; returns the query's shape.

    ``is_causal`` applies a causal mask aligned to the end of the keys (a query at position ``i``
    of ``Lq`` sees keys ``<= i + Lk - Lq``), so it also serves cached decoding.
    ``backend``: "auto" (default, or ``$GENVID_ATTENTION_BACKEND``), "sdpa", "math" (a plain
    softmax(QK^T)V, the reference) or "xformers".
    """
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(
            f"attention expects (batch, heads, length, head_dim) tensors, got {tuple(query.shape)}, "
            f"{tuple(key.shape)}, {tuple(value.shape)}"
        )
    num_heads = query.shape[1]
    if num_heads % key.shape[1]:
        raise ValueError(f"query heads ({num_heads}) must be a multiple of key/value heads ({key.shape[1]})")
    structured = attention_mask if isinstance(attention_mask, PrefixLM) else None
    if structured is not None:
        if query.shape[2] != structured.length or key.shape[2] != structured.length or is_causal:
            raise ValueError(
                f"a PrefixLM mask covers {structured.length} queries and keys (without is_causal), got "
                f"{query.shape[2]} queries and {key.shape[2]} keys"
            )
        chosen = _choose_backend(query, structured, backend)
        if chosen == "sdpa":
            scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
            return _prefix_lm_sdpa(query, key, value, structured, scale, key.shape[1] != num_heads)
        attention_mask = structured.dense(query.device)
    if is_causal:
        causal = causal_mask(query.shape[2], key.shape[2], device=query.device)
        attention_mask = causal if attention_mask is None else _combine(attention_mask, causal)
    chosen = _choose_backend(query, attention_mask, backend)
    scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])

    grouped = key.shape[1] != num_heads
    if chosen == "sdpa":
        # SDPA shares key/value heads itself (no copy per call, which matters for cached decoding).
        return F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, scale=scale, enable_gqa=grouped
        )
    key = _repeat_kv(key, num_heads)
    value = _repeat_kv(value, num_heads)
    if chosen == "xformers":
        xops = _xformers_ops()
        bias = None
        if attention_mask is not None:
            bias = _as_additive(attention_mask, query.dtype).expand(
                query.shape[0], num_heads, query.shape[2], key.shape[2]
            )
        out = xops.memory_efficient_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_bias=bias, scale=scale
        )
        return out.transpose(1, 2)
    # "math": the plain softmax(QK^T)V reference
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale
    if attention_mask is not None:
        scores = scores + _as_additive(attention_mask, scores.dtype)
    return torch.matmul(scores.softmax(dim=-1), value)


def _combine(mask: torch.Tensor, causal: torch.Tensor) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return mask & causal
    return mask + _as_additive(causal, mask.dtype)


def causal_mask(query_length: int, key_length: int, device=None) -> torch.Tensor:
    """Boolean ``(query_length, key_length)`` mask; queries are the last ``query_length`` positions."""
    offset = key_length - query_length
    rows = torch.arange(query_length, device=device)[:, None] + offset
    cols = torch.arange(key_length, device=device)[None, :]
    return cols <= rows


def prefix_lm_mask(
    query_positions: torch.Tensor,
    key_positions: torch.Tensor,
    prefix_length: torch.Tensor,
    key_valid: torch.Tensor | None = None,
    window: int | None = None,
) -> torch.Tensor:
    """Dense boolean ``(batch, 1, queries, keys)`` prefix-LM mask, True = may attend.

    A key is visible if it is not after the query (causal) or lies inside the prefix while the query
    does too (bidirectional prefix); never if it is an empty cache slot (position < 0) or padding
    (``key_valid`` False); with ``window``, only keys less than ``window`` positions away. A query
    always sees its own position.
    Built from position tensors only, so a compiled decode step sees no shape change per token.
    """
    query = query_positions[:, None]
    key = key_positions[None, :]
    prefix = prefix_length.reshape(-1, 1, 1)
    allowed = (key <= query) | ((key < prefix) & (query < prefix))
    allowed = allowed & (key >= 0)
    if window is not None:
        allowed = allowed & (query - key < window) & (key - query < window)
    if key_valid is not None:
        allowed = allowed & key_valid[:, None, :]
    # every query keeps its own position: a padded query whose whole window is padding would
    # otherwise get an all-masked row (NaN), and NaN values leak through zero attention weights
    return (allowed | (key == query))[:, None]


def key_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """``(batch, key_length)`` bool (True = real token) -> ``(batch, 1, 1, key_length)`` attention mask."""
    return mask.bool()[:, None, None, :]
