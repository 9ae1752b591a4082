"""VideoDiffusionTransformer: shapes, positions, masks, checkpointing, overfitting, config checks."""

import pytest
import torch

from genvid.config import ConfigError, build_model
from genvid.models.dit import VideoDiffusionTransformer, forward_flops

TINY = dict(in_channels=4, hidden_size=64, num_layers=2, num_heads=4, text_hidden_size=32)


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    model = VideoDiffusionTransformer(**{**TINY, **overrides})
    # Break AdaLN-zero's all-zero start so that every path of the network shows in the output.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(std=0.05)
    return model.eval()


def text_inputs(batch=2, length=6, seed=1):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[-1, length // 2 :] = False
    return torch.randn(batch, length, 32, generator=generator), mask


def test_untrained_model_predicts_zero_velocity():
    model = VideoDiffusionTransformer(**TINY)
    text, mask = text_inputs()
    out = model(torch.randn(2, 4, 3, 8, 8), torch.tensor([10.0, 900.0]), text, mask).sample
    assert out.shape == (2, 4, 3, 8, 8)
    assert out.abs().max() == 0


def test_rope_lets_the_model_run_at_other_frame_counts_and_sizes():
    model = tiny_model()
    text, mask = text_inputs(batch=1)
    for shape in [(1, 4, 3, 8, 8), (1, 4, 5, 8, 8), (1, 4, 1, 6, 10), (1, 4, 2, 12, 4)]:
        out = model(torch.randn(shape), torch.tensor([500.0]), text, mask).sample
        assert out.shape == shape and torch.isfinite(out).all()


def test_positions_matter_and_patch_size_t():
    model = tiny_model()
    text, mask = text_inputs(batch=1)
    latents = torch.randn(1, 4, 3, 8, 8)
    out = model(latents, torch.tensor([500.0]), text, mask).sample
    # Rolling the input along width is not the same as rolling the output: positions are encoded.
    rolled = model(latents.roll(2, dims=-1), torch.tensor([500.0]), text, mask).sample
    assert not torch.allclose(rolled, out.roll(2, dims=-1), atol=1e-4)
    temporal = tiny_model(patch_size_t=2)
    assert temporal(torch.randn(1, 4, 4, 8, 8), torch.tensor([300.0]), text, mask).sample.shape == (1, 4, 4, 8, 8)


@pytest.mark.parametrize("options", [{}, {"pooled_text": True}])
def test_padding_tokens_do_not_change_the_output(options):
    model = tiny_model(**options)
    text, mask = text_inputs(batch=1, length=6)
    mask[0, 3:] = False
    latents = torch.randn(1, 4, 3, 8, 8)
    out = model(latents, torch.tensor([400.0]), text, mask).sample
    changed = text.clone()
    changed[0, 3:] = 50.0
    torch.testing.assert_close(model(latents, torch.tensor([400.0]), changed, mask).sample, out)
    trimmed = model(latents, torch.tensor([400.0]), text[:, :3], mask[:, :3]).sample
    torch.testing.assert_close(trimmed, out, atol=1e-5, rtol=1e-4)


def test_per_frame_timesteps_equal_shared_timestep_when_equal():
    model = tiny_model()
    text, mask = text_inputs()
    latents = torch.randn(2, 4, 3, 8, 8)
    shared = model(latents, torch.tensor([300.0, 700.0]), text, mask).sample
    per_frame = model(latents, torch.tensor([[300.0] * 3, [700.0] * 3]), text, mask).sample
    torch.testing.assert_close(per_frame, shared, atol=1e-5, rtol=1e-4)
    first_clean = model(latents, torch.tensor([[0.0, 300, 300], [0.0, 700, 700]]), text, mask).sample
    assert not torch.allclose(first_clean, shared)


def test_gradient_checkpointing_gives_the_same_gradients():
    text, mask = text_inputs()
    latents = torch.randn(2, 4, 3, 8, 8)
    gradients = []
    for checkpointing in (False, True):
        model = tiny_model().train()
        if checkpointing:
            model.enable_gradient_checkpointing()
            assert model.gradient_checkpointing
        model(latents, torch.tensor([300.0, 700.0]), text, mask).sample.square().mean().backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(gradients[0], gradients[1], atol=1e-6, rtol=1e-5)


def test_tiny_model_overfits_fixed_latents_and_text():
    torch.manual_seed(0)
    model = VideoDiffusionTransformer(**TINY)
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn(4, 4, 3, 8, 8, generator=generator)
    text = torch.randn(4, 6, 32, generator=generator)
    mask = torch.ones(4, 6, dtype=torch.bool)
    noise = torch.randn(clean.shape, generator=generator)
    levels = torch.sigmoid(torch.randn(4, generator=generator))
    noisy = (1 - levels.view(-1, 1, 1, 1, 1)) * clean + levels.view(-1, 1, 1, 1, 1) * noise
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    losses = []
    for _ in range(100):
        loss = (model(noisy, levels * 1000, text, mask).sample - (noise - clean)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses[::10]


def test_wrong_shapes_are_clear_errors():
    model = tiny_model()
    text, mask = text_inputs(batch=1)
    with pytest.raises(ValueError, match="not divisible by the patch"):
        model(torch.randn(1, 4, 3, 7, 8), torch.tensor([1.0]), text, mask)
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 3, 3, 8, 8), torch.tensor([1.0]), text, mask)
    with pytest.raises(ValueError, match="batch, channels, frames, height, width"):
        model(torch.randn(4, 3, 8, 8), torch.tensor([1.0]), text, mask)
    with pytest.raises(ValueError, match="text_hidden_size"):
        model(torch.randn(1, 4, 3, 8, 8), torch.tensor([1.0]), torch.randn(1, 6, 31), mask)
    with pytest.raises(ValueError, match="timestep"):
        model(torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 2.0]]), text, mask)
    with pytest.raises(ValueError, match="encoder_attention_mask"):
        model(torch.randn(1, 4, 3, 8, 8), torch.tensor([1.0]), text, mask[:, :2])
    with pytest.raises(ValueError, match="divisible by num_heads"):
        VideoDiffusionTransformer(hidden_size=60, num_heads=7)


def test_build_model_rejects_unknown_key_and_config_round_trips(tmp_path):
    with pytest.raises(ConfigError, match="model.depth"):
        build_model(VideoDiffusionTransformer, {**TINY, "depth": 3})
    model = build_model(VideoDiffusionTransformer, TINY)
    model.save_pretrained(tmp_path)
    loaded = VideoDiffusionTransformer.from_pretrained(tmp_path)
    assert loaded.config.hidden_size == 64
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_forward_flops_counts_linear_layers_and_attention():
    model = VideoDiffusionTransformer(**TINY)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    timestep_linear = sum(
        m.weight.numel()
        for module in (model.time_embedding, model.time_projection, model.output_modulation, model.pooled_text_embedding)
        for m in module.modules()
        if isinstance(m, torch.nn.Linear)
    )
    tokens, text_length = 3 * 4 * 4, 6
    flops = forward_flops(TINY, 3, 8, 8, text_length)
    attention = 2 * 4 * 64 * tokens * (tokens + text_length)
    text_only = model.text_embedding[0].weight.numel() + model.text_embedding[2].weight.numel() + 2 * 2 * 64 * 64
    expected = 2 * tokens * (linear - timestep_linear - text_only) + 2 * text_length * text_only + attention
    assert flops == pytest.approx(expected)


def _position_task_loss(absolute_positions: bool, steps: int = 60) -> float:
    """Fit a velocity that depends only on where a token is (up in the top half, down in the bottom
    half, of the first frame only) from inputs that carry no content: rotary offsets cannot say it."""
    torch.manual_seed(0)
    model = VideoDiffusionTransformer(**TINY, patch_size=1, absolute_positions=absolute_positions)
    latents = torch.zeros(2, 4, 3, 8, 8)
    target = torch.zeros_like(latents)
    target[:, :, 0, :4] = 1.0
    target[:, :, 0, 4:] = -1.0
    text = torch.zeros(2, 3, 32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(steps):
        loss = (model(latents, torch.tensor([900.0, 900.0]), text).sample - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def test_absolute_positions_let_the_model_tell_where_a_token_is():
    with_positions, without = _position_task_loss(True), _position_task_loss(False)
    # the best position-blind answer is the mean target (zero): loss 1/3
    assert without > 0.25 and with_positions < 0.1, (with_positions, without)


def test_pooled_text_reaches_the_modulation():
    # with cross-attention cut out (its output weights zeroed) only the pooled path carries the prompt
    model = tiny_model(pooled_text=True)
    with torch.no_grad():
        for block in model.blocks:
            block.cross_attention.to_out.weight.zero_()
            block.cross_attention.to_out.bias.zero_()
    latents = torch.randn(1, 4, 3, 8, 8)
    first, second = torch.randn(2, 1, 6, 32).unbind(0)
    timestep = torch.tensor([500.0])

    def prompt_effect() -> float:
        return float((model(latents, timestep, first).sample - model(latents, timestep, second).sample).abs().max())

    with torch.no_grad():
        assert prompt_effect() > 1e-3
        model.pooled_text_embedding[-1].weight.zero_()
        model.pooled_text_embedding[-1].bias.zero_()
        assert prompt_effect() == 0


def test_position_and_pooled_text_options_round_trip(tmp_path):
    model = tiny_model(absolute_positions=True, pooled_text=True)
    model.save_pretrained(tmp_path)
    loaded = VideoDiffusionTransformer.from_pretrained(tmp_path).eval()
    latents = torch.randn(2, 4, 3, 8, 8)
    text, mask = text_inputs()
    with torch.no_grad():
        expected = model(latents, torch.tensor([500.0, 100.0]), text, mask).sample
        torch.testing.assert_close(loaded(latents, torch.tensor([500.0, 100.0]), text, mask).sample, expected)


def test_text_padding_shared_by_every_row_is_dropped_before_attention(monkeypatch):
    import genvid.models.dit as dit_module

    model = tiny_model()
    text, mask = text_inputs(batch=2, length=6)
    mask[:, 4:] = False  # the last two keys are padding in both rows; row 1 also pads 3
    latents = torch.randn(2, 4, 3, 8, 8)
    timestep = torch.tensor([400.0, 700.0])
    seen = []

    def spy(query, key, value, attention_mask=None, **kwargs):
        seen.append((key.shape[2], None if attention_mask is None else tuple(attention_mask.shape)))
        return dit_module_attention(query, key, value, attention_mask=attention_mask, **kwargs)

    dit_module_attention = dit_module.attention
    monkeypatch.setattr(dit_module, "attention", spy)

    def run(text, mask):
        model.zero_grad()
        out = model(latents, timestep, text, mask).sample
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        return out, [p.grad.clone() for p in model.parameters()]

    out, grads = run(text, mask)
    cross = [entry for entry in seen if entry[0] != 3 * 4 * 4]  # self-attention keys are the 48 video tokens
    assert cross and all(entry == (4, (2, 1, 1, 4)) for entry in cross)
    monkeypatch.setenv("GENVID_ATTENTION_BACKEND", "math")
    reference, reference_grads = run(text, mask)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)
    for grad, reference_grad in zip(grads, reference_grads):
        torch.testing.assert_close(grad, reference_grad, atol=1e-5, rtol=1e-4)
    seen.clear()
    mask[1, 3] = True  # now both rows are real up to 4 keys: no mask at all
    model(latents, timestep, text, mask)
    assert all(entry[1] is None for entry in seen)


def test_regional_compile_compiles_each_block_without_graph_breaks():
    # diffusers' compile_repeated_blocks compiles the classes _repeated_blocks names; fullgraph
    # makes any graph break an error, and the eager backend keeps the test free of a C compiler.
    torch._dynamo.reset()
    model = tiny_model()
    text, mask = text_inputs()
    latents, timestep = torch.randn(2, 4, 3, 8, 8), torch.tensor([100.0, 700.0])
    with torch.no_grad():
        eager = model(latents, timestep, text, mask).sample
        model.compile_repeated_blocks(backend="eager", fullgraph=True)
        assert all(hasattr(block, "_compiled_call_impl") and block._compiled_call_impl is not None for block in model.blocks)
        compiled = model(latents, timestep, text, mask).sample
    torch.testing.assert_close(compiled, eager)
