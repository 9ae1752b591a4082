"""A diffusers video VAE (``AutoencoderKLWan``, ``AutoencoderKLCogVideoX``,
``AutoencoderKLLTXVideo``) behind the continuous-tokenizer interface genvid's DiT and diffusion
pipeline use (``encode`` / ``decode`` / ``latent_shape`` / ``normalize_latents`` ...).

``DiffusersVideoAutoencoder.from_vae_folder(path)`` wraps a saved VAE folder; the wrapper saves and
loads like any genvid model (``save_pretrained`` writes its config, naming the VAE class and its
config, and the VAE's weights under ``vae.``), so a pipeline keeps it as its ``video_tokenizer``.
Latent statistics come from the VAE, in the form each family keeps them: Wan's per-channel
``latents_mean`` / ``latents_std`` config, LTX-Video's ``latents_mean`` / ``latents_std`` buffers
and ``scaling_factor``, CogVideoX's ``scaling_factor``; normalizing is ``(z - mean) / std`` with
those folded into one mean and one std per channel.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

VAE_CLASSES = ("AutoencoderKLWan", "AutoencoderKLCogVideoX", "AutoencoderKLLTXVideo")


def vae_class_name(folder: str | Path) -> str | None:
    """The diffusers VAE class a saved folder holds (one of VAE_CLASSES), else None."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        return None
    name = json.loads(config.read_text()).get("_class_name")
    return name if name in VAE_CLASSES else None


def _vae_class(name: str):
    import diffusers

    if name not in VAE_CLASSES:
        raise ValueError(f"vae_class must be one of {', '.join(VAE_CLASSES)}, got {name!r}")
    return getattr(diffusers, name)


def _compression(vae) -> tuple[int, int]:
    """(spatial, temporal) compression of a VAE from its config (small test configs included)."""
    config = vae.config
    name = type(vae).__name__
    if name == "AutoencoderKLWan":
        return 2 ** (len(config.dim_mult) - 1), 2 ** sum(bool(flag) for flag in config.temperal_downsample)
    if name == "AutoencoderKLCogVideoX":
        stages = len(config.block_out_channels) - 1
        return 2**stages, 2 ** min(int(math.log2(config.temporal_compression_ratio)), stages)
    return int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)


def _statistics(vae) -> tuple[list[float], list[float]]:
    """Per-channel mean and std that bring the VAE's latents to about zero mean, unit variance."""
    name = type(vae).__name__
    channels = vae.config.latent_channels if name != "AutoencoderKLWan" else vae.config.z_dim
    if name == "AutoencoderKLWan":
        mean, std = list(vae.config.latents_mean), list(vae.config.latents_std)
        if len(mean) != channels or len(std) != channels:
            raise ValueError(
                f"AutoencoderKLWan config: latents_mean / latents_std have {len(mean)} / {len(std)} values "
                f"for z_dim={channels}"
            )
        return mean, std
    scaling = float(vae.config.scaling_factor)
    if name == "AutoencoderKLLTXVideo":
        return vae.latents_mean.tolist(), (vae.latents_std / scaling).tolist()
    return [0.0] * channels, [1.0 / scaling] * channels


class DiffusersVideoAutoencoder(ModelMixin, ConfigMixin):
    """A continuous video tokenizer made of a diffusers video VAE (see the module docstring)."""

    is_discrete = False

    @register_to_config
    def __init__(self, vae_class: str = "AutoencoderKLWan", vae_config: dict | None = None,
                 latent_mean: list | None = None, latent_std: list | None = None):
        super().__init__()
        self.vae = _vae_class(vae_class).from_config(dict(vae_config or {}))
        self.spatial_factor, self.temporal_factor = _compression(self.vae)
        if latent_mean is None or latent_std is None:
            mean, std = _statistics(self.vae)
            self.register_to_config(latent_mean=mean, latent_std=std)

    @classmethod
    def from_vae(cls, vae) -> "DiffusersVideoAutoencoder":
        """Wrap a VAE instance (its weights are kept, not copied)."""
        name = type(vae).__name__
        config = {key: value for key, value in dict(vae.config).items() if not key.startswith("_")}
        wrapper = cls(vae_class=name, vae_config=config)
        wrapper.vae = vae
        mean, std = _statistics(vae)
        wrapper.register_to_config(latent_mean=mean, latent_std=std)
        return wrapper

    @classmethod
    def from_vae_folder(cls, folder: str | Path) -> "DiffusersVideoAutoencoder":
        name = vae_class_name(folder)
        if name is None:
            raise ValueError(f"{folder} holds no saved {' / '.join(VAE_CLASSES)} (its config.json names another class)")
        return cls.from_vae(_vae_class(name).from_pretrained(str(folder)))

    # ------------------------------------------------------------------ shapes
    @property
    def latent_channels(self) -> int:
        return len(self.config.latent_mean)

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        step, factor = self.temporal_factor, self.spatial_factor
        if num_frames < 1 or (num_frames - 1) % step:
            raise ValueError(f"video has {num_frames} frames; this {self.config.vae_class} needs 1 + {step}k frames")
        if height % factor or width % factor or height < factor or width < factor:
            raise ValueError(f"video frames are {height}x{width}; height and width must be multiples of {factor}")
        return 1 + (num_frames - 1) // step, height // factor, width // factor

    def num_frames_for(self, latent_frames: int) -> int:
        return 1 + self.temporal_factor * (latent_frames - 1)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None,
               **unused) -> torch.Tensor:
        """Video ``(B, 3, T, H, W)`` in [-1, 1] -> the posterior mean (or a sample) ``(B, c, t, h, w)``."""
        if video.ndim != 5:
            raise ValueError(f"video must be a tensor (B, C, T, H, W), got {tuple(video.shape)}")
        self.latent_shape(*video.shape[2:])
        posterior = self.vae.encode(video.to(self.dtype)).latent_dist
        return posterior.sample(generator) if sample else posterior.mode()

    def decode(self, latents: torch.Tensor, **unused) -> torch.Tensor:
        if latents.ndim != 5 or latents.shape[1] != self.latent_channels:
            raise ValueError(f"latents must be (B, {self.latent_channels}, t, h, w), got {tuple(latents.shape)}")
        return self.vae.decode(latents.to(self.dtype)).sample

    # ------------------------------------------------------------------ statistics
    def _statistic(self, values, reference: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(values, dtype=reference.dtype, device=reference.device).view(1, -1, 1, 1, 1)

    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self._statistic(self.config.latent_mean, latents)) / self._statistic(self.config.latent_std, latents)

    def denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents * self._statistic(self.config.latent_std, latents) + self._statistic(self.config.latent_mean, latents)

    # ------------------------------------------------------------------ memory (the VAE's own)
    tiling = None
    slicing = False

    def enable_tiling(self, tile_size: int = 256, overlap: int = 64) -> None:
        """The VAE's own spatial tiling (its own tile sizes: diffusers' defaults)."""
        self.vae.enable_tiling()
        self.tiling = (tile_size, overlap)

    def disable_tiling(self) -> None:
        self.vae.disable_tiling()
        self.tiling = None

    def enable_slicing(self) -> None:
        self.vae.enable_slicing()
        self.slicing = True

    def disable_slicing(self) -> None:
        self.vae.disable_slicing()
        self.slicing = False
