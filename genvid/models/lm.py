"""VideoLanguageModel: a decoder-only transformer over video (and audio) tokens, VideoPoet-style.

Pre-norm blocks: RMSNorm, grouped-query attention with QK normalisation and 1D rotary positions,
SwiGLU feed-forward. Optionally Gemma-3-style interleaving of sliding-window ("local") and full
("global") attention layers: every ``local_global_pattern``-th layer is global, the others only
see ``sliding_window`` neighbours, which keeps their KV cache at ``sliding_window`` entries on long
video sequences.

Attention is prefix-LM: bidirectional inside the conditioning prefix (text, conditioning video,
conditioning audio), causal over the target. The sequence layout and the vocabulary live in
:mod:`genvid.models.sequence`; sampling and the KV caches in :mod:`genvid.models.sampling`.

Example::

    >>> import torch
    >>> from genvid.models.lm import VideoLanguageModel
    >>> model = VideoLanguageModel(codebook_size=64, hidden_size=64, num_layers=2, num_heads=4, text_hidden_size=16)
    >>> ids = torch.randint(32, 96, (2, 10))
    >>> model(ids, prefix_length=4).shape
    torch.Size([2, 10, 96])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange
from torch import nn

from genvid.models.attention import attention, prefix_lm, prefix_lm_mask
from genvid.models.normalization import rms_norm
from genvid.models.rope import apply_rotary, rotary_angles, rotary_table
from genvid.models.sequence import TEXT, Vocabulary


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class SwiGLU(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class SelfAttention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, head_dim: int, qk_norm: bool, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.to_q = nn.Linear(hidden_size, num_heads * head_dim, bias=False)
        self.to_k = nn.Linear(hidden_size, num_kv_heads * head_dim, bias=False)
        self.to_v = nn.Linear(hidden_size, num_kv_heads * head_dim, bias=False)
        self.to_out = nn.Linear(num_heads * head_dim, hidden_size, bias=False)
        self.norm_q = RMSNorm(head_dim, eps) if qk_norm else nn.Identity()
        self.norm_k = RMSNorm(head_dim, eps) if qk_norm else nn.Identity()

    def forward(self, x, rotary, mask, cache=None, layer_index: int = 0):
        query = rearrange(self.to_q(x), "b l (h d) -> b h l d", h=self.num_heads)
        key = rearrange(self.to_k(x), "b l (h d) -> b h l d", h=self.num_kv_heads)
        value = rearrange(self.to_v(x), "b l (h d) -> b h l d", h=self.num_kv_heads)
        query = apply_rotary(self.norm_q(query), rotary)
        key = apply_rotary(self.norm_k(key), rotary)
        if cache is not None:
            key, value = cache.update(layer_index, key, value)
        out = attention(query, key, value, attention_mask=mask)
        return self.to_out(rearrange(out, "b h l d -> b l (h d)"))


class Block(nn.Module):
    def __init__(self, hidden_size, num_heads, num_kv_heads, head_dim, intermediate_size, qk_norm, eps, is_local):
        super().__init__()
        self.is_local = is_local
        self.attention_norm = RMSNorm(hidden_size, eps)
        self.attention = SelfAttention(hidden_size, num_heads, num_kv_heads, head_dim, qk_norm, eps)
        self.mlp_norm = RMSNorm(hidden_size, eps)
        self.mlp = SwiGLU(hidden_size, intermediate_size)

    def forward(self, x, rotary, mask, cache=None, layer_index: int = 0):
        x = x + self.attention(self.attention_norm(x), rotary, mask, cache, layer_index)
        return x + self.mlp(self.mlp_norm(x))


class VideoLanguageModel(ModelMixin, ConfigMixin, PeftAdapterMixin):
    """Decoder-only prefix-LM over the unified vocabulary of :class:`genvid.models.sequence.Vocabulary`.

    Args:
        codebook_size: number of video token ids (the tokenizer's ``codebook_size``).
        num_special_tokens: ids reserved before the video ids (special and task tokens).
        num_audio_codebooks, audio_codebook_size: room for audio codes after the video ids.
        hidden_size, num_layers, num_heads: transformer size.
        num_kv_heads: key/value heads (grouped-query attention); ``None`` = ``num_heads``.
        head_dim: per-head size; ``None`` = ``hidden_size // num_heads``.
        intermediate_size: SwiGLU width; ``None`` = 8/3 * hidden rounded up to a multiple of 64.
        text_hidden_size: width of the text encoder's hidden states (projected into the prefix).
        max_sequence_length: longest sequence (prefix + target + <eos>) the model accepts.
        sliding_window: window of the local layers; ``None`` = every layer global.
        local_global_pattern: every n-th layer is global, the others local (Gemma 3 uses 6).
        qk_norm: RMSNorm on queries and keys per head (stabilises attention logits).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["Block"]
    #: what ``training.lora`` adapts unless told: every attention projection
    default_lora_target_modules = ["to_q", "to_k", "to_v", "to_out"]
    #: tables with a row per vocabulary id: audio ids come after every other id, so a model with
    #: room for audio keeps a soundless one's rows as they are and adds rows at the end
    #: (genvid.training.initial_weights, as transformers' resize_token_embeddings)
    vocabulary_tables = ("embed_tokens.weight", "lm_head.weight")

    @register_to_config
    def __init__(
        self,
        codebook_size: int = 1024,
        num_special_tokens: int = 32,
        num_audio_codebooks: int = 0,
        audio_codebook_size: int = 0,
        hidden_size: int = 512,
        num_layers: int = 8,
        num_heads: int = 8,
        num_kv_heads: int | None = None,
        head_dim: int | None = None,
        intermediate_size: int | None = None,
        text_hidden_size: int = 384,
        max_sequence_length: int = 2048,
        rope_theta: float = 10000.0,
        sliding_window: int | None = None,
        local_global_pattern: int = 6,
        qk_norm: bool = True,
        norm_eps: float = 1e-6,
        tie_word_embeddings: bool = False,
        initializer_range: float = 0.02,
    ):
        super().__init__()
        self.vocabulary = Vocabulary(codebook_size, num_special_tokens, num_audio_codebooks, audio_codebook_size)
        num_kv_heads = num_kv_heads or num_heads
        head_dim = head_dim or hidden_size // num_heads
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads})")
        if head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary positions, got {head_dim}")
        if sliding_window is not None and sliding_window < 1:
            raise ValueError(f"sliding_window must be >= 1 (or None for all-global layers), got {sliding_window}")
        if local_global_pattern < 1:
            raise ValueError(f"local_global_pattern must be >= 1, got {local_global_pattern}")
        if intermediate_size is None:
            intermediate_size = int(math.ceil(hidden_size * 8 / 3 / 64) * 64)
        self.head_dim = head_dim
        self.num_kv_heads = num_kv_heads

        self.embed_tokens = nn.Embedding(self.vocabulary.size, hidden_size)
        self.text_projection = nn.Sequential(RMSNorm(text_hidden_size, norm_eps), nn.Linear(text_hidden_size, hidden_size))
        self.layers = nn.ModuleList(
            Block(hidden_size, num_heads, num_kv_heads, head_dim, intermediate_size, qk_norm, norm_eps, local)
            for local in self.layer_is_local
        )
        self.norm = RMSNorm(hidden_size, norm_eps)
        # tied: the output reuses the embedding table (no second parameter, so safetensors saves it once)
        self.lm_head = None if tie_word_embeddings else nn.Linear(hidden_size, self.vocabulary.size, bias=False)
        self.gradient_checkpointing = False
        self.apply(self._init_weights)
        # residual branches scaled so the residual stream's variance does not grow with depth
        for layer in self.layers:
            nn.init.normal_(layer.attention.to_out.weight, std=initializer_range / math.sqrt(2 * num_layers))
            nn.init.normal_(layer.mlp.down.weight, std=initializer_range / math.sqrt(2 * num_layers))

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)

    @property
    def layer_is_local(self) -> list[bool]:
        config = self.config
        if config.sliding_window is None:
            return [False] * config.num_layers
        return [(index + 1) % config.local_global_pattern != 0 for index in range(config.num_layers)]

    def embed(self, input_ids, text_hidden_states=None, text_mask=None):
        """Token embeddings with the ``<text>`` positions replaced by projected text hidden states;
        returns ``(embeddings, valid)`` where ``valid`` (batch, length) is False at padded text."""
        embeddings = self.embed_tokens(input_ids)
        valid = None
        if text_hidden_states is None:
            return embeddings, valid
        is_text = input_ids == TEXT
        batch, text_length = text_hidden_states.shape[:2]
        if text_hidden_states.shape[-1] != self.config.text_hidden_size:
            raise ValueError(
                f"text hidden states have width {text_hidden_states.shape[-1]}, the model expects "
                f"text_hidden_size={self.config.text_hidden_size}"
            )
        if text_hidden_states.shape[0] != input_ids.shape[0] or is_text.sum(dim=1).ne(text_length).any():
            raise ValueError(
                f"text hidden states {tuple(text_hidden_states.shape[:2])} do not fill the sequence's "
                f"<text> positions ({tuple(is_text.sum(dim=1).tolist())} per row)"
            )
        projected = self.text_projection(text_hidden_states.to(embeddings.dtype))
        embeddings = embeddings.masked_scatter(is_text[..., None], projected)
        if text_mask is not None:
            valid = torch.ones_like(input_ids, dtype=torch.bool).masked_scatter(is_text, text_mask.bool())
        return embeddings, valid

    def forward(
        self,
        input_ids: torch.Tensor,
        text_hidden_states: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        prefix_length: int | torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        cache=None,
        num_logits: int | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, length or num_logits, vocabulary)``.

        ``input_ids`` (batch, length): a laid-out sequence (see :mod:`genvid.models.sequence`) or,
        with a ``cache``, the next tokens. ``text_hidden_states`` (batch, text_length, text_hidden_size)
        fill the ``<text>`` positions; ``text_mask`` (batch, text_length) marks real text.
        ``prefix_length``: int or (batch,) tensor, the bidirectional prefix. ``attention_mask``
        (batch, length) bool: False for padding keys. ``positions`` (length,): absolute positions
        (default: after what the cache holds). ``num_logits``: only the last positions' logits.
        """
        batch, length = input_ids.shape
        hidden, valid = self.embed(input_ids, text_hidden_states, text_mask)
        if attention_mask is not None:
            valid = attention_mask.bool() if valid is None else valid & attention_mask.bool()
        explicit_positions = positions
        start = 0 if cache is None else cache.length
        if positions is None:
            if start + length > self.config.max_sequence_length:
                raise ValueError(
                    f"sequence of {start + length} tokens is longer than the model's context "
                    f"(max_sequence_length={self.config.max_sequence_length})"
                )
            positions = torch.arange(start, start + length, device=input_ids.device)
        if prefix_length is None:
            prefix_length = 0
        given_prefix = prefix_length  # an int stays on the host for the PrefixLM form
        if not torch.is_tensor(prefix_length):
            prefix_length = torch.tensor(prefix_length, device=input_ids.device)
        prefix_length = prefix_length.to(input_ids.device).expand(batch)

        rotary = rotary_table(rotary_angles(positions, self.head_dim, self.config.rope_theta))
        if cache is not None:
            key_states = cache.start(positions, valid)
        else:
            key_states = {"global": (positions, valid), "local": (positions, valid)}
        # A whole sequence from position 0 (training, or a prefill) takes the PrefixLM form, which
        # builds no (length x length) mask; cached decoding attends few queries and keeps the dense one.
        whole_sequence = length > 1 and (cache is None or start == 0) and explicit_positions is None
        masks = {}
        for kind in set("local" if local else "global" for local in self.layer_is_local):
            key_positions, key_valid = key_states[kind]
            window = self.config.sliding_window if kind == "local" else None
            mask = None
            if whole_sequence and (window is None or window >= length):
                mask = prefix_lm(given_prefix, length, key_valid)
            if mask is None:
                mask = prefix_lm_mask(positions, key_positions, prefix_length, key_valid, window)
            masks[kind] = mask

        for index, layer in enumerate(self.layers):
            mask = masks["local" if layer.is_local else "global"]
            if torch.is_grad_enabled() and self.gradient_checkpointing and cache is None:
                hidden = self._gradient_checkpointing_func(layer, hidden, rotary, mask)
            else:
                hidden = layer(hidden, rotary, mask, cache, index)
        if num_logits is not None:
            hidden = hidden[:, -num_logits:]
        hidden = self.norm(hidden)
        if self.lm_head is None:
            return F.linear(hidden, self.embed_tokens.weight)
        return self.lm_head(hidden)

    def forward_flops(self, length: int, context: int | None = None) -> float:
        return forward_flops(self.config, length, context)


def forward_flops(config, length: int, context: int | None = None) -> float:
    """Matmul FLOPs of one forward pass over ``length`` tokens (attending ``context`` keys each,
    default ``length``: a full training sequence). Embedding lookups cost none; attention scores
    and their weighted sum count ``4 * length * context * heads * head_dim`` per layer."""
    context = length if context is None else context
    head_dim = config.head_dim or config.hidden_size // config.num_heads
    kv_heads = config.num_kv_heads or config.num_heads
    intermediate = config.intermediate_size or int(math.ceil(config.hidden_size * 8 / 3 / 64) * 64)
    vocabulary = Vocabulary(
        config.codebook_size, config.num_special_tokens, config.num_audio_codebooks, config.audio_codebook_size
    ).size
    per_layer = (
        2 * config.hidden_size * (config.num_heads + kv_heads) * head_dim  # q, out + k, v projections
        + 3 * config.hidden_size * intermediate
    )
    linear = config.num_layers * per_layer + config.hidden_size * vocabulary
    attention_flops = 4 * config.num_layers * config.num_heads * head_dim * length * context
    return 2.0 * linear * length + attention_flops
