"""Residual vector quantization (SoundStream / EnCodec style) for the audio codec.

Each level quantizes what the previous levels left over, so the first ``n`` levels alone already
give a coarse reconstruction: trained with *quantizer dropout* (a random number of levels per
step), a codec decodes from any prefix of its codebooks.

Codebooks are updated either by an exponential moving average of the vectors assigned to each code
(``ema=True``: no codebook gradient, stable at tiny batch sizes) or by gradient through a codebook
loss (straight-through estimator, ``ema=False``). Both use a commitment loss that pulls the
encoder towards its codes. Codes that stop being used are re-seeded from the current batch, and
every codebook is initialised from the first batch it sees (random codes on a random-init encoder
would leave most of them dead from the start).

Note: the EMA statistics are per process; under DDP each rank keeps its own (they stay close
because the encoders are identical, and the shared weights are what the checkpoint saves).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (batch, dim, frames), straight-through in training
    codes: torch.Tensor  # (batch, levels used, frames) long
    commitment_loss: torch.Tensor
    codebook_loss: torch.Tensor  # zero with EMA codebooks
    perplexity: torch.Tensor  # mean over the levels used: how many codes are in use


class VectorQuantizer(nn.Module):
    """One codebook of ``codebook_size`` vectors of width ``dim``."""

    def __init__(self, dim: int, codebook_size: int, ema: bool = True, decay: float = 0.99, dead_code_threshold: float = 0.5):
        super().__init__()
        self.dim = dim
        self.codebook_size = codebook_size
        self.ema = ema
        self.decay = decay
        self.dead_code_threshold = dead_code_threshold
        embedding = torch.randn(codebook_size, dim) * dim**-0.5
        if ema:
            self.register_buffer("embedding", embedding)
            self.register_buffer("cluster_size", torch.ones(codebook_size))
            self.register_buffer("embedding_sum", embedding.clone())
        else:
            self.embedding = nn.Parameter(embedding)
        # 0 until the first training batch seeds the codebook (saved, so a loaded codec is not re-seeded)
        self.register_buffer("initialized", torch.zeros(()))

    def nearest(self, vectors: torch.Tensor) -> torch.Tensor:
        """``vectors (n, dim)`` -> code indices ``(n,)`` by Euclidean distance."""
        embedding = self.embedding.float()
        distances = (
            vectors.float().pow(2).sum(1, keepdim=True)
            - 2 * vectors.float() @ embedding.t()
            + embedding.pow(2).sum(1)[None]
        )
        return distances.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes (batch, frames)`` -> ``(batch, dim, frames)``."""
        return rearrange(F.embedding(codes, self.embedding), "b t d -> b d t")

    def _random_rows(self, vectors: torch.Tensor, count: int) -> torch.Tensor:
        # the generator-free draw is fine here: it only decides which batch vectors seed codes
        index = torch.randint(0, vectors.shape[0], (count,), device=vectors.device)
        return vectors[index]

    @torch.no_grad()
    def _initialize(self, vectors: torch.Tensor) -> None:
        seeds = self._random_rows(vectors, self.codebook_size).to(self.embedding.dtype)
        self.embedding.data.copy_(seeds)
        if self.ema:
            self.embedding_sum.copy_(seeds)
            self.cluster_size.fill_(1.0)
        self.initialized.fill_(1.0)

    @torch.no_grad()
    def _ema_update(self, vectors: torch.Tensor, codes: torch.Tensor) -> None:
        one_hot = F.one_hot(codes, self.codebook_size).to(vectors.dtype)
        self.cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        self.embedding_sum.mul_(self.decay).add_(one_hot.t() @ vectors, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        # Laplace smoothing keeps rarely used codes from dividing by ~0
        smoothed = (self.cluster_size + 1e-5) / (total + self.codebook_size * 1e-5) * total
        self.embedding.copy_(self.embedding_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead_codes(self, vectors: torch.Tensor) -> None:
        if self.ema:
            dead = self.cluster_size < self.dead_code_threshold
        else:
            return
        count = int(dead.sum())
        if count:
            seeds = self._random_rows(vectors, count)
            self.embedding[dead] = seeds
            self.embedding_sum[dead] = seeds
            self.cluster_size[dead] = 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x (batch, dim, frames)`` -> (quantized, codes, commitment loss, codebook loss)."""
        batch = x.shape[0]
        vectors = rearrange(x, "b d t -> (b t) d").float()
        if self.training and not bool(self.initialized):
            self._initialize(vectors.detach())
        codes = self.nearest(vectors)
        if self.training and self.ema:
            self._ema_update(vectors.detach(), codes)
            self._restart_dead_codes(vectors.detach())
        quantized = rearrange(F.embedding(codes, self.embedding), "(b t) d -> b d t", b=batch).to(x.dtype)
        commitment = F.mse_loss(x.float(), quantized.detach().float())
        codebook = x.new_zeros((), dtype=torch.float32) if self.ema else F.mse_loss(quantized.float(), x.detach().float())
        return quantized, rearrange(codes, "(b t) -> b t", b=batch), commitment, codebook


class ResidualVectorQuantizer(nn.Module):
    """``num_codebooks`` levels of :class:`VectorQuantizer`, each on the previous levels' residual."""

    def __init__(self, dim: int, num_codebooks: int, codebook_size: int, ema: bool = True, decay: float = 0.99):
        super().__init__()
        if num_codebooks < 1 or codebook_size < 2:
            raise ValueError(f"need num_codebooks >= 1 and codebook_size >= 2, got {num_codebooks} and {codebook_size}")
        self.num_codebooks = num_codebooks
        self.codebook_size = codebook_size
        self.levels = nn.ModuleList(VectorQuantizer(dim, codebook_size, ema, decay) for _ in range(num_codebooks))

    def _check_levels(self, num_codebooks: int | None) -> int:
        if num_codebooks is None:
            return self.num_codebooks
        if not 1 <= num_codebooks <= self.num_codebooks:
            raise ValueError(f"num_codebooks must be in [1, {self.num_codebooks}], got {num_codebooks}")
        return int(num_codebooks)

    def forward(self, x: torch.Tensor, num_codebooks: int | None = None) -> QuantizerOutput:
        """Quantize ``x (batch, dim, frames)`` with the first ``num_codebooks`` levels (all when None)."""
        used = self._check_levels(num_codebooks)
        residual = x
        quantized = torch.zeros_like(x)
        codes, commitment, codebook, perplexity = [], 0.0, 0.0, 0.0
        for level in self.levels[:used]:
            level_quantized, level_codes, level_commitment, level_codebook = level(residual)
            # straight-through per level: the next residual sees the exact quantized value
            residual = residual - level_quantized.detach()
            quantized = quantized + level_quantized
            codes.append(level_codes)
            commitment = commitment + level_commitment
            codebook = codebook + level_codebook
            counts = torch.bincount(level_codes.flatten(), minlength=self.codebook_size).float()
            probabilities = counts / counts.sum()
            perplexity = perplexity + torch.exp(-(probabilities * (probabilities + 1e-10).log()).sum())
        if torch.is_grad_enabled():
            quantized = x + (quantized - x).detach()
        return QuantizerOutput(
            quantized=quantized,
            codes=torch.stack(codes, dim=1),
            commitment_loss=commitment / used,
            codebook_loss=codebook / used,
            perplexity=perplexity / used,
        )

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes (batch, levels, frames)`` with 1..num_codebooks levels -> ``(batch, dim, frames)``."""
        if codes.ndim != 3:
            raise ValueError(f"codes must be (batch, num_codebooks, frames), got shape {tuple(codes.shape)}")
        used = self._check_levels(codes.shape[1])
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must be in [0, {self.codebook_size}), got [{int(codes.min())}, {int(codes.max())}]")
        total = 0
        for index in range(used):
            total = total + self.levels[index].lookup(codes[:, index].long())
        return total
