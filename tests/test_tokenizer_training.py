"""Tokenizer training: LFQ gradients and entropy, overfitting, the discriminator's switch and isolation."""

import pytest
import torch

from genvid.data import SyntheticVideoDataset, collate_videos
from genvid.eval.metrics import psnr
from genvid.training.tasks.tokenizer import TokenizerTask, TokenizerTaskOptions
from tokenizer import LookupFreeQuantizer, codebook_statistics
from helpers import train_on_batch

TINY_MODEL = dict(base_channels=8, channel_multipliers=[1, 2, 2, 4], num_res_blocks=1, num_mid_blocks=1)


def synthetic_batch(num_clips=2, num_frames=5, size=32):
    dataset = SyntheticVideoDataset(num_samples=num_clips, num_frames=num_frames, height=size, width=size, seed=0)
    return collate_videos([dataset[index] for index in range(num_clips)])


def make_task(bottleneck, **options):
    torch.manual_seed(0)
    model_config = dict(TINY_MODEL, bottleneck=bottleneck)
    if bottleneck == "lfq":
        model_config["latent_channels"] = 6
    if bottleneck == "fsq":
        model_config["fsq_levels"] = [5, 5, 5, 5]
    options = TokenizerTaskOptions(**{"discriminator_channels": 8, "discriminator_layers": 2, **options})
    return TokenizerTask(model_config, options, data_config=None)


def test_lfq_straight_through_gradients():
    quantizer = LookupFreeQuantizer(num_bits=4)
    z = torch.randn(2, 4, 2, 3, 3, requires_grad=True)
    out = quantizer(z)
    assert set(out.latents.detach().unique().tolist()) <= {-1.0, 1.0}
    (out.latents * torch.randn_like(out.latents)).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_lfq_entropy_loss_raises_codebook_usage():
    torch.manual_seed(0)
    quantizer = LookupFreeQuantizer(num_bits=6)
    # a collapsed start: every position leans the same way on every bit (up to small noise)
    signs = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, -1.0]).view(1, 6, 1, 1, 1)
    z = torch.nn.Parameter(signs * 2.0 + 0.3 * torch.randn(4, 6, 1, 4, 4))
    before = codebook_statistics(quantizer(z).ids, quantizer.codebook_size)
    optimizer = torch.optim.Adam([z], lr=0.05)
    for _ in range(60):
        # the task's entropy term without the norm's help (it would centre the collapsed input)
        per_sample, codebook = quantizer.entropies(z)
        loss = per_sample - codebook
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = codebook_statistics(quantizer(z).ids, quantizer.codebook_size)
    assert after["codebook_usage"] > 2 * before["codebook_usage"]
    assert after["codebook_perplexity"] > 2 * before["codebook_perplexity"]


@pytest.mark.parametrize("bottleneck", ["gaussian", "fsq", "lfq"])
def test_tiny_tokenizer_overfits_synthetic_clips(bottleneck):
    task = make_task(bottleneck, use_discriminator=False)
    model = task.build_model()
    batch = synthetic_batch()
    video = batch["video"]

    def current_psnr():
        with torch.no_grad():
            tokenizer = model.tokenizer.eval()
            value = psnr(tokenizer.decode(tokenizer.encode(video)).clamp(-1, 1), video).item()
            tokenizer.train()
            return value

    start = current_psnr()
    _, logs = train_on_batch(task, model, batch, torch.optim.Adam(model.parameters(), lr=3e-3), steps=40)
    end = current_psnr()
    assert end > start + 6.0, (start, end)
    if bottleneck != "gaussian":
        assert 0 < logs["codebook_usage"] <= 1 and logs["codebook_perplexity"] >= 1


def test_discriminator_switches_on_after_start_step():
    task = make_task("gaussian", discriminator_start_step=5)
    model = task.build_model()
    batch = synthetic_batch(num_clips=1)
    generator = torch.Generator().manual_seed(0)
    loss_before, logs_before = task.training_step(model, batch, 4, generator)
    assert "discriminator_hinge" not in logs_before and "generator_adversarial" not in logs_before
    generator = torch.Generator().manual_seed(0)
    loss_after, logs_after = task.training_step(model, batch, 5, generator)
    assert {"discriminator_hinge", "generator_adversarial", "adaptive_weight", "lecam"} <= set(logs_after)
    assert logs_after["reconstruction"] == pytest.approx(logs_before["reconstruction"])
    assert loss_after.item() != pytest.approx(loss_before.item())


def _gradients(module):
    return [parameter.grad for parameter in module.parameters()]


def test_adversarial_terms_do_not_leak():
    batch = synthetic_batch(num_clips=1)
    # generator side only: the discriminator must get no gradient
    task = make_task("gaussian", discriminator_start_step=0, discriminator_weight=0.0, lecam_weight=0.0,
                     adaptive_adversarial_weight=False, adversarial_weight=1.0)
    model = task.build_model()
    loss, _ = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
    loss.backward()
    assert all(grad is None or grad.abs().sum() == 0 for grad in _gradients(model.discriminator))
    assert model.tokenizer.last_layer.grad.abs().sum() > 0
    # discriminator side only: the tokenizer must get no gradient
    task = make_task("gaussian", discriminator_start_step=0, l1_weight=0.0, kl_weight=0.0, adversarial_weight=0.0)
    model = task.build_model()
    loss, _ = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
    loss.backward()
    assert all(grad is None or grad.abs().sum() == 0 for grad in _gradients(model.tokenizer))
    assert any(grad is not None and grad.abs().sum() > 0 for grad in _gradients(model.discriminator))


def test_export_stores_latent_statistics(tmp_path):
    from genvid.data import DataConfig
    from tokenizer import VideoTokenizer

    task = make_task("gaussian", latent_statistics_batches=1)
    task.data_config = DataConfig(num_frames=5, height=32, width=32, num_samples=4)
    model = task.build_model()
    task.export(model, tmp_path)
    loaded = VideoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded.config.latent_mean, list) and len(loaded.config.latent_std) == 16
    task.preview(model, 3, tmp_path, torch.Generator())
    assert (tmp_path / "tokenizer_step0000003.png").is_file()


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    batch = synthetic_batch(num_clips=1)
    results = []
    for checkpointing in (False, True):
        task = make_task("fsq", use_discriminator=False)
        model = task.build_model()
        if checkpointing:
            model.enable_gradient_checkpointing()
        loss, _ = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
        loss.backward()
        results.append((loss.detach(), model.tokenizer.encoder.conv_in.weight.grad.clone()))
    assert torch.allclose(results[0][0], results[1][0])
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)


def test_entropy_weight_anneals():
    task = make_task("lfq", use_discriminator=False, entropy_weight=0.1, entropy_weight_start=1.0, entropy_anneal_steps=10)
    model = task.build_model()
    assert model.entropy_weight(0) == pytest.approx(1.0)
    assert model.entropy_weight(5) == pytest.approx(0.55)
    assert model.entropy_weight(100) == pytest.approx(0.1)


def test_foreground_weighting_counts_the_object_more_and_keeps_the_mean_weight():
    from tokenizer.losses import foreground_weights, reconstruction_loss

    target = torch.full((1, 3, 2, 8, 8), -0.8)
    target[:, 0, :, 2:4, 2:4] = 0.9  # a small red object, 4 of 64 pixels per frame
    weights = foreground_weights(target, foreground_weight=10.0)
    assert weights.shape == (1, 1, 2, 8, 8)
    torch.testing.assert_close(weights.mean(), torch.tensor(1.0))
    assert torch.allclose(weights[0, 0, :, 2, 2], torch.full((2,), 11.0) * weights[0, 0, 0, 0, 0])
    # the same error costs more on the object than on the background
    on_object, on_background = target.clone(), target.clone()
    on_object[:, :, :, 2, 2] += 0.5
    on_background[:, :, :, 6, 6] += 0.5
    assert reconstruction_loss(on_object, target, foreground_weight=10.0) > 5 * reconstruction_loss(
        on_background, target, foreground_weight=10.0)
    # off (the default) it is the plain mean
    torch.testing.assert_close(reconstruction_loss(on_object, target), (on_object - target).abs().mean())


def test_initial_weights_start_the_run_from_a_saved_tokenizer(tmp_path):
    from genvid.errors import GenvidError

    saved = make_task("fsq").build_model().tokenizer
    with torch.no_grad():
        for parameter in saved.parameters():
            parameter.add_(0.01)  # unlike any fresh initialisation
    saved.save_pretrained(tmp_path / "saved")
    started = make_task("fsq", initial_weights=str(tmp_path / "saved")).build_model().tokenizer
    for name, value in saved.state_dict().items():
        torch.testing.assert_close(started.state_dict()[name], value, rtol=0, atol=0, msg=name)

    other_task = make_task("fsq", initial_weights=str(tmp_path / "saved"))
    other_task.model_config["base_channels"] = 16
    with pytest.raises(GenvidError, match="does not match the model section: shape of"):
        other_task.build_model()
    with pytest.raises(GenvidError, match="no tokenizer weights at"):
        make_task("fsq", initial_weights=str(tmp_path / "missing")).build_model()


def test_initial_weights_take_a_shipped_default_tokenizer():
    from pathlib import Path

    from genvid.config import load_config, section
    from genvid.pretrained import load_pretrained_tokenizer

    config_path = Path(__file__).resolve().parent.parent / "configs" / "tokenizer" / "default_fsq.yaml"
    model_config = section(load_config(config_path), "model")
    task = TokenizerTask(model_config, TokenizerTaskOptions(use_discriminator=False, initial_weights="pretrained:fsq"), None)
    started = task.build_model().tokenizer
    shipped = load_pretrained_tokenizer("fsq")
    for name, value in shipped.state_dict().items():
        torch.testing.assert_close(started.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_frozen_encoder_trains_the_decoder_and_keeps_tokens_and_statistics(tmp_path):
    from genvid.data import DataConfig
    from genvid.errors import GenvidError
    from tokenizer import VideoTokenizer

    saved = make_task("fsq").build_model().tokenizer
    saved.set_latent_statistics([0.1, 0.2, 0.3, 0.4], [1.5, 1.6, 1.7, 1.8])
    saved.save_pretrained(tmp_path / "saved")
    task = make_task("fsq", use_discriminator=False, initial_weights=str(tmp_path / "saved"), freeze_encoder=True,
                     latent_statistics_batches=1)
    task.data_config = DataConfig(num_frames=5, height=32, width=32, num_samples=4)
    model = task.build_model()
    batch = synthetic_batch()
    video = batch["video"]
    with torch.no_grad():
        ids_before = model.tokenizer.tokenize(video)
        psnr_before = psnr(model.tokenizer.detokenize(ids_before).clamp(-1, 1), video).item()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    assert trainable and all(not parameter.requires_grad for parameter in model.tokenizer.encoder.parameters())
    optimizer = torch.optim.Adam(trainable, lr=3e-3)
    for step in range(30):
        loss, _ = task.training_step(model, batch, step, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert torch.equal(model.tokenizer.tokenize(video), ids_before)
        psnr_after = psnr(model.tokenizer.detokenize(ids_before).clamp(-1, 1), video).item()
    assert psnr_after > psnr_before + 3.0, (psnr_before, psnr_after)
    task.export(model, tmp_path / "export")
    exported = VideoTokenizer.from_pretrained(tmp_path / "export")
    assert exported.config.latent_mean == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert exported.config.latent_std == pytest.approx([1.5, 1.6, 1.7, 1.8])
    for name, value in saved.encoder.state_dict().items():
        torch.testing.assert_close(exported.encoder.state_dict()[name], value, rtol=0, atol=0, msg=name)

    with pytest.raises(GenvidError, match="freeze_encoder needs initial_weights"):
        make_task("fsq", freeze_encoder=True).build_model()
