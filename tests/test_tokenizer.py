"""VideoTokenizer API: shapes, causality, chunked == whole, save/load, clear errors."""

import pytest
import torch

from tokenizer import VideoTokenizer

TINY = dict(base_channels=8, channel_multipliers=(1, 2, 2, 4), num_res_blocks=1, num_mid_blocks=1)


def tiny(bottleneck="gaussian", **overrides):
    torch.manual_seed(0)
    extra = {"latent_channels": 6} if bottleneck == "lfq" else {}
    return VideoTokenizer(bottleneck=bottleneck, **{**TINY, **extra, **overrides}).eval()


def clip(num_frames=9, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, num_frames, size, size, generator=generator) * 2 - 1


@pytest.mark.parametrize("bottleneck", ["gaussian", "fsq", "lfq"])
def test_shapes_and_round_trip_shapes(bottleneck):
    tokenizer = tiny(bottleneck)
    video = clip()
    with torch.no_grad():
        latents = tokenizer.encode(video)
        assert latents.shape == (1, tokenizer.latent_channels, 3, 4, 4)
        assert tokenizer.decode(latents).shape == video.shape
        if tokenizer.is_discrete:
            ids = tokenizer.tokenize(video)
            assert ids.shape == (1, 3, 4, 4) and ids.dtype == torch.long
            assert 0 <= int(ids.min()) and int(ids.max()) < tokenizer.codebook_size
            assert torch.equal(tokenizer.ids_to_latents(ids), latents)
            assert tokenizer.detokenize(ids).shape == video.shape
    assert tokenizer.latent_shape(17, 64, 48) == (5, 8, 6)
    assert tokenizer.num_frames_for(5) == 17


def test_codebook_sizes():
    assert tiny("fsq", fsq_levels=(8, 5, 5)).codebook_size == 200
    assert tiny("lfq", latent_channels=10).codebook_size == 1024
    with pytest.raises(ValueError, match="continuous"):
        tiny("gaussian").codebook_size
    with pytest.raises(ValueError, match="discrete"):
        tiny("gaussian").tokenize(clip())


def test_image_is_a_one_frame_video():
    tokenizer = tiny("fsq")
    image = clip(num_frames=1)
    with torch.no_grad():
        latents = tokenizer.encode(image)
        assert latents.shape[2] == 1
        assert tokenizer.decode(latents).shape == image.shape
        # the first frame of a clip is encoded alone: same latent as the image on its own
        video = torch.cat([image, clip(num_frames=4, seed=1)], dim=2)
        assert torch.allclose(tokenizer.encode(video)[:, :, :1], latents, atol=1e-5)


@pytest.mark.parametrize("bottleneck,cell_skip", [("gaussian", False), ("lfq", False), ("gaussian", True)])
def test_encoder_and_decoder_are_causal(bottleneck, cell_skip):
    tokenizer = tiny(bottleneck, cell_skip=cell_skip)
    video = clip(num_frames=13)
    with torch.no_grad():
        latents = tokenizer.encode_moments(video)
        for changed_frame in (1, 5, 9):
            edited = video.clone()
            edited[:, :, changed_frame:] = torch.rand_like(edited[:, :, changed_frame:])
            latent_frame = (changed_frame + 3) // 4  # first latent frame that sees the edit
            edited_latents = tokenizer.encode_moments(edited)
            assert torch.allclose(edited_latents[:, :, :latent_frame], latents[:, :, :latent_frame], atol=1e-6)
            assert not torch.allclose(edited_latents[:, :, latent_frame], latents[:, :, latent_frame])
        decoded = tokenizer.decode(tokenizer.encode(video))
        edited_latents = tokenizer.encode(video).clone()
        edited_latents[:, :, 2:] += 1.0
        edited_decoded = tokenizer.decode(edited_latents)
        first_changed_frame = tokenizer.num_frames_for(2)  # frames 5.. come from latent frame 2
        assert torch.allclose(decoded[:, :, :first_changed_frame], edited_decoded[:, :, :first_changed_frame], atol=1e-6)
        assert not torch.allclose(decoded[:, :, first_changed_frame], edited_decoded[:, :, first_changed_frame])


@pytest.mark.parametrize("bottleneck,cell_skip", [("gaussian", False), ("fsq", False), ("fsq", True)])
def test_chunked_equals_whole(bottleneck, cell_skip):
    tokenizer = tiny(bottleneck, cell_skip=cell_skip)
    video = clip(num_frames=17)
    with torch.no_grad():
        whole = tokenizer.encode_moments(video, chunk_size=5)
        for chunk_size in (1, 2, 3):
            assert (tokenizer.encode_moments(video, chunk_size=chunk_size) - whole).abs().max() <= 1e-4
        latents = tokenizer.encode(video, chunk_size=5)
        decoded = tokenizer.decode(latents, chunk_size=5)
        for chunk_size in (1, 2):
            assert (tokenizer.decode(latents, chunk_size=chunk_size) - decoded).abs().max() <= 1e-4
        # the default for a long clip streams; it must still match
        long_video = clip(num_frames=29)
        assert (tokenizer.encode_moments(long_video) - tokenizer.encode_moments(long_video, chunk_size=7)).abs().max() <= 1e-4


def test_save_load_identical(tmp_path):
    tokenizer = tiny("lfq", latent_mean=[0.1] * 6, latent_std=2.0)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = VideoTokenizer.from_pretrained(tmp_path).eval()
    video = clip()
    with torch.no_grad():
        assert torch.equal(tokenizer.tokenize(video), loaded.tokenize(video))
        assert torch.equal(tokenizer.decode(tokenizer.encode(video)), loaded.decode(loaded.encode(video)))
    assert loaded.config.latent_mean == [0.1] * 6 and loaded.config.latent_std == 2.0


def test_latent_normalization_round_trip():
    tokenizer = tiny("gaussian", latent_mean=0.5, latent_std=[2.0] * 16)
    latents = torch.randn(2, 16, 3, 4, 4)
    normalized = tokenizer.normalize_latents(latents)
    assert torch.allclose(normalized, (latents - 0.5) / 2.0)
    assert torch.allclose(tokenizer.denormalize_latents(normalized), latents, atol=1e-6)
    tokenizer.set_latent_statistics(torch.zeros(16), torch.ones(16))
    assert torch.allclose(tokenizer.normalize_latents(latents), latents)


@pytest.mark.parametrize(
    "shape, message",
    [((1, 3, 8, 32, 32), "1 \\+ 4k frames"), ((1, 3, 9, 30, 32), "multiples of 8"), ((3, 9, 32, 32), "B, C, T, H, W"),
     ((1, 4, 9, 32, 32), "channels")],
)
def test_bad_shapes_give_one_line_errors(shape, message):
    tokenizer = tiny("fsq")
    with pytest.raises(ValueError, match=message) as error:
        tokenizer.encode(torch.zeros(shape))
    assert "\n" not in str(error.value)


def test_bad_ids_and_latents():
    tokenizer = tiny("fsq", fsq_levels=(4, 4))
    with pytest.raises(ValueError, match="ids must lie"):
        tokenizer.detokenize(torch.full((1, 2, 4, 4), 16))
    with pytest.raises(ValueError, match="latents must be"):
        tokenizer.decode(torch.zeros(1, 3, 2, 4, 4))


def test_spatial_compression_16_and_tiling():
    tokenizer = tiny("gaussian", channel_multipliers=(1, 1, 2, 2, 4), spatial_compression=16)
    video = clip(num_frames=5, size=64)
    with torch.no_grad():
        latents = tokenizer.encode(video)
        assert latents.shape[-2:] == (4, 4)
        tiled = tokenizer.encode(video, tile_size=32, tile_overlap=16)
        assert tiled.shape == latents.shape
        decoded = tokenizer.decode(latents, tile_size=2, tile_overlap=1)
        assert decoded.shape == video.shape
    with pytest.raises(ValueError, match="channel_multipliers"):
        tiny("gaussian", spatial_compression=16)


def test_channels_last_gives_the_same_result():
    tokenizer = tiny("gaussian")
    video = clip(num_frames=9)
    with torch.no_grad():
        latents = tokenizer.encode(video)
        decoded = tokenizer.decode(latents)
        tokenizer.to_channels_last()
        assert torch.allclose(tokenizer.encode(video), latents, atol=1e-4)
        assert torch.allclose(tokenizer.encode(video, chunk_size=1), latents, atol=1e-4)
        assert torch.allclose(tokenizer.decode(latents), decoded, atol=1e-4)


def test_cell_skip_is_the_cell_mean_projected_and_repeated_back():
    from tokenizer.layers import CellExpand, CellMean

    video = torch.randn(2, 3, 9, 16, 16)
    mean = CellMean(3, 3, spatial=8, temporal=4)
    expand = CellExpand(3, 3, spatial=8, temporal=4)
    for layer in (mean, expand):  # identity projections
        torch.nn.init.eye_(layer.proj.weight.view(3, 3))
        torch.nn.init.zeros_(layer.proj.bias)
    cells = mean(video)
    assert cells.shape == (2, 3, 3, 2, 2)
    torch.testing.assert_close(cells[:, :, 0, 1, 0], video[:, :, 0, 8:, :8].mean(dim=(-1, -2)))
    torch.testing.assert_close(cells[:, :, 2, 0, 1], video[:, :, 5:9, :8, 8:].mean(dim=(-1, -2, -3)))
    back = expand(cells)
    assert back.shape == video.shape
    torch.testing.assert_close(back[:, :, 6, 3, 12], cells[:, :, 2, 0, 1])
    # a video that is constant over every cell comes back exactly
    torch.testing.assert_close(expand(mean(back)), back)
