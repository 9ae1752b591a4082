"""The one attention entry point agrees with a plain softmax(QK^T)V written out with einsum."""

import pytest
import torch

from genvid.models.attention import attention, causal_mask, key_padding_mask


def reference_attention(query, key, value, mask=None):
    """softmax(Q K^T / sqrt(d)) V with GQA by repeating key/value heads; ``mask`` bool, True = attend."""
    groups = query.shape[1] // key.shape[1]
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    scores = torch.einsum("bhqd,bhkd->bhqk", query.double(), key.double()) / query.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.einsum("bhqk,bhkd->bhqd", scores.softmax(dim=-1), value.double()).float()


def _tensors(query_heads=4, kv_heads=4, query_length=7, key_length=7, seed=0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(2, query_heads, query_length, 16, generator=generator)
    key = torch.randn(2, kv_heads, key_length, 16, generator=generator)
    value = torch.randn(2, kv_heads, key_length, 16, generator=generator)
    return query, key, value


@pytest.mark.parametrize("backend", ["math", "sdpa", None])
def test_unmasked_matches_reference(backend):
    query, key, value = _tensors()
    out = attention(query, key, value, backend=backend)
    torch.testing.assert_close(out, reference_attention(query, key, value), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_key_padding_mask_matches_reference(backend):
    query, key, value = _tensors(key_length=9)
    padding = torch.ones(2, 9, dtype=torch.bool)
    padding[0, 5:] = False
    padding[1, 2:] = False
    mask = key_padding_mask(padding)
    out = attention(query, key, value, attention_mask=mask, backend=backend)
    torch.testing.assert_close(out, reference_attention(query, key, value, mask), atol=1e-5, rtol=1e-4)
    # Padding keys must not matter at all: changing them leaves the output unchanged.
    changed_value = value.clone()
    changed_value[1, :, 2:] = 100.0
    torch.testing.assert_close(attention(query, key, changed_value, attention_mask=mask, backend=backend), out)


@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_causal_matches_reference(backend):
    query, key, value = _tensors(query_length=3, key_length=8)  # cached decoding: queries are the last 3
    out = attention(query, key, value, is_causal=True, backend=backend)
    mask = causal_mask(3, 8)
    assert mask[0].tolist() == [True] * 6 + [False] * 2
    torch.testing.assert_close(out, reference_attention(query, key, value, mask), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_grouped_query_attention_matches_reference(backend):
    query, key, value = _tensors(query_heads=6, kv_heads=2)
    padding = torch.ones(2, 7, dtype=torch.bool)
    padding[1, 4:] = False
    mask = key_padding_mask(padding)
    out = attention(query, key, value, attention_mask=mask, backend=backend)
    torch.testing.assert_close(out, reference_attention(query, key, value, mask), atol=1e-5, rtol=1e-4)


def test_additive_float_mask_equals_bool_mask():
    query, key, value = _tensors()
    mask = causal_mask(7, 7)
    additive = torch.zeros(7, 7).masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(
        attention(query, key, value, attention_mask=additive, backend="math"),
        attention(query, key, value, attention_mask=mask, backend="sdpa"),
        atol=1e-5,
        rtol=1e-4,
    )


def test_bad_shapes_and_backend_are_clear_errors():
    query, key, value = _tensors()
    with pytest.raises(ValueError, match="batch, heads, length, head_dim"):
        attention(query[0], key, value)
    with pytest.raises(ValueError, match="multiple of key/value heads"):
        attention(torch.randn(2, 5, 7, 16), key[:, :2], value[:, :2])
    with pytest.raises(ValueError, match="unknown attention backend"):
        attention(query, key, value, backend="flash9")
