"""The Haar input / output stage (tokenizer.wavelet) and a tokenizer built with it."""

import pytest
import torch

from tokenizer import VideoTokenizer
from tokenizer.wavelet import haar_analysis, haar_synthesis


@pytest.mark.parametrize("levels", [1, 2])
def test_haar_is_exactly_invertible_and_keeps_energy(levels):
    video = torch.randn(2, 3, 5, 16, 24, generator=torch.Generator().manual_seed(0))
    coefficients = haar_analysis(video, levels)
    assert coefficients.shape == (2, 3 * 4**levels, 5, 16 // 2**levels, 24 // 2**levels)
    assert torch.allclose(haar_synthesis(coefficients, levels), video, atol=1e-6)
    assert torch.allclose(coefficients.pow(2).sum(), video.pow(2).sum(), rtol=1e-5)


def test_haar_separates_average_from_detail():
    flat = torch.full((1, 1, 1, 4, 4), 0.5)
    coefficients = haar_analysis(flat)
    assert torch.allclose(coefficients[:, 0], torch.ones(1, 1, 2, 2))  # 2x the block mean
    assert coefficients[:, 1:].abs().max() == 0  # no detail in a flat frame
    stripes = torch.tensor([1.0, -1.0]).repeat(4, 2).view(1, 1, 1, 4, 4)  # columns alternate
    assert coefficients.shape == haar_analysis(stripes).shape
    assert haar_analysis(stripes)[:, 1].abs().min() == 2 and haar_analysis(stripes)[:, [0, 2, 3]].abs().max() == 0


def test_haar_rejects_odd_frames():
    with pytest.raises(ValueError, match="multiples of 2"):
        haar_analysis(torch.zeros(1, 3, 1, 5, 4))
    with pytest.raises(ValueError, match="expects"):
        haar_synthesis(torch.zeros(1, 6, 1, 4, 4))


def _tokenizer(bottleneck="gaussian"):
    torch.manual_seed(0)
    return VideoTokenizer(bottleneck=bottleneck, base_channels=8, channel_multipliers=(1, 2, 2), num_res_blocks=1,
                          num_mid_blocks=1, norm_groups=4, cell_skip=True, wavelet_levels=1).eval()


@pytest.mark.parametrize("num_frames", [1, 5, 13])
def test_wavelet_tokenizer_shapes(num_frames):
    tokenizer = _tokenizer()
    assert tokenizer.spatial_factor == 8 and tokenizer.temporal_factor == 4
    video = torch.rand(1, 3, num_frames, 16, 24) * 2 - 1
    with torch.no_grad():
        latents = tokenizer.encode(video)
        assert latents.shape == (1, 16, 1 + (num_frames - 1) // 4, 2, 3)
        assert tokenizer.decode(latents).shape == video.shape


@pytest.mark.parametrize("bottleneck", ["gaussian", "fsq"])
def test_wavelet_tokenizer_chunked_equals_whole(bottleneck):
    tokenizer = _tokenizer(bottleneck)
    video = torch.rand(1, 3, 17, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        whole = tokenizer.encoder(video)  # one pass
        chunked = tokenizer.encode_moments(video, chunk_size=1)  # first frame, then 4 at a time
        assert torch.allclose(chunked, whole, atol=1e-5)
        latents = tokenizer.encode(video, chunk_size=1)
        assert torch.allclose(tokenizer.decode(latents, chunk_size=1), tokenizer.decoder(latents), atol=1e-5)


def test_wavelet_tokenizer_round_trips_through_save_pretrained(tmp_path):
    tokenizer = _tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = VideoTokenizer.from_pretrained(tmp_path).eval()
    assert loaded.config.wavelet_levels == 1
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.decode(loaded.encode(video)), tokenizer.decode(tokenizer.encode(video)))


def test_wavelet_levels_are_checked():
    with pytest.raises(ValueError, match="wavelet_levels"):
        VideoTokenizer(base_channels=8, channel_multipliers=(1, 2), wavelet_levels=-1)
    with pytest.raises(ValueError, match="spatial_compression=8 needs 3 channel_multipliers"):
        VideoTokenizer(base_channels=8, channel_multipliers=(1, 2), spatial_compression=8, wavelet_levels=1)
