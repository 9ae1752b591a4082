"""``task_options:`` shared by the tasks that train an autoencoder beside an optional discriminator
(the video tokenizer, the audio codec): whether there is one, how wide it is, when it joins."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DiscriminatorOptions:
    #: train a discriminator beside the model and add the generator's adversarial term to the loss
    use_discriminator: bool = False
    #: the discriminator's base width
    discriminator_channels: int = 16
    #: the step from which the discriminator trains and the adversarial term counts
    discriminator_start_step: int = 2000
    #: weight of the generator's adversarial term
    adversarial_weight: float = 0.1

    def adversarial_at(self, step: int) -> bool:
        """Whether step ``step`` trains the discriminator and adds the adversarial term."""
        return self.use_discriminator and step >= self.discriminator_start_step
