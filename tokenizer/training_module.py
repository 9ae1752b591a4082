"""One module, one loss: the tokenizer and its discriminator trained by a single optimizer.

``forward`` returns ``generator loss + discriminator loss``. The two never leak into each other:

* the generator's adversarial term runs the discriminator through ``torch.func.functional_call``
  with detached parameters, so its gradient reaches the tokenizer but not the discriminator;
* the discriminator's hinge and LeCam terms read detached reconstructions, so their gradient
  reaches the discriminator but not the tokenizer.

Summing is then the same as two optimizers stepping on the same batch (with one learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from .bottlenecks import codebook_statistics
from .discriminator import PatchDiscriminator3d
from .losses import (
    adaptive_weight,
    hinge_discriminator_loss,
    hinge_generator_loss,
    lecam_regularization,
    reconstruction_loss,
)
from .model import VideoTokenizer


@dataclass
class LossWeights:
    l1: float = 1.0
    l2: float = 0.0
    #: extra weight on pixels that differ from their frame's median colour (0 = plain mean)
    foreground: float = 0.0
    kl: float = 1e-6
    commitment: float = 0.25
    entropy: float = 0.1
    #: LFQ: the entropy weight starts here and falls linearly to ``entropy`` over the anneal steps
    entropy_start: float | None = None
    entropy_anneal_steps: int = 0
    #: weight of the batch codebook entropy inside the entropy term (raised, hence subtracted)
    codebook_entropy: float = 1.0
    adversarial: float = 0.1
    discriminator: float = 1.0
    lecam: float = 0.001
    discriminator_start_step: int = 10_000
    adaptive_adversarial_weight: bool = True
    lecam_decay: float = 0.999


class TokenizerTrainingModule(nn.Module):
    def __init__(self, tokenizer: VideoTokenizer, discriminator: PatchDiscriminator3d | None, weights: LossWeights):
        super().__init__()
        self.tokenizer = tokenizer
        self.discriminator = discriminator
        self.weights = weights
        self.register_buffer("ema_real_logits", torch.zeros(()))
        self.register_buffer("ema_fake_logits", torch.zeros(()))

    def enable_gradient_checkpointing(self) -> None:
        self.tokenizer.enable_gradient_checkpointing()

    def discriminator_active(self, step: int) -> bool:
        return self.discriminator is not None and step >= self.weights.discriminator_start_step

    def forward(self, video: torch.Tensor, step: int = 0, generator: torch.Generator | None = None):
        """The whole loss of one batch."""
        weights = self.weights
        out = self.tokenizer(video, sample_posterior=True, generator=generator)
        reconstruction, bottleneck_losses, ids = out.reconstruction, out.losses, out.ids
        logs: dict[str, float] = {}

        rec = reconstruction_loss(reconstruction, video, weights.l1, weights.l2, weights.foreground)
        logs["reconstruction"] = float(rec.detach())
        total = rec + self._bottleneck_terms(bottleneck_losses, logs, step)

        if self.discriminator_active(step):
            fake_logits = functional_call(
                self.discriminator,
                {name: parameter.detach() for name, parameter in self.discriminator.named_parameters()},
                (reconstruction,),
            )
            generator_term = hinge_generator_loss(fake_logits)
            balance = (
                adaptive_weight(rec, generator_term, self.tokenizer.last_layer)
                if weights.adaptive_adversarial_weight else torch.ones((), device=video.device)
            )
            total = total + weights.adversarial * balance * generator_term
            discriminator_term = self._discriminator_terms(video, reconstruction, logs)
            total = total + weights.discriminator * discriminator_term
            logs.update(generator_adversarial=float(generator_term.detach()), adaptive_weight=float(balance))
        elif self.discriminator is not None:
            # touch the idle discriminator with a zero term: DDP expects a gradient for every parameter
            total = total + 0.0 * sum(parameter.sum() for parameter in self.discriminator.parameters())

        if ids is not None:
            logs.update(codebook_statistics(ids, self.tokenizer.codebook_size))
        return total, logs

    def entropy_weight(self, step: int) -> float:
        weights = self.weights
        if weights.entropy_start is None or weights.entropy_anneal_steps <= 0:
            return weights.entropy
        progress = min(step / weights.entropy_anneal_steps, 1.0)
        return weights.entropy_start + (weights.entropy - weights.entropy_start) * progress

    def _bottleneck_terms(self, losses: dict[str, torch.Tensor], logs: dict[str, float], step: int) -> torch.Tensor:
        weights = self.weights
        total = torch.zeros((), device=next(iter(losses.values())).device) if losses else 0.0
        if "kl" in losses:
            total = total + weights.kl * losses["kl"]
        if "commitment" in losses:
            total = total + weights.commitment * losses["commitment"]
        if "per_sample_entropy" in losses:
            entropy = losses["per_sample_entropy"] - weights.codebook_entropy * losses["codebook_entropy"]
            total = total + self.entropy_weight(step) * entropy
        logs.update({name: float(value.detach()) for name, value in losses.items()})
        return total

    def _discriminator_terms(self, video: torch.Tensor, reconstruction: torch.Tensor,
                             logs: dict[str, float]) -> torch.Tensor:
        real_logits = self.discriminator(video.detach())
        fake_logits = self.discriminator(reconstruction.detach())
        hinge = hinge_discriminator_loss(real_logits, fake_logits)
        term = hinge
        if self.weights.lecam > 0:
            lecam = lecam_regularization(real_logits, fake_logits, self.ema_real_logits, self.ema_fake_logits)
            term = term + self.weights.lecam * lecam
            logs["lecam"] = float(lecam.detach())
        if self.training:
            with torch.no_grad():
                decay = self.weights.lecam_decay
                self.ema_real_logits.mul_(decay).add_((1 - decay) * real_logits.float().mean())
                self.ema_fake_logits.mul_(decay).add_((1 - decay) * fake_logits.float().mean())
        logs.update(discriminator_hinge=float(hinge.detach()),
                    logits_real=float(real_logits.detach().float().mean()),
                    logits_fake=float(fake_logits.detach().float().mean()))
        return term
