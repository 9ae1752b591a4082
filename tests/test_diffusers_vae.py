"""A diffusers video VAE as the DiT's continuous tokenizer: small random-weight AutoencoderKLWan and
AutoencoderKLCogVideoX folders train a tiny DiT end to end, and the pipeline round-trips them."""

import json

import pytest
import torch
from diffusers import AutoencoderKLCogVideoX, AutoencoderKLWan

from genvid.config import load_config
from genvid.pipelines.diffusion import GenVidDiffusionPipeline
from genvid.training.loop import train
from tokenizer import DiffusersVideoAutoencoder


def small_vae(kind: str):
    torch.manual_seed(0)
    if kind == "wan":
        return AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1, attn_scales=[],
                                temperal_downsample=[False, True], latents_mean=[0.1, -0.2, 0.0, 0.3],
                                latents_std=[1.5, 0.5, 1.0, 2.0])
    return AutoencoderKLCogVideoX(block_out_channels=(8, 16, 16), latent_channels=4, layers_per_block=1,
                                  norm_num_groups=4, temporal_compression_ratio=2, scaling_factor=0.7,
                                  down_block_types=("CogVideoXDownBlock3D",) * 3,
                                  up_block_types=("CogVideoXUpBlock3D",) * 3)


@pytest.mark.parametrize("kind", ["wan", "cogvideox"])
def test_a_diffusers_vae_trains_a_dit_and_round_trips_in_the_pipeline(kind, tmp_path):
    vae = small_vae(kind).eval()
    vae.save_pretrained(tmp_path / "vae")
    wrapped = DiffusersVideoAutoencoder.from_vae_folder(tmp_path / "vae")
    assert (wrapped.spatial_factor, wrapped.temporal_factor) == (4, 2)
    expected_std = [1.5, 0.5, 1.0, 2.0] if kind == "wan" else [1 / 0.7] * 4
    torch.testing.assert_close(torch.tensor(wrapped.config.latent_std), torch.tensor(expected_std))
    video = torch.rand(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        latents = wrapped.encode(video)
        assert latents.shape == (1, 4, 3, 4, 4)
        torch.testing.assert_close(latents, vae.encode(video).latent_dist.mode())
        torch.testing.assert_close(wrapped.denormalize_latents(wrapped.normalize_latents(latents)), latents)

    config = {
        "task": "dit",
        "model": {"in_channels": 4, "hidden_size": 32, "num_layers": 1, "num_heads": 2, "text_hidden_size": 384},
        "data": {"source": "synthetic", "num_samples": 4, "num_frames": 5, "height": 16, "width": 16},
        "task_options": {"tokenizer": str(tmp_path / "vae"), "text_dropout": 0.0},
        "training": {"output_dir": str(tmp_path / "run"), "max_steps": 20, "batch_size": 4, "learning_rate": 3e-3,
                     "warmup_steps": 0, "lr_schedule": "constant", "log_every": 1, "checkpoint_every": 0,
                     "report_to": "none"},
    }
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    train(load_config(tmp_path / "config.yaml"))
    curve = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sum(curve[-5:]) < sum(curve[:5])

    index = json.loads((tmp_path / "run" / "final" / "model_index.json").read_text())
    assert index["video_tokenizer"] == ["tokenizer.diffusers_vae", "DiffusersVideoAutoencoder"]
    pipeline = GenVidDiffusionPipeline.from_pretrained(tmp_path / "run" / "final")
    pipeline.set_progress_bar_config(disable=True)
    assert type(pipeline.vae.vae).__name__ == type(vae).__name__
    call = dict(num_frames=5, height=16, width=16, num_inference_steps=2, output_type="pt")
    first = pipeline("a red circle", generator=torch.Generator().manual_seed(0), **call).frames
    pipeline.save_pretrained(tmp_path / "again")
    again = GenVidDiffusionPipeline.from_pretrained(tmp_path / "again")
    again.set_progress_bar_config(disable=True)
    torch.testing.assert_close(again("a red circle", generator=torch.Generator().manual_seed(0), **call).frames, first)
    for name, tensor in vae.state_dict().items():
        assert torch.equal(again.vae.vae.state_dict()[name], tensor), name
