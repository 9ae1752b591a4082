"""The DiT on a discrete (FSQ) tokenizer's quantized latents: one tokenizer for both generators."""

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from genvid.pipelines.diffusion import GenVidDiffusionPipeline
from test_dit_pipeline import SIZE, tiny_transformer


def fsq_tokenizer():
    from tokenizer import VideoTokenizer

    torch.manual_seed(0)
    return VideoTokenizer(
        bottleneck="fsq", fsq_levels=[8, 5, 5, 5], base_channels=8, channel_multipliers=(1, 2, 2),
        num_res_blocks=1, num_mid_blocks=1,
    ).eval()


def test_off_grid_latents_snap_to_valid_ids():
    tokenizer = fsq_tokenizer()
    latents = torch.randn(2, 4, 2, 4, 4) * 3  # far outside the grid
    ids = tokenizer.latents_to_ids(latents)
    assert int(ids.min()) >= 0 and int(ids.max()) < tokenizer.codebook_size
    snapped = tokenizer.ids_to_latents(ids)
    assert torch.equal(tokenizer.ids_to_latents(tokenizer.latents_to_ids(snapped)), snapped)


def test_pipeline_decodes_generated_latents_on_the_fsq_grid():
    from genvid.text import TextEncoder

    tokenizer = fsq_tokenizer()
    pipeline = GenVidDiffusionPipeline(
        video_tokenizer=tokenizer, text_encoder=TextEncoder(), transformer=tiny_transformer(),
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
    pipeline.set_progress_bar_config(disable=True)
    options = dict(SIZE, num_inference_steps=2, guidance_scale=1.0)
    latents = pipeline("a red circle", generator=torch.Generator().manual_seed(0), output_type="latent", **options).frames
    video = pipeline("a red circle", generator=torch.Generator().manual_seed(0), output_type="pt", **options).frames
    with torch.no_grad():
        grid = tokenizer.ids_to_latents(tokenizer.latents_to_ids(tokenizer.denormalize_latents(latents)))
        expected = (tokenizer.decode(grid).clamp(-1, 1) + 1) / 2
    torch.testing.assert_close(video, expected.permute(0, 2, 1, 3, 4), atol=1e-5, rtol=1e-5)
