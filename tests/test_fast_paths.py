"""The faster forms of the transformers' elementwise steps give the values of the formulas they
replaced (rotary embeddings as one complex product, AdaLN modulation and gated residuals as one
addcmul, RMS normalisation as four plain steps), forward and backward, eager and compiled."""

import pytest
import torch
import torch.nn.functional as F

from genvid.models.dit import gated_residual, modulate
from genvid.models.normalization import rms_norm
from genvid.models.rope import apply_rotary, rotary_3d, rotary_angles, rotary_table


def rotate_reference(x, angles):
    """The real-valued interleaved formula genvid used before: x * cos + rotate_pairs(x) * sin."""
    cos, sin = (angles.repeat_interleave(2, dim=-1).cos(), angles.repeat_interleave(2, dim=-1).sin())
    pairs = x.float().unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return (x.float() * cos + rotated * sin).to(x.dtype)


@pytest.mark.parametrize("compiling", [False, True])
def test_rotary_equals_the_real_formula_forward_and_backward(monkeypatch, compiling):
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: compiling)
    generator = torch.Generator().manual_seed(0)
    # a strided view as the models pass it (heads split out of a fused projection)
    fused = torch.randn(2, 7, 3 * 4 * 16, generator=generator)
    x = fused.unflatten(-1, (3, 4, 16))[:, :, 1].transpose(1, 2).requires_grad_(False)
    x = x.clone().requires_grad_(True)
    angles = rotary_angles(torch.arange(7) * 3.0, 16)
    ours = apply_rotary(x, rotary_table(angles))
    reference_input = x.detach().clone().requires_grad_(True)
    reference = rotate_reference(reference_input, angles)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    weights = torch.randn(reference.shape, generator=generator)
    (ours * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(x.grad, reference_input.grad, atol=1e-6, rtol=0)
    # a rotation keeps each pair's length: a wrong pairing or sign would not
    torch.testing.assert_close(ours.unflatten(-1, (-1, 2)).norm(dim=-1), x.unflatten(-1, (-1, 2)).norm(dim=-1))


def test_rotary_keeps_bfloat16_and_3d_tables_cover_every_token():
    table = rotary_3d(2, 3, 4, 24)
    assert table.shape == (24, 12, 2)
    x = torch.randn(1, 2, 24, 24).bfloat16()
    assert apply_rotary(x, table).dtype == torch.bfloat16
    assert not torch.equal(table[1], table[4])  # the next column and the next row differ


def test_modulate_and_gated_residual_equal_their_formulas_with_per_frame_groups():
    generator = torch.Generator().manual_seed(1)
    x, residual = torch.randn(2, 3 * 5, 8, generator=generator), torch.randn(2, 3 * 5, 8, generator=generator)
    for frames in (1, 3):
        shift, scale, gate = (torch.randn(2, frames, 8, generator=generator) for _ in range(3))
        expand = lambda value: value.repeat_interleave(15 // frames, dim=1)  # noqa: E731
        torch.testing.assert_close(modulate(x, shift, scale), x * (1 + expand(scale)) + expand(shift))
        torch.testing.assert_close(gated_residual(residual, x, gate), residual + x * expand(gate))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_norm_equals_torch_rms_norm_in_float32_forward_and_backward(dtype):
    generator = torch.Generator().manual_seed(2)
    x = (torch.randn(3, 5, 64, generator=generator) * 4).to(dtype).requires_grad_(True)
    weight = torch.randn(64, generator=generator).requires_grad_(True)
    with torch.no_grad():  # the plain steps; with gradients the written-out backward
        torch.testing.assert_close(rms_norm(x, weight, 1e-6), F.rms_norm(x.float(), (64,), weight, 1e-6).to(dtype),
                                   atol=1e-6, rtol=0)
    ours = rms_norm(x, weight, 1e-6)
    assert ours.grad_fn.name().startswith("RMSNormFunction")
    reference_x, reference_weight = x.detach().clone().requires_grad_(True), weight.detach().clone().requires_grad_(True)
    reference = F.rms_norm(reference_x.float(), (64,), reference_weight, 1e-6).to(dtype)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    ours.float().square().sum().backward()
    reference.float().square().sum().backward()
    torch.testing.assert_close(x.grad, reference_x.grad)
    torch.testing.assert_close(weight.grad, reference_weight.grad, atol=1e-4, rtol=1e-5)


def test_rms_norm_refuses_a_second_derivative():
    x, weight = torch.randn(2, 8, requires_grad=True), torch.ones(8, requires_grad=True)
    (gradient,) = torch.autograd.grad(rms_norm(x, weight, 1e-6).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gradient.sum().backward()


def test_rms_norm_with_a_broadcast_weight_equals_one_norm_per_slice_forward_and_backward():
    # the DiT's queries and keys normalised in one call: (b n 2 h d) with a (2, 1, d) weight
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 3, 4, 16, generator=generator)[:, :, :2].requires_grad_(False)
    x = x.clone().requires_grad_(True)
    weights = [torch.randn(16, generator=generator).requires_grad_(True) for _ in range(2)]
    together = rms_norm(x, torch.stack(weights)[:, None], 1e-6)
    copies = [x.detach().clone().requires_grad_(True) for _ in range(2)]
    reference_weights = [weight.detach().clone().requires_grad_(True) for weight in weights]
    apart = torch.stack([F.rms_norm(copy[:, :, index], (16,), weight, 1e-6)
                         for index, (copy, weight) in enumerate(zip(copies, reference_weights))], dim=2)
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=0)
    upstream = torch.randn(together.shape, generator=generator)
    (together * upstream).sum().backward()
    (apart * upstream).sum().backward()
    torch.testing.assert_close(x.grad, copies[0].grad + copies[1].grad, atol=1e-5, rtol=0)
    for weight, reference in zip(weights, reference_weights):
        torch.testing.assert_close(weight.grad, reference.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch, frames", [(1, 1), (1, 3), (2, 1)])
def test_norm_modulate_equals_layer_norm_then_modulate_forward_and_backward(batch, frames):
    from torch import nn

    from genvid.models.dit import norm_modulate

    generator = torch.Generator().manual_seed(4)
    norm = nn.LayerNorm(8, eps=1e-6, elementwise_affine=False)
    x = (torch.randn(batch, 3 * 5, 8, generator=generator) * 3 + 1).requires_grad_(True)
    shift, scale = (torch.randn(batch, frames, 8, generator=generator).requires_grad_(True) for _ in range(2))
    ours = norm_modulate(norm, x, shift, scale)
    inputs = [tensor.detach().clone().requires_grad_(True) for tensor in (x, shift, scale)]
    reference = modulate(F.layer_norm(inputs[0], (8,), eps=1e-6), inputs[1], inputs[2])
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
    upstream = torch.randn(ours.shape, generator=generator)
    (ours * upstream).sum().backward()
    (reference * upstream).sum().backward()
    for tensor, copy in zip((x, shift, scale), inputs):
        torch.testing.assert_close(tensor.grad, copy.grad, atol=1e-5, rtol=1e-5)


def test_dit_self_attention_equals_separate_query_and_key_norms_and_rotations():
    from genvid.models.attention import attention
    from genvid.models.dit import SelfAttention

    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    layer = SelfAttention(48, 3, qk_norm=True, eps=1e-6)
    with torch.no_grad():
        layer.query_norm.weight.normal_(generator=generator)
        layer.key_norm.weight.normal_(generator=generator)
    x = torch.randn(2, 24, 48, generator=generator)
    table = rotary_3d(2, 3, 4, 16)
    ours = layer(x, table)
    # the former path: each of query and key normalised and rotated apart, the real rotary formula
    query, key, value = layer.to_qkv(x).unflatten(-1, (3, 3, 16)).permute(2, 0, 3, 1, 4)
    angles = torch.atan2(table[..., 1], table[..., 0])
    query = rotate_reference(F.rms_norm(query, (16,), layer.query_norm.weight, 1e-6), angles)
    key = rotate_reference(F.rms_norm(key, (16,), layer.key_norm.weight, 1e-6), angles)
    out = attention(query, key, value, backend="math")
    reference = layer.to_out(out.transpose(1, 2).flatten(2))
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
