import math

import pytest
import torch

from genvid.eval.metrics import codebook_usage, psnr, ssim


def videos(seed=0, shape=(2, 3, 4, 24, 24)):
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(shape, generator=generator) * 2 - 1
    # Smooth so SSIM has structure to compare.
    return torch.nn.functional.avg_pool3d(base, (1, 3, 3), stride=1, padding=(0, 1, 1))


def test_identical_videos():
    video = videos()
    assert math.isinf(float(psnr(video, video)))
    assert float(ssim(video, video)) == pytest.approx(1.0, abs=1e-5)
    assert psnr(video[0], video[0]).isinf()  # unbatched input too


def test_more_noise_scores_lower():
    video = videos()
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(video.shape, generator=generator)
    light, heavy = (video + 0.02 * noise).clamp(-1, 1), (video + 0.3 * noise).clamp(-1, 1)
    assert psnr(video, light) > psnr(video, heavy) > 5
    assert 1 > ssim(video, light) > ssim(video, heavy)
    # Known value: a constant error of 0.2 in [-1, 1] is 0.1 on [0, 1] -> 20 dB.
    assert float(psnr(video, video + 0.2)) == pytest.approx(20.0, abs=1e-3)


def test_per_sample_values():
    video = videos()
    other = video.clone()
    other[1] += 0.2
    values = psnr(video, other, reduction="none")
    assert values.shape == (2,) and values[0].isinf() and values[1] == pytest.approx(20.0, abs=1e-3)
    per_sample_ssim = ssim(video, other, reduction="none")
    assert per_sample_ssim[0] == pytest.approx(1.0, abs=1e-5) and per_sample_ssim[1] < 1
    small = videos(shape=(1, 3, 2, 6, 6))  # frames smaller than the 11-pixel window
    assert float(ssim(small, small)) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(video, video[:, :, :2])


def test_codebook_usage():
    fraction, perplexity = codebook_usage(torch.arange(16).repeat(4), 16)
    assert fraction == 1.0 and perplexity == pytest.approx(16.0)
    fraction, perplexity = codebook_usage(torch.zeros(10, dtype=torch.long), 8)
    assert fraction == 1 / 8 and perplexity == pytest.approx(1.0)
    fraction, perplexity = codebook_usage(torch.tensor([[0, 1], [0, 1]]), 4)
    assert fraction == 0.5 and perplexity == pytest.approx(2.0)
    with pytest.raises(ValueError):
        codebook_usage(torch.tensor([9]), 4)


def test_ssim_matches_scikit_image():
    # scikit-image's structural_similarity with the settings of Wang et al. (Gaussian window
    # sigma 1.5, population covariance) on each frame, averaged, is the reference.
    from skimage.metrics import structural_similarity

    reference = videos(seed=3, shape=(1, 3, 3, 32, 40))
    generator = torch.Generator().manual_seed(4)
    for degraded in (
        (reference + 0.1 * torch.randn(reference.shape, generator=generator)).clamp(-1, 1),
        torch.nn.functional.avg_pool3d(reference, (1, 5, 5), stride=1, padding=(0, 2, 2)),
        reference * 0.5 + 0.2,
    ):
        expected = []
        for frame in range(reference.shape[2]):
            a = ((reference[0, :, frame] + 1) / 2).permute(1, 2, 0).double().numpy()
            b = ((degraded[0, :, frame] + 1) / 2).permute(1, 2, 0).double().numpy()
            expected.append(structural_similarity(a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True,
                                                  sigma=1.5, use_sample_covariance=False))
        assert float(ssim(reference, degraded)) == pytest.approx(sum(expected) / len(expected), abs=1e-3)
