"""The three bottlenecks between encoder and decoder.

Each takes the encoder output ``(B, C, t, h, w)`` and returns a :class:`BottleneckOutput` whose
``latents`` the decoder reads. Discrete ones also map latents to ids ``(B, t, h, w)`` and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .layers import FrameGroupNorm


@dataclass
class BottleneckOutput:
    latents: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    ids: torch.Tensor | None = None


class GaussianBottleneck(nn.Module):
    """Diagonal Gaussian posterior; the encoder predicts mean and log-variance per channel."""

    is_discrete = False

    def __init__(self, latent_channels: int):
        super().__init__()
        self.latent_channels = latent_channels
        self.input_channels = 2 * latent_channels

    def forward(self, moments: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None):
        mean, log_variance = moments.chunk(2, dim=1)
        log_variance = log_variance.clamp(-30.0, 20.0)
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            latents = mean + torch.exp(0.5 * log_variance) * noise
        else:
            latents = mean
        kl = 0.5 * (mean.float().pow(2) + log_variance.float().exp() - 1.0 - log_variance.float()).mean()
        return BottleneckOutput(latents=latents, losses={"kl": kl})


class FiniteScalarQuantizer(nn.Module):
    """FSQ (Mentzer et al. 2023): each channel bounded then rounded to one of ``levels[i]`` values.

    Latents are the rounded values rescaled into [-1, 1]; the id is the mixed-radix number of the
    per-channel level indices. No auxiliary loss; rounding passes gradients straight through.
    """

    is_discrete = True

    def __init__(self, levels: tuple[int, ...]):
        super().__init__()
        if any(level < 2 for level in levels):
            raise ValueError(f"fsq_levels must all be >= 2, got {list(levels)}")
        self.levels = tuple(int(level) for level in levels)
        self.latent_channels = len(self.levels)
        self.input_channels = self.latent_channels
        self.codebook_size = math.prod(self.levels)
        self.register_buffer("_levels", torch.tensor(self.levels, dtype=torch.float32), persistent=False)
        basis = [math.prod(self.levels[:i]) for i in range(len(self.levels))]
        self.register_buffer("_basis", torch.tensor(basis, dtype=torch.long), persistent=False)

    def _shape(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.view(1, -1, 1, 1, 1)

    def forward(self, z: torch.Tensor, **_) -> BottleneckOutput:
        dtype, z = z.dtype, z.float()  # rounding boundaries need fp32 under bf16 autocast
        levels = self._shape(self._levels)
        # Bound so that rounding gives exactly ``levels`` values; even level counts sit half a step off zero.
        half = (levels - 1) * (1 - 1e-3) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        bounded = torch.tanh(z + shift) * half - offset
        rounded = bounded + (torch.round(bounded) - bounded).detach()
        latents = rounded / (levels // 2)
        return BottleneckOutput(latents=latents.to(dtype), ids=self.latents_to_ids(latents.detach()))

    def latents_to_ids(self, latents: torch.Tensor) -> torch.Tensor:
        levels = self._shape(self._levels)
        indices = torch.round(latents.float() * (levels // 2) + levels // 2)
        # Latents from a generator (the DiT) may fall off the grid: snap to the nearest level.
        indices = torch.minimum(indices.clamp_min(0), levels - 1).long()
        return (indices * self._shape(self._basis)).sum(dim=1)

    def ids_to_latents(self, ids: torch.Tensor) -> torch.Tensor:
        levels = self._levels.long()
        indices = (ids.unsqueeze(1) // self._shape(self._basis)) % self._shape(levels)
        half_width = self._shape(self._levels // 2)
        return (indices.float() - half_width) / half_width


class LookupFreeQuantizer(nn.Module):
    """LFQ (MAGVIT-v2): each of ``num_bits`` channels becomes its sign, so the codebook is
    ``{-1, 1}^num_bits`` with ``2**num_bits`` entries and no lookup table.

    Losses: commitment (encoder output towards its code) and entropy: per-position entropy
    down (confident codes), entropy of the batch-mean code distribution up (use the codebook).
    Both entropies are means over positions, never sums. A per-frame GroupNorm without affine
    centres each channel so both signs are reachable from the start.
    """

    is_discrete = True
    #: above this many bits the batch codebook entropy uses independent bits (an upper bound)
    exact_entropy_max_bits = 12

    def __init__(self, num_bits: int, entropy_temperature: float = 1.0):
        super().__init__()
        if not 1 <= num_bits <= 30:
            raise ValueError(f"lfq needs 1..30 bits (latent_channels), got {num_bits}")
        self.num_bits = num_bits
        self.latent_channels = num_bits
        self.input_channels = num_bits
        self.codebook_size = 2**num_bits
        self.entropy_temperature = entropy_temperature
        self.norm = FrameGroupNorm(1, num_bits, eps=1e-6, affine=False)
        self.register_buffer("_powers", 2 ** torch.arange(num_bits), persistent=False)

    def forward(self, z: torch.Tensor, **_) -> BottleneckOutput:
        dtype = z.dtype
        z = self.norm(z.float())
        codes = torch.where(z > 0, 1.0, -1.0)
        latents = (z + (codes - z).detach()).to(dtype)
        commitment = F.mse_loss(z.float(), codes.float())
        per_sample_entropy, codebook_entropy = self.entropies(z)
        losses = {
            "commitment": commitment,
            "per_sample_entropy": per_sample_entropy,
            "codebook_entropy": codebook_entropy,
        }
        return BottleneckOutput(latents=latents, losses=losses, ids=self.latents_to_ids(codes))

    def entropies(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean per-position entropy, entropy of the mean code distribution), in nats.

        The soft code distribution ``softmax(-|z - c|^2 / T)`` factorises over bits into
        ``p(bit_i = +1) = sigmoid(4 z_i / T)``.
        """
        flat = rearrange(z.float(), "b c t h w -> (b t h w) c")
        probability_one = torch.sigmoid(4.0 * flat / self.entropy_temperature)
        per_sample = _binary_entropy(probability_one).sum(dim=1).mean()
        if self.num_bits <= self.exact_entropy_max_bits:
            bits = ((torch.arange(self.codebook_size, device=z.device)[:, None] >> torch.arange(self.num_bits, device=z.device)) & 1).float()
            log_one = F.logsigmoid(4.0 * flat / self.entropy_temperature)
            log_zero = F.logsigmoid(-4.0 * flat / self.entropy_temperature)
            log_codes = log_one @ bits.T + log_zero @ (1 - bits).T  # (positions, codebook)
            mean_distribution = log_codes.exp().mean(dim=0)
            codebook = -(mean_distribution * (mean_distribution + 1e-10).log()).sum()
        else:
            codebook = _binary_entropy(probability_one.mean(dim=0)).sum()
        return per_sample, codebook

    def latents_to_ids(self, latents: torch.Tensor) -> torch.Tensor:
        bits = (latents > 0).long()
        return (bits * self._powers.view(1, -1, 1, 1, 1)).sum(dim=1)

    def ids_to_latents(self, ids: torch.Tensor) -> torch.Tensor:
        bits = (ids.unsqueeze(1) >> torch.arange(self.num_bits, device=ids.device).view(1, -1, 1, 1, 1)) & 1
        return bits.float() * 2 - 1


def _binary_entropy(probability: torch.Tensor) -> torch.Tensor:
    probability = probability.clamp(1e-7, 1 - 1e-7)
    return -(probability * probability.log() + (1 - probability) * (1 - probability).log())


def codebook_statistics(ids: torch.Tensor, codebook_size: int) -> dict[str, float]:
    """Fraction of the codebook used in ``ids`` and the perplexity of their histogram."""
    counts = torch.unique(ids.detach().flatten(), return_counts=True)[1].float()
    probabilities = counts / counts.sum()
    entropy = -(probabilities * probabilities.log()).sum()
    return {
        "codebook_usage": counts.numel() / codebook_size,
        "codebook_perplexity": float(entropy.exp()),
    }
