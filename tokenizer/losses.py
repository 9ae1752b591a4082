"""Loss terms for training the tokenizer: reconstruction, perceptual, GAN (hinge), LeCam, adaptive weight."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def reconstruction_loss(reconstruction: torch.Tensor, target: torch.Tensor, l1_weight: float = 1.0,
                        l2_weight: float = 0.0) -> torch.Tensor:
    reconstruction, target = reconstruction.float(), target.float()
    loss = l1_weight * (reconstruction - target).abs().mean()
    if l2_weight:
        loss = loss + l2_weight * (reconstruction - target).pow(2).mean()
    return loss


class PerceptualLoss(nn.Module):
    """Feature-space distance through a frozen network ``features(frames) -> list of tensors``.

    ``frames`` are ``(N, 3, H, W)`` in [-1, 1]; every frame of the clip is compared. No network
    ships with genvid: the training task loads one from a user-given path.
    """

    def __init__(self, feature_network: Callable[[torch.Tensor], list[torch.Tensor]]):
        super().__init__()
        self.feature_network = feature_network
        if isinstance(feature_network, nn.Module):
            feature_network.requires_grad_(False).eval()

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fake = self.feature_network(rearrange(reconstruction, "b c t h w -> (b t) c h w"))
        with torch.no_grad():
            real = self.feature_network(rearrange(target, "b c t h w -> (b t) c h w"))
        total = reconstruction.new_zeros((), dtype=torch.float32)
        for fake_features, real_features in zip(fake, real):
            # unit-normalise channels so every layer counts about equally (as LPIPS does)
            fake_features = F.normalize(fake_features.float(), dim=1)
            real_features = F.normalize(real_features.float(), dim=1)
            total = total + (fake_features - real_features).pow(2).sum(dim=1).mean()
        return total / max(len(fake), 1)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean())


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.float().mean()


def lecam_regularization(real_logits: torch.Tensor, fake_logits: torch.Tensor, ema_real: torch.Tensor,
                         ema_fake: torch.Tensor) -> torch.Tensor:
    """LeCam (Tseng et al. 2021): keeps the discriminator's predictions near their running means
    of the other side, which stabilises GANs trained on little data."""
    return F.relu(real_logits.float() - ema_fake).pow(2).mean() + F.relu(ema_real - fake_logits.float()).pow(2).mean()


def adaptive_weight(reconstruction_term: torch.Tensor, generator_term: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4) -> torch.Tensor:
    """VQGAN's balance: ``|grad rec| / |grad gan|`` at the decoder's last layer, so the GAN term
    never dominates the reconstruction however large its raw gradients are."""
    if not (reconstruction_term.requires_grad and generator_term.requires_grad and torch.is_grad_enabled()):
        return torch.ones((), device=generator_term.device)
    reconstruction_grad = torch.autograd.grad(reconstruction_term, last_layer, retain_graph=True)[0]
    generator_grad = torch.autograd.grad(generator_term, last_layer, retain_graph=True)[0]
    weight = reconstruction_grad.norm() / (generator_grad.norm() + 1e-4)
    return weight.clamp(0.0, max_weight).detach()
