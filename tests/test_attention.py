"""The one attention entry point agrees with a plain softmax(QK^T)V written out with einsum."""

import pytest
import torch

from genvid.models.attention import PrefixLM, attention, causal_mask, key_padding_mask, prefix_lm


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


@pytest.mark.parametrize("kv_heads", [4, 2])
# prefix 8 of 12: a prefix longer than half the sequence takes the target-rows pass; so does every
# short sequence on a CPU, unless SHORT_ON_CPU is 0 (then prefix 5 takes the causal pass)
@pytest.mark.parametrize("short_on_cpu", [512, 0])
@pytest.mark.parametrize("prefix, padded", [(0, False), (1, False), (5, False), (8, False), (12, False), (5, True),
                                            (8, True), (12, True)])
def test_prefix_lm_without_dense_mask_matches_math_forward_and_backward(monkeypatch, prefix, padded, kv_heads,
                                                                         short_on_cpu):
    import genvid.models.attention as attention_module

    monkeypatch.setattr(attention_module, "SHORT_ON_CPU", short_on_cpu)
    length = 12
    tensors = [t.requires_grad_() for t in _tensors(kv_heads=kv_heads, query_length=length, key_length=length, seed=prefix)]
    key_valid = None
    if padded:  # padding inside the prefix only, a different amount per row
        key_valid = torch.ones(2, length, dtype=torch.bool)
        key_valid[0, 1:3] = False
        key_valid[1, prefix - 1] = False
    mask = prefix_lm(prefix, length, key_valid)
    assert isinstance(mask, PrefixLM)
    real = torch.ones(2, length, dtype=torch.bool) if key_valid is None else key_valid
    weights = torch.randn(2, 4, length, 16, generator=torch.Generator().manual_seed(1)) * real[:, None, :, None]
    results = []
    for backend in ("sdpa", "math"):
        copies = [t.detach().clone().requires_grad_() for t in tensors]
        out = attention(*copies, attention_mask=mask, backend=backend)
        (out * weights).sum().backward()
        results.append((out, [c.grad for c in copies]))
    (fast, fast_grads), (reference, reference_grads) = results
    rows = real[:, None, :, None].expand_as(fast)
    torch.testing.assert_close(fast[rows], reference[rows], atol=1e-5, rtol=1e-4)
    for fast_grad, reference_grad in zip(fast_grads, reference_grads):
        torch.testing.assert_close(fast_grad, reference_grad, atol=1e-5, rtol=1e-4)
    # and the dense mask it stands for is the written-out rule
    expected = reference_attention(*[t.detach() for t in tensors], mask.dense())
    torch.testing.assert_close(fast[rows], expected[rows], atol=1e-5, rtol=1e-4)


def test_prefix_lm_refuses_masks_of_another_form():
    valid = torch.ones(2, 8, dtype=torch.bool)
    assert prefix_lm(torch.tensor([3, 4]), 8) is None  # prefix lengths differ between rows
    valid[1, 6] = False
    assert prefix_lm(3, 8, valid) is None  # padding after the prefix
    assert prefix_lm(torch.tensor([3, 3]), 8, torch.ones(2, 8, dtype=torch.bool)) == PrefixLM(3, 8, None)
    query, key, value = _tensors(query_length=7, key_length=8)
    with pytest.raises(ValueError, match="PrefixLM mask covers 8"):
        attention(query, key, value, attention_mask=prefix_lm(3, 8))
