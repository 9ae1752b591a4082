"""``VideoTokenizer``: the causal video autoencoder with a Gaussian, FSQ or LFQ bottleneck.

Example::

    import torch
    from tokenizer import VideoTokenizer

    tokenizer = VideoTokenizer(bottleneck="fsq", base_channels=16, channel_multipliers=(1, 2, 2, 4))
    video = torch.rand(1, 3, 17, 64, 64) * 2 - 1          # B, C, T, H, W in [-1, 1]
    ids = tokenizer.tokenize(video)                       # (1, 5, 8, 8)
    reconstruction = tokenizer.detokenize(ids)            # (1, 3, 17, 64, 64)

Clips are encoded chunk by chunk (first frame alone, then groups of ``4 * chunk_size``
frames, 8 by default) and decoded one latent frame at a time, carrying each causal convolution's last frames
between chunks: the result equals whole-clip processing and peak memory does not grow with the
clip length.

This module holds the network (:class:`TokenizerNetwork`, torch only); ``VideoTokenizer``, the
diffusers ``ModelMixin`` / ``ConfigMixin`` class everything saves and loads, is that network with
diffusers' config and loading machinery (tokenizer.model_diffusers), imported from here on first
use, so a caller that only runs the network (``genvid generate``) never imports diffusers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .autoencoder import Decoder, Encoder
from .bottlenecks import BottleneckOutput, FiniteScalarQuantizer, GaussianBottleneck, LookupFreeQuantizer
from .layers import set_streaming
from .lazy import diffusers_class_getattr
from .tiling import tiled_apply

BOTTLENECKS = ("gaussian", "fsq", "lfq")
DEFAULT_LATENT_CHANNELS = {"gaussian": 16, "lfq": 18}


@dataclass
class AutoencoderOutput:
    reconstruction: torch.Tensor
    latents: torch.Tensor
    losses: dict[str, torch.Tensor]
    ids: torch.Tensor | None = None


class TokenizerNetwork(nn.Module):
    """Causal video tokenizer (the network of ``VideoTokenizer``, the class users build): ``T = 1 + 4k``
    frames of ``H x W`` -> ``1 + k`` latent frames of
    ``H/8 x W/8`` (spatial 16 with five channel multipliers).

    Args:
        bottleneck: "gaussian" (continuous, KL), "fsq" or "lfq" (discrete).
        latent_channels: Gaussian channels (default 16); LFQ bits (codebook ``2**bits``, default 18);
            FSQ: must equal ``len(fsq_levels)`` if given.
        base_channels, channel_multipliers: widths of the stages; ``len(channel_multipliers) - 1``
            spatial halvings, so the spatial compression is ``2 ** (len - 1)``.
        num_res_blocks: residual blocks per stage; num_mid_blocks: causal 3D blocks at the bottom.
        causal_3d_stages: how many of the lowest-resolution stages mix time (3D convs); the others
            are per-frame 2D convolutions (fast at high resolution).
        temporal_compression: 1, 2 or 4 (time halvings in the lowest-resolution transitions).
        fsq_levels: levels per FSQ channel; lfq_entropy_temperature: softness of LFQ's entropy terms.
        latent_mean, latent_std: statistics for :meth:`normalize_latents` (scalars or per channel).
        norm_groups: at most this many groups per per-frame GroupNorm. Narrow models on plain
            backgrounds want few (1 = normalise the whole frame): per-channel groups normalise a
            small object's colour away.
        cell_skip: a linear path around the networks: each latent cell's mean colour, projected,
            is added to the encoder's output, and each latent, projected, to its pixels in the
            decoder's output. A young model then carries colour from the first steps (a small
            tokenizer on small objects otherwise spends thousands of steps on the background).
            On by default: it won where it was measured (the default tokenizers, same recipe,
            held-out real clips: 21.7 dB gaussian / 19.5 dB fsq with it, 16.3 / 13.4 without).
            Saved tokenizers record their value, so weights trained without it load as they were.
        wavelet_levels: levels of a per-frame 2D Haar transform before the encoder and its exact
            inverse after the decoder (tokenizer.wavelet; spatial only, so causal). Each level
            halves the frames the network sees and multiplies the spatial compression by 2, so
            ``channel_multipliers`` needs one entry fewer per level for the same compression.
    """

    _supports_gradient_checkpointing = True
    # the repeated blocks (one FSDP unit each under genvid's FSDP; the stages are not called as modules)
    _no_split_modules = ["ResBlock2d", "ResBlock3d"]

    def __init__(
        self,
        bottleneck: str = "gaussian",
        latent_channels: int | None = None,
        in_channels: int = 3,
        base_channels: int = 64,
        channel_multipliers: Sequence[int] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        num_mid_blocks: int = 2,
        causal_3d_stages: int = 2,
        spatial_compression: int | None = None,
        temporal_compression: int = 4,
        fsq_levels: Sequence[int] = (8, 8, 8, 5, 5, 5),
        lfq_entropy_temperature: float = 1.0,
        latent_mean: float | Sequence[float] = 0.0,
        latent_std: float | Sequence[float] = 1.0,
        norm_groups: int = 32,
        cell_skip: bool = True,
        wavelet_levels: int = 0,
    ):
        super().__init__()
        if bottleneck not in BOTTLENECKS:
            raise ValueError(f"bottleneck must be one of {', '.join(BOTTLENECKS)}, got {bottleneck!r}")
        channel_multipliers = tuple(channel_multipliers)
        if not isinstance(wavelet_levels, int) or not 0 <= wavelet_levels <= 3:
            raise ValueError(f"wavelet_levels must be 0, 1, 2 or 3, got {wavelet_levels!r}")
        implied_spatial = 2 ** (len(channel_multipliers) - 1 + wavelet_levels)
        if spatial_compression is not None and spatial_compression != implied_spatial:
            needed = int(math.log2(spatial_compression)) + 1 - wavelet_levels if spatial_compression > 0 else "?"
            raise ValueError(
                f"spatial_compression={spatial_compression} needs {needed} channel_multipliers, got {len(channel_multipliers)}"
            )
        if temporal_compression not in (1, 2, 4):
            raise ValueError(f"temporal_compression must be 1, 2 or 4, got {temporal_compression}")
        temporal_halvings = int(math.log2(temporal_compression))
        if temporal_halvings > len(channel_multipliers) - 1:
            raise ValueError("temporal_compression needs at least as many stage transitions as time halvings")
        if not 0 <= causal_3d_stages <= len(channel_multipliers):
            raise ValueError(f"causal_3d_stages must be in 0..{len(channel_multipliers)}, got {causal_3d_stages}")

        if bottleneck == "gaussian":
            self.latent_bottleneck = GaussianBottleneck(latent_channels or DEFAULT_LATENT_CHANNELS["gaussian"])
        elif bottleneck == "lfq":
            self.latent_bottleneck = LookupFreeQuantizer(latent_channels or DEFAULT_LATENT_CHANNELS["lfq"], lfq_entropy_temperature)
        else:
            if latent_channels is not None and latent_channels != len(fsq_levels):
                raise ValueError(f"fsq latent_channels must equal len(fsq_levels)={len(fsq_levels)}, got {latent_channels}")
            self.latent_bottleneck = FiniteScalarQuantizer(tuple(fsq_levels))

        self.spatial_factor = implied_spatial
        self.temporal_factor = temporal_compression
        self.encoder = Encoder(in_channels, self.latent_bottleneck.input_channels, base_channels, channel_multipliers,
                               num_res_blocks, num_mid_blocks, temporal_halvings, causal_3d_stages, norm_groups, cell_skip,
                               wavelet_levels)
        self.decoder = Decoder(self.latent_bottleneck.latent_channels, in_channels, base_channels, channel_multipliers,
                               num_res_blocks, num_mid_blocks, temporal_halvings, causal_3d_stages, norm_groups, cell_skip,
                               wavelet_levels)

    # ------------------------------------------------------------------ memory layout
    def to_channels_last(self) -> "VideoTokenizer":
        """Keep weights and activations channels-last (NHWC / NDHWC), the layout tensor cores
        prefer; switching between the per-frame and the video layout is then a free view."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
            elif isinstance(module, nn.Conv3d):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last_3d)
        self.channels_last = True
        return self

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "channels_last", False):
            return x.contiguous(memory_format=torch.channels_last_3d)
        return x

    # ------------------------------------------------------------------ properties and shapes
    @property
    def is_discrete(self) -> bool:
        return self.latent_bottleneck.is_discrete

    @property
    def latent_channels(self) -> int:
        return self.latent_bottleneck.latent_channels

    @property
    def codebook_size(self) -> int:
        if not self.is_discrete:
            raise ValueError("codebook_size: this tokenizer has a continuous (gaussian) bottleneck, not a codebook")
        return self.latent_bottleneck.codebook_size

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder.last_layer

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """``(t, h, w)`` of the latents for a clip; a clear ValueError when the clip does not fit."""
        step = self.temporal_factor
        if num_frames < 1 or (num_frames - 1) % step:
            hint = f"e.g. {1 + step * max((num_frames - 1) // step, 0)} or {1 + step * (max(num_frames - 1, 0) // step + 1)}"
            raise ValueError(f"video has {num_frames} frames; the tokenizer needs 1 + {step}k frames ({hint})")
        factor = self.spatial_factor
        if height % factor or width % factor or height < factor or width < factor:
            raise ValueError(f"video frames are {height}x{width}; height and width must be multiples of {factor}")
        return 1 + (num_frames - 1) // step, height // factor, width // factor

    def num_frames_for(self, latent_frames: int) -> int:
        return 1 + self.temporal_factor * (latent_frames - 1)

    def _check_video(self, video: torch.Tensor) -> tuple[int, int, int]:
        if not isinstance(video, torch.Tensor) or video.ndim != 5:
            shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise ValueError(f"video must be a tensor (B, C, T, H, W), got {shape}")
        if video.shape[1] != self.config.in_channels:
            raise ValueError(f"video has {video.shape[1]} channels, the tokenizer expects {self.config.in_channels}")
        return self.latent_shape(*video.shape[2:])

    def _check_latents(self, latents: torch.Tensor) -> None:
        if not isinstance(latents, torch.Tensor) or latents.ndim != 5 or latents.shape[1] != self.latent_channels:
            shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
            raise ValueError(f"latents must be (B, {self.latent_channels}, t, h, w), got {shape}")

    # ------------------------------------------------------------------ training forward
    def forward(self, video: torch.Tensor, sample_posterior: bool = True,
                generator: torch.Generator | None = None) -> AutoencoderOutput:
        """Whole-clip encode -> bottleneck -> decode with the bottleneck's loss terms (for training)."""
        self._check_video(video)
        out = self._bottleneck(self.encoder(video), sample_posterior, generator)
        reconstruction = self.decoder(out.latents)
        return AutoencoderOutput(reconstruction=reconstruction, latents=out.latents, losses=out.losses, ids=out.ids)

    def _bottleneck(self, hidden: torch.Tensor, sample: bool, generator) -> BottleneckOutput:
        if isinstance(self.latent_bottleneck, GaussianBottleneck):
            return self.latent_bottleneck(hidden, sample=sample, generator=generator)
        return self.latent_bottleneck(hidden)

    # ------------------------------------------------------------------ inference API
    def _chunks(self, length: int, first: int, size: int):
        """Index ranges: ``[0, first)`` then steps of ``size``."""
        yield 0, min(first, length)
        for start in range(first, length, size):
            yield start, min(start + size, length)

    def _stream(self, module: nn.Module, x: torch.Tensor, first: int, size: int, progress: bool, what: str):
        if x.shape[2] <= first + size:
            return module(x)  # fits in one pass: no streaming
        chunks = list(self._chunks(x.shape[2], first, size))
        outputs = []
        set_streaming(module, True)
        try:
            for start, end in tqdm(chunks, desc=what, disable=not progress, leave=False):
                outputs.append(module(x[:, :, start:end]))
        finally:
            set_streaming(module, False)
        return torch.cat(outputs, dim=2)

    #: default latent frames per chunk: encode 8 pixel frames at a time, decode one latent frame
    #: (enough work per pass to fill a GPU at video sizes; memory stays flat however long the clip)
    default_encode_chunk = 2
    default_decode_chunk = 1

    def _auto_chunk(self, chunk_size: int | None, default: int) -> int:
        if chunk_size is None:
            return default
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of latent frames, got {chunk_size}")
        return chunk_size

    # ------------------------------------------------------------------ tiling and slicing
    #: (tile_size, overlap) in pixels when tiling is on (enable_tiling), else None
    tiling: tuple[int, int] | None = None
    #: encode / decode one sample of a batch at a time (enable_slicing)
    slicing: bool = False

    def enable_tiling(self, tile_size: int = 256, overlap: int = 64) -> None:
        """Encode and decode frames larger than ``tile_size`` pixels as overlapping tiles blended
        across ``overlap`` pixels (see tokenizer.tiling: approximate, far less memory). Both
        must be multiples of the spatial compression."""
        factor = self.spatial_factor
        if tile_size % factor or overlap % factor or not 0 <= overlap < tile_size:
            raise ValueError(
                f"enable_tiling: tile_size ({tile_size}) and overlap ({overlap}) must be multiples of {factor} "
                f"with 0 <= overlap < tile_size"
            )
        self.tiling = (tile_size, overlap)

    def disable_tiling(self) -> None:
        self.tiling = None

    def enable_slicing(self) -> None:
        """Encode and decode a batch one sample at a time: peak memory of one sample."""
        self.slicing = True

    def disable_slicing(self) -> None:
        self.slicing = False

    def _sliced(self, function, x: torch.Tensor) -> torch.Tensor:
        if self.slicing and x.shape[0] > 1:
            return torch.cat([function(sample) for sample in x.split(1)])
        return function(x)

    def encode_moments(self, video: torch.Tensor, chunk_size: int | None = None, tile_size: int | None = None,
                       tile_overlap: int = 64, progress: bool | None = None) -> torch.Tensor:
        """Raw encoder output (Gaussian: mean and log-variance; discrete: pre-quantization values).
        ``tile_size`` / ``tile_overlap`` in pixels (None: the enable_tiling setting, if any)."""
        latent_frames = self._check_video(video)[0]
        chunk = self._auto_chunk(chunk_size, self.default_encode_chunk)
        show = latent_frames > 8 if progress is None else progress
        if tile_size is None and self.tiling is not None:
            tile_size, tile_overlap = self.tiling

        def run(frames: torch.Tensor) -> torch.Tensor:
            return self._stream(self.encoder, self._layout(frames), 1, chunk * self.temporal_factor, show, "encode")

        def one(part: torch.Tensor) -> torch.Tensor:
            if tile_size:
                return tiled_apply(run, part, tile_size, tile_overlap, self.spatial_factor, upscale=False)
            return run(part)

        return self._sliced(one, video)

    def encode(self, video: torch.Tensor, chunk_size: int | None = None, sample: bool = False,
               generator: torch.Generator | None = None, tile_size: int | None = None, tile_overlap: int = 64,
               progress: bool | None = None) -> torch.Tensor:
        """Video ``(B, C, T, H, W)`` in [-1, 1] -> latents ``(B, c, t, h, w)``.

        Gaussian: the posterior mean (or a sample with ``sample=True``); discrete: quantized values.
        ``chunk_size``: latent frames per chunk after the first frame (None: 2, i.e. 8 frames; a clip
        that fits in the first frame plus one chunk runs in one pass).
        ``tile_size``: pixel tile for very large frames (approximate, see tokenizer.tiling; None:
        the :meth:`enable_tiling` setting).
        """
        moments = self.encode_moments(video, chunk_size, tile_size, tile_overlap, progress)
        return self._bottleneck(moments, sample, generator).latents

    def decode(self, latents: torch.Tensor, chunk_size: int | None = None, tile_size: int | None = None,
               tile_overlap: int = 8, progress: bool | None = None) -> torch.Tensor:
        """Latents ``(B, c, t, h, w)`` -> video ``(B, C, 1 + 4(t-1), 8h, 8w)``; decoded one latent
        frame at a time by default (``chunk_size`` latent frames per chunk otherwise).
        ``tile_size`` / ``tile_overlap`` in latents (None: the :meth:`enable_tiling` setting)."""
        self._check_latents(latents)
        chunk = self._auto_chunk(chunk_size, self.default_decode_chunk)
        show = latents.shape[2] > 8 if progress is None else progress
        if tile_size is None and self.tiling is not None:
            tile_size, tile_overlap = (value // self.spatial_factor for value in self.tiling)

        def run(part: torch.Tensor) -> torch.Tensor:
            return self._stream(self.decoder, self._layout(part), 1, chunk, show, "decode")

        def one(part: torch.Tensor) -> torch.Tensor:
            if tile_size:
                return tiled_apply(run, part, tile_size, tile_overlap, self.spatial_factor, upscale=True)
            return run(part)

        return self._sliced(one, latents)

    def tokenize(self, video: torch.Tensor, chunk_size: int | None = None, **kwargs) -> torch.Tensor:
        """Video -> ids ``(B, t, h, w)`` (discrete bottlenecks only)."""
        self._require_discrete("tokenize")
        return self.latent_bottleneck.latents_to_ids(self.encode(video, chunk_size=chunk_size, **kwargs))

    def detokenize(self, ids: torch.Tensor, chunk_size: int | None = None, **kwargs) -> torch.Tensor:
        """Ids ``(B, t, h, w)`` -> video."""
        self._require_discrete("detokenize")
        return self.decode(self.ids_to_latents(ids), chunk_size=chunk_size, **kwargs)

    def ids_to_latents(self, ids: torch.Tensor) -> torch.Tensor:
        self._require_discrete("ids_to_latents")
        if not isinstance(ids, torch.Tensor) or ids.ndim != 4 or ids.is_floating_point():
            raise ValueError(f"ids must be an integer tensor (B, t, h, w), got {getattr(ids, 'shape', type(ids))}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.codebook_size):
            raise ValueError(f"ids must lie in [0, {self.codebook_size}), got [{int(ids.min())}, {int(ids.max())}]")
        return self.latent_bottleneck.ids_to_latents(ids).to(self.dtype)

    def latents_to_ids(self, latents: torch.Tensor) -> torch.Tensor:
        self._require_discrete("latents_to_ids")
        return self.latent_bottleneck.latents_to_ids(latents)

    def _require_discrete(self, what: str) -> None:
        if not self.is_discrete:
            raise ValueError(f"{what} needs a discrete tokenizer (bottleneck fsq or lfq); this one is gaussian")

    # ------------------------------------------------------------------ latent scaling
    def _statistic(self, value, reference: torch.Tensor) -> torch.Tensor:
        tensor = torch.as_tensor(value, dtype=reference.dtype, device=reference.device)
        if tensor.ndim == 1:
            if tensor.numel() != reference.shape[1]:
                raise ValueError(f"latent statistics have {tensor.numel()} channels, latents have {reference.shape[1]}")
            tensor = tensor.view(1, -1, *([1] * (reference.ndim - 2)))
        return tensor

    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scale latents to about zero mean, unit variance with the stored statistics."""
        return (latents - self._statistic(self.config.latent_mean, latents)) / self._statistic(self.config.latent_std, latents)

    def denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents * self._statistic(self.config.latent_std, latents) + self._statistic(self.config.latent_mean, latents)

    def set_latent_statistics(self, mean, std) -> None:
        """Store statistics in the config (saved by ``save_pretrained``)."""
        as_list = lambda value: value.tolist() if isinstance(value, torch.Tensor) else value  # noqa: E731
        self.register_to_config(latent_mean=as_list(mean), latent_std=as_list(std))

    @torch.no_grad()
    def compute_latent_statistics(self, videos, max_batches: int | None = None) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of ``encode`` over an iterable of video batches."""
        total = total_square = None
        count = 0
        for index, video in enumerate(videos):
            if max_batches is not None and index >= max_batches:
                break
            latents = self.encode(video.to(self.device, self.dtype)).float()
            dims = [0, 2, 3, 4]
            batch_sum, batch_square = latents.sum(dim=dims), latents.pow(2).sum(dim=dims)
            total = batch_sum if total is None else total + batch_sum
            total_square = batch_square if total_square is None else total_square + batch_square
            count += latents.numel() // latents.shape[1]
        if count == 0:
            raise ValueError("compute_latent_statistics: no batches given")
        mean = total / count
        std = (total_square / count - mean.pow(2)).clamp_min(1e-8).sqrt()
        return mean.tolist(), std.tolist()



# the diffusers class only when asked for (its import costs seconds: diffusers' utilities)
__getattr__ = diffusers_class_getattr(__name__, "VideoTokenizer", "tokenizer.model_diffusers")
