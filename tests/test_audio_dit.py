"""Audio-conditioned DiT: the model reads codec codes, the task trains on clips with sound, and the
pipeline takes ``audio=`` (CPU, tiny)."""

import json

import pytest
import torch

from genvid.data import DataConfig, build_dataset, collate_videos
from genvid.errors import GenvidError
from genvid.models.dit import VideoDiffusionTransformer
from genvid.pipelines.diffusion import GenVidDiffusionPipeline
from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask
from helpers import train_on_batch

TOKENIZER = dict(latent_channels=4, base_channels=8, channel_multipliers=[1, 2, 2], num_res_blocks=1, num_mid_blocks=1)
CODEC = dict(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=2, codebook_size=16,
             dilations=[1])
MODEL = dict(in_channels=4, hidden_size=32, num_layers=1, num_heads=2, text_hidden_size=384)


def test_audio_codes_change_the_prediction_and_a_dropped_sound_equals_none():
    torch.manual_seed(0)
    model = VideoDiffusionTransformer(**MODEL, num_audio_codebooks=2, audio_codebook_size=16).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(std=0.1)
    latents, text = torch.randn(2, 4, 2, 4, 4), torch.randn(2, 5, 384)
    codes = torch.randint(0, 16, (2, 2, 25))
    with torch.no_grad():
        plain = model(latents, torch.tensor([500.0, 500.0]), text).sample
        with_sound = model(latents, torch.tensor([500.0, 500.0]), text, audio_codes=codes).sample
        other_sound = model(latents, torch.tensor([500.0, 500.0]), text, audio_codes=(codes + 1) % 16).sample
        dropped = model(latents, torch.tensor([500.0, 500.0]), text, audio_codes=codes,
                        audio_mask=torch.tensor([False, True])).sample
    assert not torch.allclose(plain, with_sound) and not torch.allclose(with_sound, other_sound)
    assert torch.allclose(dropped[0], plain[0], atol=1e-5) and torch.allclose(dropped[1], with_sound[1], atol=1e-5)
    with pytest.raises(ValueError, match="audio_codes must lie"):
        model(latents, torch.tensor([500.0, 500.0]), text, audio_codes=codes + 16)
    # a model without audio has no audio parameters (old checkpoints load unchanged)
    assert not any("audio" in name for name, _ in VideoDiffusionTransformer(**MODEL).named_parameters())


def test_task_trains_with_sound_and_exports_a_pipeline_that_takes_audio(tmp_path):
    torch.manual_seed(0)
    data = DataConfig(num_samples=4, num_frames=5, height=16, width=16, audio_sample_rate=16000)
    task = DiffusionTask(dict(MODEL), DiffusionOptions(tokenizer_config=TOKENIZER, audio_codec_config=CODEC,
                                                       audio_dropout=0.5), data)
    model = task.build_model()
    assert model.config.num_audio_codebooks == 2 and model.config.audio_codebook_size == 16
    task.setup(torch.device("cpu"))
    batch = collate_videos([build_dataset(data)[index] for index in range(2)])
    losses, logs = train_on_batch(task, model, batch, torch.optim.AdamW(model.parameters(), lr=1e-3), steps=3)
    assert torch.isfinite(losses[-1]) and "audio_dropped" in logs
    assert model.audio_embedding.weight.grad is not None

    task.export(model.eval(), tmp_path / "dit")
    index = json.loads((tmp_path / "dit" / "model_index.json").read_text())
    assert index["audio_codec"][1] == "AudioCodec"
    pipe = GenVidDiffusionPipeline.from_pretrained(tmp_path / "dit")
    pipe.set_progress_bar_config(disable=True)
    options = dict(num_frames=5, height=16, width=16, num_inference_steps=2, output_type="pt")
    first = pipe("a red circle", audio=batch["audio"][0], generator=torch.Generator().manual_seed(0), **options)
    again = pipe("a red circle", audio=batch["audio"][0], generator=torch.Generator().manual_seed(0), **options)
    assert first.frames.shape == (1, 5, 3, 16, 16) and torch.equal(first.frames, again.frames)
    assert first.audio.shape == (1, 10000)
    silent = pipe("a red circle", generator=torch.Generator().manual_seed(0), **options)
    assert silent.audio is None


def test_a_pipeline_without_codec_refuses_audio_clearly(tmp_path):
    from diffusers import FlowMatchEulerDiscreteScheduler
    from tokenizer import VideoTokenizer

    from genvid.text import TextEncoder

    pipe = GenVidDiffusionPipeline(video_tokenizer=VideoTokenizer(**TOKENIZER).eval(), text_encoder=TextEncoder(),
                                   transformer=VideoDiffusionTransformer(**MODEL).eval(),
                                   scheduler=FlowMatchEulerDiscreteScheduler())
    pipe.save_pretrained(tmp_path / "plain")
    loaded = GenVidDiffusionPipeline.from_pretrained(tmp_path / "plain")
    assert loaded.audio_codec is None
    with pytest.raises(GenvidError, match="audio codec"):
        loaded("a", audio=torch.zeros(10000), num_frames=5, height=16, width=16, num_inference_steps=1)
