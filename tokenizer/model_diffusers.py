"""``VideoTokenizer``: :class:`tokenizer.model.TokenizerNetwork` as a diffusers model
(``ModelMixin`` / ``ConfigMixin``: ``save_pretrained`` / ``from_pretrained``, ``config``, offload
and FSDP hooks). Import it from :mod:`tokenizer` or :mod:`tokenizer.model`."""

from __future__ import annotations

from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from tokenizer.model import TokenizerNetwork


class VideoTokenizer(TokenizerNetwork, ModelMixin, ConfigMixin):
    __doc__ = TokenizerNetwork.__doc__
    # the network first: its methods as they always were; config, dtype and loading from diffusers
    __init__ = register_to_config(TokenizerNetwork.__init__)


VideoTokenizer.__module__ = "tokenizer.model"  # where model_index.json files and users find it
