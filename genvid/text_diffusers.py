"""``TextEncoder``: :class:`genvid.text.TextEncoderNetwork` as a diffusers model (``ModelMixin`` /
``ConfigMixin``: a pipeline component with a ``config``, saved as that config alone). Import it from
:mod:`genvid` or :mod:`genvid.text`."""

from __future__ import annotations

from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from genvid.text import TextEncoderNetwork


class TextEncoder(TextEncoderNetwork, ModelMixin, ConfigMixin):
    __doc__ = TextEncoderNetwork.__doc__
    # the network first: its methods (and its config-only save_pretrained / from_pretrained) as they always were
    __init__ = register_to_config(TextEncoderNetwork.__init__)


TextEncoder.__module__ = "genvid.text"  # where model_index.json files and users find it
