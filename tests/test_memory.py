"""Tokenizer tiling and slicing (and the pipelines' diffusers-named switches), int8 quantization."""

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from genvid.errors import GenvidError
from genvid.models.dit import VideoDiffusionTransformer
from genvid.pipelines.diffusion import GenVidDiffusionPipeline
from genvid.pipelines.memory import weight_bytes
from tokenizer import VideoTokenizer


def tiny_tokenizer():
    torch.manual_seed(0)
    return VideoTokenizer(bottleneck="gaussian", latent_channels=4, base_channels=8, channel_multipliers=(1, 2, 2),
                          num_res_blocks=1, num_mid_blocks=1).eval()


@pytest.fixture(scope="module")
def pipe():
    from genvid.text import TextEncoder

    torch.manual_seed(0)
    transformer = VideoDiffusionTransformer(in_channels=4, hidden_size=64, num_layers=2, num_heads=2, text_hidden_size=384)
    with torch.no_grad():  # open AdaLN-zero's gates so every layer shows in the output
        for parameter in transformer.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(std=0.1)
    pipeline = GenVidDiffusionPipeline(tiny_tokenizer(), TextEncoder(), transformer.eval(),
                                       FlowMatchEulerDiscreteScheduler())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_tiled_decode_is_close_to_whole_decode_and_blending_matters():
    tokenizer = tiny_tokenizer()
    latents = torch.randn(1, 4, 2, 24, 24, generator=torch.Generator().manual_seed(1))  # 5 x 96 x 96 pixels
    with torch.no_grad():
        whole = tokenizer.decode(latents)
        tokenizer.enable_tiling(tile_size=64, overlap=16)  # pixels: 8-latent tiles, 2 of them blended
        tiled = tokenizer.decode(latents)
        tokenizer.enable_tiling(tile_size=64, overlap=0)
        seams = tokenizer.decode(latents)
        tokenizer.disable_tiling()
        assert torch.equal(tokenizer.decode(latents), whole)
    error, seam_error = (tiled - whole).abs().mean(), (seams - whole).abs().mean()
    print(f"tiled decode: mean error {error:.4f} blended, {seam_error:.4f} without overlap; output std {whole.std():.3f}")
    # the stated tolerance: mean error under 12% of the output's spread (a random-weight decoder, whose
    # receptive field no overlap covers; measured 0.038 against a std of 0.40)
    assert tiled.shape == whole.shape and error < 0.12 * whole.std() and error < 0.7 * seam_error
    with pytest.raises(ValueError, match="multiples of 4"):
        tokenizer.enable_tiling(tile_size=50, overlap=16)


def test_sliced_encode_and_decode_equal_the_batched_ones():
    tokenizer = tiny_tokenizer()
    video = torch.rand(3, 3, 5, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        latents, decoded = tokenizer.encode(video), tokenizer.decode(tokenizer.encode(video))
        tokenizer.enable_slicing()
        torch.testing.assert_close(tokenizer.encode(video), latents, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(tokenizer.decode(latents), decoded, atol=1e-5, rtol=1e-5)


def test_pipelines_reach_tiling_and_slicing_by_diffusers_names(pipe):
    from genvid.pipelines.ar import GenVidARPipeline
    from genvid.pipelines.common import postprocess_video

    prompts = ["a red circle", "a blue square"]
    call = dict(num_frames=5, height=64, width=64, num_inference_steps=2, guidance_scale=1.0)
    latents = pipe(prompts, generator=torch.Generator().manual_seed(0), output_type="latent", **call).frames
    whole = pipe(prompts, generator=torch.Generator().manual_seed(0), output_type="pt", **call).frames
    pipe.enable_vae_tiling(tile_size=32, overlap=8)
    pipe.enable_vae_slicing()
    assert pipe.vae is pipe.video_tokenizer and pipe.vae.tiling == (32, 8) and pipe.vae.slicing
    tiled = pipe(prompts, generator=torch.Generator().manual_seed(0), output_type="pt", **call).frames
    with torch.no_grad():  # what the tokenizer itself gives, tiled, for the same latents
        expected = postprocess_video(pipe.vae.decode(pipe.vae.denormalize_latents(latents)), "pt")
    pipe.disable_vae_tiling()
    pipe.disable_vae_slicing()
    assert pipe.vae.tiling is None and not pipe.vae.slicing
    torch.testing.assert_close(tiled, expected)
    assert (tiled - whole).abs().max() > 1e-3  # the tiles were blended, not skipped
    with pytest.raises(GenvidError, match="multiples"):
        pipe.enable_vae_tiling(tile_size=30, overlap=8)
    for name in ("enable_vae_tiling", "disable_vae_tiling", "enable_vae_slicing", "disable_vae_slicing", "quantize"):
        assert callable(getattr(GenVidARPipeline, name))


def test_int8_transformer_is_close_to_float32_and_smaller(pipe):
    import copy

    pytest.importorskip("torchao")
    call = dict(num_frames=5, height=16, width=16, num_inference_steps=3, guidance_scale=2.0, output_type="pt")
    reference = pipe("a red circle moving left", generator=torch.Generator().manual_seed(0), **call).frames
    quantized = copy.deepcopy(pipe)
    before = weight_bytes(quantized.transformer)
    quantized.quantize("int8")
    after = weight_bytes(quantized.transformer)
    frames = quantized("a red circle moving left", generator=torch.Generator().manual_seed(0), **call).frames
    difference = (frames - reference).abs()
    print(f"transformer weights {before / 2**20:.3f} MiB -> {after / 2**20:.3f} MiB; max frame difference "
          f"{difference.max():.4f}")
    assert after < 0.45 * before  # measured 0.28 (linear weights at 1 byte, embeddings and norms float32)
    assert difference.mean() < 0.01 and difference.max() < 0.1
    with pytest.raises(GenvidError, match="quantization must be one of"):
        quantized.quantize("int3")
