"""``VideoDiffusionTransformer``: :class:`genvid.models.dit.DiTNetwork` as a diffusers model
(``ModelMixin`` / ``ConfigMixin`` / ``PeftAdapterMixin``: ``save_pretrained`` / ``from_pretrained``,
``config``, LoRA adapters, offload and compile hooks). Import it from :mod:`genvid` or
:mod:`genvid.models.dit`."""

from __future__ import annotations

from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin

from genvid.models.dit import DiTNetwork


class VideoDiffusionTransformer(DiTNetwork, ModelMixin, ConfigMixin, PeftAdapterMixin):
    __doc__ = DiTNetwork.__doc__
    output_class = Transformer2DModelOutput
    # the network first: its methods as they always were; config, dtype, loading and LoRA from diffusers
    __init__ = register_to_config(DiTNetwork.__init__)


VideoDiffusionTransformer.__module__ = "genvid.models.dit"  # where model_index.json files and users find it
