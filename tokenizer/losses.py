"""Loss terms for training the tokenizer: reconstruction, GAN (hinge), LeCam, adaptive weight."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def foreground_weights(target: torch.Tensor, foreground_weight: float, threshold: float = 0.2) -> torch.Tensor:
    """Per-pixel loss weights ``(B, 1, T, H, W)``: 1, plus ``foreground_weight`` where a pixel differs
    from its frame's median colour by more than ``threshold`` (on the [-1, 1] scale, any channel).

    On small objects over a plain background the background dominates a plain mean and a young
    model pays for an object's colour with a few percent of its loss; the weight restores the balance.
    On busy real footage most pixels count as foreground and the weighting is close to uniform."""
    with torch.no_grad():
        frames = target.flatten(3)  # (B, C, T, H*W)
        background = frames.median(dim=-1).values[..., None, None]
        differs = (target - background).abs().amax(dim=1, keepdim=True) > threshold
        weights = 1.0 + foreground_weight * differs.float()
        return weights / weights.mean(dim=(2, 3, 4), keepdim=True)


def reconstruction_loss(reconstruction: torch.Tensor, target: torch.Tensor, l1_weight: float = 1.0,
                        l2_weight: float = 0.0, foreground_weight: float = 0.0) -> torch.Tensor:
    """``l1 * |x - y| + l2 * (x - y)^2`` averaged over pixels, optionally weighted towards the
    foreground (:func:`foreground_weights`, normalised so the mean weight stays 1 per clip)."""
    reconstruction, target = reconstruction.float(), target.float()
    error = reconstruction - target
    weights = foreground_weights(target, foreground_weight) if foreground_weight > 0 else None

    def weighted_mean(values: torch.Tensor) -> torch.Tensor:
        return (values * weights).mean() if weights is not None else values.mean()

    loss = l1_weight * weighted_mean(error.abs())
    if l2_weight:
        loss = loss + l2_weight * weighted_mean(error.pow(2))
    return loss


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
