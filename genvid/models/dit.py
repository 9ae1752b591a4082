"""The latent video diffusion transformer (DiT) of genvid.

Readable top to bottom: patchify -> transformer blocks (3D-RoPE self-attention, cross-attention
to text, MLP, each modulated by the timestep with AdaLN-zero) -> unpatchify.

Conventions:

* ``hidden_states`` are tokenizer latents ``(batch, channels, frames, height, width)`` (already
  normalized with ``VideoTokenizer.normalize_latents``); the output is the predicted velocity
  ``noise - clean`` of the same shape (rectified flow: ``x_s = (1 - s) * clean + s * noise``).
* ``timestep`` is the noise level ``s`` times 1000, i.e. on the 0..1000 scale of diffusers'
  ``FlowMatchEulerDiscreteScheduler.timesteps`` (pass those straight in). Shape ``(batch,)`` or
  ``(batch, frames)``: one noise level per latent frame lets a clean first frame (image-to-video)
  say so with timestep 0.
* Positions come from 3D rotary embeddings computed for each input's own grid, so a model trained
  at one frame count / size runs at others.
  ``absolute_positions`` (on by default) adds a projected sinusoidal embedding of each token's
  (time, row, column) index as well: rotary embeddings alone tell attention only offsets, so at high noise no
  token knows whether it sits at the top or the bottom, in the first or the last frame, which
  prompts such as "moving up" need (an object moving up starts low).
* ``pooled_text`` (on by default) adds the prompt's mean hidden state, projected, to the timestep
  embedding that every AdaLN modulation reads (as SD3 adds its pooled text vector): a global path
  for what concerns the whole clip (which way things move), next to the per-token cross-attention.
  Both won where they were measured (the demo DiT): without them its velocity changed by 4%
  between "moving up" and "moving down" and it followed the motion word in 37.5% of held-out
  clips; with them the difference was 13% after 1000 steps and motion was followed in 100%.
  Saved models record both values, so weights trained without them load as they were.
* Every attention goes through :func:`genvid.models.attention.attention`.
* Audio conditioning (``num_audio_codebooks > 0``): an audio codec's codes ``(batch, levels,
  frames)`` are embedded (one table for all levels, summed per codec frame, plus a projected
  sinusoidal position so the order of the sound is visible) and appended to the text tokens that
  cross-attention reads, each kind with its own learned type embedding. ``audio_mask`` False drops
  a sample's sound (classifier-free guidance), like a padded text token. ``audio_attention=
  "separate"`` gives the sound its own cross-attention in every block instead (IP-Adapter's
  decoupled form), a residual branch whose output projection starts at zero: the form for
  teaching sound to a trained soundless DiT, which it leaves exactly as it was at step 0.

The AdaLN design follows Wan 2.1: one timestep projection to six modulation vectors shared by all
blocks, plus a learned per-block offset. It costs ``6 d^2`` parameters once instead of per block,
and with both zero at initialisation every block starts as the identity (AdaLN-zero).

This module holds the network (:class:`DiTNetwork`, torch only); ``VideoDiffusionTransformer``, the
diffusers model everything saves and loads, is that network with diffusers' config, loading and
LoRA machinery (genvid.models.dit_diffusers), imported from here on first use, so a caller that
only runs the network (``genvid generate``) never imports diffusers.
"""

from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from genvid.models.attention import attention, key_padding_mask
from genvid.models.embeddings import TimestepEmbedding, sinusoidal_embedding
from genvid.models.normalization import rms_norm
from genvid.models.rope import apply_rotary, grid_indices, rotary_3d, split_3d_dims
from tokenizer.lazy import diffusers_class_getattr


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x (b, n, d)`` tokens ordered ``(f s)``; ``shift``/``scale`` ``(b, f, d)`` per frame group."""
    grouped = x.unflatten(1, (shift.shape[1], -1))
    # one pass over the tokens (shift + x * (1 + scale)), not a product and then a sum
    return torch.addcmul(shift[:, :, None], grouped, 1 + scale[:, :, None]).flatten(1, 2)


def norm_modulate(norm: nn.LayerNorm, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``modulate(norm(x), shift, scale)`` for a LayerNorm without its own affine. One sample with
    one modulation for all its tokens (batch-1 sampling) takes ``1 + scale`` and ``shift`` as the
    norm's affine: one pass over the tokens instead of two."""
    if norm.weight is None and shift.shape[0] == 1 and shift.shape[1] == 1 and x.shape[0] == 1:
        return F.layer_norm(x, norm.normalized_shape, (1 + scale).reshape(-1), shift.reshape(-1), norm.eps)
    return modulate(norm(x), shift, scale)


def gated_residual(residual: torch.Tensor, x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``residual + x * value`` for ``x (b, n, d)`` ordered ``(f s)`` and a gate ``value (b, f, d)``
    per frame group, in one pass."""
    grouped = torch.addcmul(residual.unflatten(1, (value.shape[1], -1)), x.unflatten(1, (value.shape[1], -1)),
                            value[:, :, None])
    return grouped.flatten(1, 2)


#: sinusoidal features per axis (time, height, width) of the optional absolute position embedding
POSITION_FEATURES = 32


def grid_position_features(frames: int, height: int, width: int, device=None) -> torch.Tensor:
    """Sinusoidal features ``(frames * height * width, 3 * POSITION_FEATURES)`` of each token's
    (time, row, column) index, tokens flattened as ``(t h w)``."""
    # periods from 1 to 100 tokens: latent grids are tens of tokens a side
    axes = grid_indices(frames, height, width, device)
    return torch.cat([sinusoidal_embedding(axis, POSITION_FEATURES, max_period=100.0) for axis in axes], dim=-1)


def _tables_kept() -> bool:
    # Every denoising step of a clip has the same grid: its position tables are made once, not per
    # step (nothing writes to them). Not under inference_mode, whose tensors autograd refuses later,
    # nor inside a compiled graph, which computes them itself.
    return not (torch.is_inference_mode_enabled() or torch.compiler.is_compiling())


@functools.lru_cache(maxsize=8)
def _grid_position_features_kept(frames: int, height: int, width: int, device) -> torch.Tensor:
    return grid_position_features(frames, height, width, device)


@functools.lru_cache(maxsize=8)
def _rotary_3d_kept(frames: int, height: int, width: int, head_dim: int, theta: float, device) -> tuple:
    return rotary_3d(frames, height, width, head_dim, theta, device)


def pool_text(hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``(batch, length, dim)`` text states over real tokens (all of them where a row has
    none, or without a mask): the sentence embedding MiniLM-style encoders are trained for."""
    if mask is None:
        return hidden_states.float().mean(dim=1)
    mask = mask.bool()
    mask = (mask | ~mask.any(dim=1, keepdim=True)).float()[..., None]
    return (hidden_states.float() * mask).sum(dim=1) / mask.sum(dim=1)


class HeadRMSNorm(nn.RMSNorm):
    """RMSNorm in float32 whatever the input's dtype (under autocast the queries arrive in bf16
    while the weight stays float32), through genvid.models.normalization.rms_norm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


def _head_norm(head_dim: int, enabled: bool, eps: float) -> nn.Module:
    # Normalising queries and keys per head keeps attention logits bounded, which is what lets
    # large DiTs train in bf16 without loss spikes.
    return HeadRMSNorm(head_dim, eps=eps) if enabled else nn.Identity()


class SelfAttention(nn.Module):
    #: a genvid.models.context_parallel.ContextParallel when the sequence is split over ranks
    context_parallel = None

    def __init__(self, hidden_size: int, num_heads: int, qk_norm: bool, eps: float):
        super().__init__()
        self.num_heads = num_heads
        head_dim = hidden_size // num_heads
        self.to_qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.query_norm = _head_norm(head_dim, qk_norm, eps)
        self.key_norm = _head_norm(head_dim, qk_norm, eps)
        self.to_out = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor, rotary: torch.Tensor) -> torch.Tensor:
        qkv = rearrange(self.to_qkv(x), "b n (three h d) -> b n three h d", three=3, h=self.num_heads)
        # Queries and keys are normalised and rotated together, one pass for both where there were
        # two (each pass is a parallel region, which is what a busy CPU's threads wait on):
        # (b n 2 h d) with a (2, 1, d) norm weight and the (n, d/2, 2) rotary table put at n.
        query_key = qkv[:, :, :2]
        if isinstance(self.query_norm, HeadRMSNorm):
            weight = torch.stack((self.query_norm.weight, self.key_norm.weight))[:, None]
            query_key = rms_norm(query_key, weight, self.query_norm.eps)
        query_key = apply_rotary(query_key, rotary[:, None, None])
        query, key = rearrange(query_key, "b n two h d -> two b h n d")
        value = rearrange(qkv[:, :, 2], "b n h d -> b h n d")
        parallel = self.context_parallel
        out = parallel.attention(query, key, value) if parallel is not None else attention(query, key, value)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


class CrossAttention(nn.Module):
    """Video tokens attend to the (projected) text hidden states; padding keys are masked."""

    def __init__(self, hidden_size: int, num_heads: int, qk_norm: bool, eps: float):
        super().__init__()
        self.num_heads = num_heads
        head_dim = hidden_size // num_heads
        self.to_query = nn.Linear(hidden_size, hidden_size)
        self.to_key_value = nn.Linear(hidden_size, 2 * hidden_size)
        self.query_norm = _head_norm(head_dim, qk_norm, eps)
        self.key_norm = _head_norm(head_dim, qk_norm, eps)
        self.to_out = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        query = rearrange(self.to_query(x), "b n (h d) -> b h n d", h=self.num_heads)
        key, value = rearrange(
            self.to_key_value(context), "b l (two h d) -> two b h l d", two=2, h=self.num_heads
        )
        out = attention(self.query_norm(query), self.key_norm(key), value, attention_mask=mask)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


class DiTBlock(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float, qk_norm: bool, eps: float,
                 audio_attention: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, eps=eps, elementwise_affine=False)
        self.self_attention = SelfAttention(hidden_size, num_heads, qk_norm, eps)
        self.norm2 = nn.LayerNorm(hidden_size, eps=eps)
        self.cross_attention = CrossAttention(hidden_size, num_heads, qk_norm, eps)
        self.norm3 = nn.LayerNorm(hidden_size, eps=eps, elementwise_affine=False)
        mlp_hidden = int(hidden_size * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, mlp_hidden), nn.GELU(approximate="tanh"), nn.Linear(mlp_hidden, hidden_size)
        )
        # Offsets added to the shared timestep modulation: shift/scale/gate for attention and MLP.
        self.modulation = nn.Parameter(torch.zeros(6, hidden_size))
        if audio_attention:
            self.audio_norm = nn.LayerNorm(hidden_size, eps=eps)
            self.audio_attention = CrossAttention(hidden_size, num_heads, qk_norm, eps)
            # a residual branch that starts at exactly zero: a model given sound later (a fine-tune
            # of a soundless one) starts from that model's outputs, sound or not
            nn.init.zeros_(self.audio_attention.to_out.weight)
            nn.init.zeros_(self.audio_attention.to_out.bias)

    def forward(self, x, modulation, context, context_mask, rotary, audio=None):
        shift_attention, scale_attention, gate_attention, shift_mlp, scale_mlp, gate_mlp = (
            modulation + self.modulation.to(modulation.dtype)
        ).unbind(dim=2)
        attended = self.self_attention(norm_modulate(self.norm1, x, shift_attention, scale_attention), rotary)
        x = gated_residual(x, attended, gate_attention)
        x = x + self.cross_attention(self.norm2(x), context, context_mask)
        if audio is not None:
            audio_context, audio_mask, audio_kept = audio
            x = x + self.audio_attention(self.audio_norm(x), audio_context, audio_mask) * audio_kept
        x = gated_residual(x, self.mlp(norm_modulate(self.norm3, x, shift_mlp, scale_mlp)), gate_mlp)
        return x


class DiTNetwork(nn.Module):
    """Latent video DiT predicting the rectified-flow velocity (the network of ``VideoDiffusionTransformer``).

    Example::

        >>> import torch
        >>> from genvid import VideoDiffusionTransformer
        >>> model = VideoDiffusionTransformer(in_channels=8, hidden_size=64, num_layers=2, num_heads=4,
        ...                                   text_hidden_size=32)
        >>> latents = torch.randn(1, 8, 3, 8, 8)
        >>> text, text_mask = torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool)
        >>> model(latents, torch.tensor([500.0]), text, text_mask).sample.shape
        torch.Size([1, 8, 3, 8, 8])
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["DiTBlock"]
    #: what diffusers' ``compile_repeated_blocks`` compiles: one graph per block, shared by all
    #: blocks (same code, same shapes), so compile time does not grow with depth
    _repeated_blocks = ["DiTBlock"]
    #: what ``training.lora`` adapts unless told: every attention projection
    default_lora_target_modules = ["to_qkv", "to_query", "to_key_value", "to_out"]
    #: modules a model may have that a saved one without sound lacks: what a fine-tune from such
    #: weights initialises anew (genvid.training.initial_weights)
    new_module_names = ("audio_embedding", "audio_position", "context_type_embedding", "audio_norm", "audio_attention")
    #: what ``forward`` returns with ``return_dict`` (diffusers' ``Transformer2DModelOutput`` on the model class)
    output_class = None

    def __init__(
        self,
        in_channels: int = 16,
        out_channels: int | None = None,
        patch_size: int = 2,
        patch_size_t: int = 1,
        hidden_size: int = 384,
        num_layers: int = 6,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        text_hidden_size: int = 384,
        qk_norm: bool = True,
        norm_eps: float = 1e-6,
        rope_theta: float = 10000.0,
        timestep_frequency_dim: int = 256,
        num_audio_codebooks: int = 0,
        audio_codebook_size: int = 0,
        absolute_positions: bool = True,
        pooled_text: bool = True,
        audio_attention: str = "joint",
    ):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        head_dim = hidden_size // num_heads
        if head_dim % 2 or min(split_3d_dims(head_dim)) < 2:
            raise ValueError(f"head dimension {head_dim} is too small or odd for 3D rotary embeddings")
        if patch_size < 1 or patch_size_t < 1:
            raise ValueError("patch_size and patch_size_t must be >= 1")
        out_channels = out_channels or in_channels
        self.out_channels = out_channels
        patch_volume = patch_size_t * patch_size * patch_size

        self.patch_embedding = nn.Linear(in_channels * patch_volume, hidden_size)
        if absolute_positions:
            self.position_embedding = nn.Linear(3 * POSITION_FEATURES, hidden_size)
            nn.init.normal_(self.position_embedding.weight, std=0.02)
            nn.init.zeros_(self.position_embedding.bias)
        self.text_embedding = nn.Sequential(
            nn.Linear(text_hidden_size, hidden_size), nn.GELU(approximate="tanh"), nn.Linear(hidden_size, hidden_size)
        )
        if num_audio_codebooks < 0 or (num_audio_codebooks > 0 and audio_codebook_size < 1):
            raise ValueError("audio conditioning needs num_audio_codebooks >= 1 and audio_codebook_size >= 1 (or both 0: off)")
        if audio_attention not in ("joint", "separate"):
            raise ValueError(f"audio_attention must be 'joint' or 'separate', got {audio_attention!r}")
        separate_audio = bool(num_audio_codebooks) and audio_attention == "separate"
        if num_audio_codebooks:
            self.audio_embedding = nn.Embedding(num_audio_codebooks * audio_codebook_size, hidden_size)
            self.audio_position = nn.Linear(timestep_frequency_dim, hidden_size)
            weights = [self.audio_embedding.weight, self.audio_position.weight]
            if not separate_audio:
                # row 0 marks text tokens, row 1 audio tokens, in the shared cross-attention context
                self.context_type_embedding = nn.Parameter(torch.zeros(2, hidden_size))
                weights.append(self.context_type_embedding)
            for weight in weights:
                nn.init.normal_(weight, std=0.02)
        self.time_embedding = TimestepEmbedding(hidden_size, timestep_frequency_dim)
        if pooled_text:
            self.pooled_text_embedding = nn.Sequential(
                nn.Linear(text_hidden_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
            )
        self.time_projection = nn.Linear(hidden_size, 6 * hidden_size)
        self.blocks = nn.ModuleList(
            [DiTBlock(hidden_size, num_heads, mlp_ratio, qk_norm, norm_eps, separate_audio) for _ in range(num_layers)]
        )
        self.norm_out = nn.LayerNorm(hidden_size, eps=norm_eps, elementwise_affine=False)
        self.output_modulation = nn.Linear(hidden_size, 2 * hidden_size)
        self.proj_out = nn.Linear(hidden_size, out_channels * patch_volume)
        self.gradient_checkpointing = False
        self._zero_init()

    def enable_context_parallel(self, group=None) -> None:
        """Split each clip's video tokens over the ranks of ``group`` (every rank runs the same
        clip; see genvid.models.context_parallel). ``None`` = the default group."""
        from genvid.models.context_parallel import ContextParallel

        parallel = ContextParallel(group)
        for block in self.blocks:
            block.self_attention.context_parallel = parallel

    def disable_context_parallel(self) -> None:
        for block in self.blocks:
            block.self_attention.context_parallel = None

    def _zero_init(self):
        # AdaLN-zero: modulation (hence gates) and the output projection start at zero, so the
        # untrained network is the identity on its residual stream and predicts zero velocity.
        for layer in (self.time_projection, self.output_modulation, self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _check_inputs(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask):
        config = self.config
        if hidden_states.ndim != 5:
            raise ValueError(
                f"hidden_states must be (batch, channels, frames, height, width), got shape {tuple(hidden_states.shape)}"
            )
        batch, channels, frames, height, width = hidden_states.shape
        if channels != config.in_channels:
            raise ValueError(f"hidden_states has {channels} channels but the model expects {config.in_channels}")
        if frames % config.patch_size_t or height % config.patch_size or width % config.patch_size:
            raise ValueError(
                f"latent grid {frames}x{height}x{width} (frames x height x width) is not divisible by the patch "
                f"{config.patch_size_t}x{config.patch_size}x{config.patch_size}"
            )
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != batch:
            raise ValueError(
                f"encoder_hidden_states must be (batch={batch}, length, {config.text_hidden_size}), "
                f"got shape {tuple(encoder_hidden_states.shape)}"
            )
        if encoder_hidden_states.shape[-1] != config.text_hidden_size:
            raise ValueError(
                f"encoder_hidden_states width {encoder_hidden_states.shape[-1]} does not match "
                f"text_hidden_size={config.text_hidden_size}"
            )
        if encoder_attention_mask is not None and tuple(encoder_attention_mask.shape) != tuple(
            encoder_hidden_states.shape[:2]
        ):
            raise ValueError(
                f"encoder_attention_mask must be (batch, length) = {tuple(encoder_hidden_states.shape[:2])}, "
                f"got {tuple(encoder_attention_mask.shape)}"
            )
        timestep = torch.as_tensor(timestep, device=hidden_states.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(batch)
        if timestep.ndim == 1:
            timestep = timestep[:, None]
        if timestep.ndim != 2 or timestep.shape[0] != batch or timestep.shape[1] not in (1, frames):
            raise ValueError(
                f"timestep must be a scalar, (batch,) or (batch, frames) = ({batch}, {frames}); "
                f"got shape {tuple(timestep.shape)}"
            )
        return timestep

    def embed_audio(self, audio_codes: torch.Tensor) -> torch.Tensor:
        """Codec codes ``(batch, levels, frames)`` (the first 1..num_audio_codebooks levels) ->
        context tokens ``(batch, frames, hidden_size)``."""
        config = self.config
        if not config.num_audio_codebooks:
            raise ValueError("this model has no audio conditioning (num_audio_codebooks=0)")
        if audio_codes.ndim != 3 or not 1 <= audio_codes.shape[1] <= config.num_audio_codebooks:
            raise ValueError(
                f"audio_codes must be (batch, levels <= {config.num_audio_codebooks}, frames), got shape {tuple(audio_codes.shape)}"
            )
        if audio_codes.numel() and (int(audio_codes.min()) < 0 or int(audio_codes.max()) >= config.audio_codebook_size):
            raise ValueError(f"audio_codes must lie in [0, {config.audio_codebook_size})")
        levels = torch.arange(audio_codes.shape[1], device=audio_codes.device)[None, :, None]
        tokens = self.audio_embedding(audio_codes.long() + levels * config.audio_codebook_size).sum(dim=1)
        positions = torch.arange(audio_codes.shape[2], device=audio_codes.device)
        features = sinusoidal_embedding(positions, config.timestep_frequency_dim).to(tokens.dtype)
        tokens = tokens + self.audio_position(features)[None]
        if config.audio_attention == "joint":
            tokens = tokens + self.context_type_embedding[1].to(tokens.dtype)
        return tokens

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        return_dict: bool = True,
        audio_codes: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ):
        """Predict the velocity ``noise - clean`` for latents at noise level ``timestep / 1000``.

        Args:
            hidden_states: noisy latents ``(batch, channels, frames, height, width)``.
            timestep: ``sigma * 1000``, shape ``()``, ``(batch,)`` or ``(batch, frames)``.
            encoder_hidden_states: text hidden states ``(batch, length, text_hidden_size)``.
            encoder_attention_mask: ``(batch, length)`` bool, True for real tokens (None: all real).
            audio_codes: audio codec codes ``(batch, levels, audio_frames)`` (models built with
                ``num_audio_codebooks``); None = no sound.
            audio_mask: ``(batch,)`` or ``(batch, audio_frames)`` bool, False drops that sound.
        Returns:
            ``Transformer2DModelOutput(sample=velocity)`` or ``(velocity,)`` if not ``return_dict``.
        """
        timestep = self._check_inputs(hidden_states, timestep, encoder_hidden_states, encoder_attention_mask)
        config = self.config
        x, grid = self._embed_patches(hidden_states)
        time_embedding, modulation = self._time_conditioning(timestep, encoder_hidden_states, encoder_attention_mask)
        separate_audio = config.audio_attention == "separate"
        context, context_mask = self._context(
            encoder_hidden_states, encoder_attention_mask, None if separate_audio else audio_codes, audio_mask, x.dtype
        )
        audio = self._separate_audio(audio_codes, audio_mask, x) if separate_audio and audio_codes is not None else None

        rotary_table = _rotary_3d_kept if _tables_kept() else rotary_3d
        rotary = rotary_table(*grid, config.hidden_size // config.num_heads, config.rope_theta, x.device)
        parallel = self.blocks[0].self_attention.context_parallel if len(self.blocks) else None
        if parallel is not None:
            # this rank's tokens, with their positions and (per-frame timesteps) their frames' modulation
            num_tokens = x.shape[1]
            parallel.check(num_tokens, config.num_heads)
            x, rotary = parallel.split(x, 1), parallel.split(rotary, 0)
            if modulation.shape[1] > 1:
                modulation = parallel.split_frames(modulation, num_tokens)
                time_embedding = parallel.split_frames(time_embedding, num_tokens)
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x, modulation, context, context_mask, rotary, audio)
            else:
                x = block(x, modulation, context, context_mask, rotary, audio)

        shift, scale = self.output_modulation(F.silu(time_embedding)).chunk(2, dim=-1)
        x = self.proj_out(norm_modulate(self.norm_out, x, shift, scale))
        if parallel is not None:
            x = parallel.gather(x, 1)
        velocity = self._unpatchify(x, grid)
        if not return_dict:
            return (velocity,)
        return self.output_class(sample=velocity)

    def _embed_patches(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Latents -> patch tokens ``(batch, frames * height * width, hidden)`` and that token grid."""
        config = self.config
        patch_t, patch = config.patch_size_t, config.patch_size
        frames, height, width = (
            hidden_states.shape[2] // patch_t,
            hidden_states.shape[3] // patch,
            hidden_states.shape[4] // patch,
        )
        x = rearrange(
            hidden_states,
            "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)",
            pt=patch_t,
            ph=patch,
            pw=patch,
        )
        x = self.patch_embedding(x.to(self.patch_embedding.weight.dtype))
        if config.absolute_positions:
            features = (_grid_position_features_kept if _tables_kept() else grid_position_features)(
                frames, height, width, x.device
            )
            x = x + self.position_embedding(features.to(x.dtype))[None]
        return x, (frames, height, width)

    def _unpatchify(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        config = self.config
        frames, height, width = grid
        return rearrange(
            x,
            "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)",
            t=frames,
            h=height,
            w=width,
            pt=config.patch_size_t,
            ph=config.patch_size,
            pw=config.patch_size,
        )

    def _time_conditioning(self, timestep, encoder_hidden_states, encoder_attention_mask):
        """The conditioning vector every AdaLN reads and its six modulations per block."""
        config = self.config
        if timestep.shape[1] > 1 and config.patch_size_t > 1:
            # One modulation per token frame: frames merged into a patch share their mean noise level.
            timestep = reduce(timestep.float(), "b (t pt) -> b t", "mean", pt=config.patch_size_t)
        time_embedding = self.time_embedding(timestep)  # (b, 1 or frames, d)
        if config.pooled_text:
            # the conditioning vector every AdaLN reads: timestep + the prompt's mean hidden state
            time_embedding = time_embedding + self.pooled_text_embedding(
                pool_text(encoder_hidden_states, encoder_attention_mask).to(time_embedding.dtype)
            )[:, None]
        modulation = self.time_projection(F.silu(time_embedding)).unflatten(-1, (6, config.hidden_size))
        return time_embedding, modulation

    def _context(self, encoder_hidden_states, encoder_attention_mask, audio_codes, audio_mask, dtype):
        """What cross-attention reads (text, then any sound) and its key mask (None: every key)."""
        context = self.text_embedding(encoder_hidden_states.to(dtype))
        context_mask = None
        if self.config.num_audio_codebooks and self.config.audio_attention == "joint":
            context = context + self.context_type_embedding[0].to(context.dtype)
        if audio_codes is not None:
            context, encoder_attention_mask = self._with_audio(context, encoder_attention_mask, audio_codes, audio_mask)
        if encoder_attention_mask is not None:
            mask = encoder_attention_mask.bool()
            # A row with no real token would make softmax undefined (NaN); let it see everything instead.
            mask = mask | ~mask.any(dim=1, keepdim=True)
            # Keys that are padding in every row are dropped, and a mask that is then all True is
            # not passed at all: unmasked attention is what fused kernels take without a bias.
            used = mask.any(dim=0)
            if not bool(used.all()):
                context, mask = context[:, used], mask[:, used]
            if not bool(mask.all()):
                context_mask = key_padding_mask(mask)
        return context, context_mask

    def _separate_audio(self, audio_codes, audio_mask, x):
        """What each block's own audio cross-attention reads: the embedded sound, its key mask and
        ``(batch, 1, 1)`` 1 / 0 for a sample whose sound is kept / dropped (no key left)."""
        if audio_codes.shape[0] != x.shape[0]:
            raise ValueError(f"audio_codes has batch {audio_codes.shape[0]}, the latents {x.shape[0]}")
        audio_context = self.embed_audio(audio_codes.to(x.device)).to(x.dtype)
        if audio_mask is None:
            return audio_context, None, 1.0
        mask = audio_mask.bool().to(x.device)
        if mask.ndim == 1:
            mask = mask[:, None].expand(-1, audio_context.shape[1])
        kept = mask.any(dim=1)
        # a dropped sound's row sees every key (softmax stays defined); its branch is then multiplied by 0
        mask = mask | ~kept[:, None]
        return audio_context, None if bool(mask.all()) else key_padding_mask(mask), kept.to(x.dtype)[:, None, None]

    def initialise_new_parameters(self, names: list[str]) -> None:
        """After loading soundless weights: the text tokens' type row at zero, so that with the
        sound absent the model computes what the loaded one did (the separate audio attention
        already starts at zero)."""
        if "context_type_embedding" in names:
            with torch.no_grad():
                self.context_type_embedding[0].zero_()

    def _with_audio(self, context, encoder_attention_mask, audio_codes, audio_mask):
        """The text context with the embedded sound after it, and the joined mask."""
        if audio_codes.shape[0] != context.shape[0]:
            raise ValueError(f"audio_codes has batch {audio_codes.shape[0]}, the latents {context.shape[0]}")
        audio_context = self.embed_audio(audio_codes.to(context.device)).to(context.dtype)
        text_mask = (
            torch.ones(context.shape[:2], dtype=torch.bool, device=context.device)
            if encoder_attention_mask is None
            else encoder_attention_mask.bool()
        )
        if audio_mask is None:
            audio_mask = torch.ones(audio_context.shape[:2], dtype=torch.bool, device=context.device)
        audio_mask = audio_mask.bool().to(context.device)
        if audio_mask.ndim == 1:
            audio_mask = audio_mask[:, None].expand(-1, audio_context.shape[1])
        return torch.cat([context, audio_context], dim=1), torch.cat([text_mask, audio_mask], dim=1)


def forward_flops(config: dict, frames: int, height: int, width: int, text_length: int) -> float:
    """FLOPs of one forward pass for one sample on a latent grid ``frames x height x width``.

    ``config``: constructor arguments (missing ones take their defaults). Counts every matmul as
    ``2 * m * n * k``: the linear layers per video token and per text token, plus attention
    (``Q K^T`` and ``A V``: ``4 * queries * keys * hidden_size`` a layer) for self- and cross-attention.
    Norms, rotary, modulation and the pooled text (once per sample) are negligible and left out.
    Training is about 3x this.
    """
    parameters = inspect.signature(DiTNetwork.__init__).parameters
    values = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    values.update(config)
    hidden = values["hidden_size"]
    layers = values["num_layers"]
    mlp_hidden = int(hidden * values["mlp_ratio"])
    patch_volume = values["patch_size_t"] * values["patch_size"] ** 2
    out_channels = values["out_channels"] or values["in_channels"]
    tokens = (frames // values["patch_size_t"]) * (height // values["patch_size"]) * (width // values["patch_size"])
    per_video_token = (
        values["in_channels"] * patch_volume * hidden
        + hidden * out_channels * patch_volume
        + layers * (6 * hidden * hidden + 2 * hidden * mlp_hidden)  # qkv, out, cross q, cross out, mlp
        + (3 * POSITION_FEATURES * hidden if values["absolute_positions"] else 0)
    )
    per_text_token = values["text_hidden_size"] * hidden + hidden * hidden + layers * 2 * hidden * hidden
    attention_flops = layers * 4 * hidden * tokens * (tokens + text_length)
    return 2.0 * (tokens * per_video_token + text_length * per_text_token) + attention_flops



# the diffusers class only when asked for (its import costs seconds: diffusers' utilities, peft)
__getattr__ = diffusers_class_getattr(__name__, "VideoDiffusionTransformer", "genvid.models.dit_diffusers")
