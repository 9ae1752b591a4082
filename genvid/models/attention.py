"""The one attention entry point of genvid.

Every transformer in genvid (the DiT, the LM) calls :func:`attention`. It runs torch's
``scaled_dot_product_attention`` by default and xformers' memory-efficient attention when xformers
is importable and the tensors live on CUDA (and the mask is one xformers can take). Both give the
same result within floating-point tolerance.

Layout: ``query``/``key``/``value`` are ``(batch, heads, length, head_dim)``. ``key``/``value`` may
have fewer heads than ``query`` (grouped-query attention); their heads are shared by groups.

Masks: ``attention_mask`` is either boolean (True = may attend) or additive float, broadcastable
to ``(batch, heads, query_length, key_length)``.
"""

from __future__ import annotations

import math
import os

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


def available_backends() -> list[str]:
    backends = ["sdpa", "math"]
    if torch.cuda.is_available() and _xformers_ops() is not None:
        backends.append("xformers")
    return backends


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


def key_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """``(batch, key_length)`` bool (True = real token) -> ``(batch, 1, 1, key_length)`` attention mask."""
    return mask.bool()[:, None, None, :]
