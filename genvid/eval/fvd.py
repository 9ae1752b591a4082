"""Fréchet video distance with features from a local transformers VideoMAE folder.

FVD (Unterthiner et al., 2018) fits a Gaussian to the features of each set of clips and reports
the Fréchet distance between the two Gaussians: ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2)``.

Which published variant this is: the *content-debiased* FVD of Ge et al., "On the Content Bias in
Fréchet Video Distance" (CVPR 2024), which replaces the classic I3D network (trained with labels
on Kinetics-400, whose features favour per-frame appearance over motion) by a self-supervised
VideoMAE encoder. Their recipe, followed here: the first 16 consecutive frames of each clip,
every frame resized (bilinear, aspect ratio not kept) to the network's square input, pixels in
[0, 1], and the encoder tokens mean-pooled (then the checkpoint's ``fc_norm`` where it has one)
into one vector per clip. Differences to know when comparing with a paper:

* the network is whatever VideoMAE folder you give; cd-FVD's figures use VideoMAE-v2 ViT-g
  (self-supervised on a hybrid unlabelled set, fine-tuned on Something-Something v2). A
  VideoMAE-base checkpoint gives distances on another scale: compare figures from one network only.
* classic FVD (StyleGAN-V / the TF-hub I3D) uses I3D logits of 16 frames at 224x224 in [-1, 1];
  that network is not available offline and is not emulated here.
* a folder with a ``preprocessor_config.json`` that asks for normalisation (``do_normalize``)
  gets its ``image_mean`` / ``image_std`` applied, as that checkpoint was trained with them;
  without one the pixels stay in [0, 1] as in cd-FVD.
* clips shorter than the network's frame count repeat their last frame (cd-FVD drops them).

The distance is biased upwards for small sets (the covariance of a few clips is noisy): report
the number of clips with the figure and compare runs of equal size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from tqdm.auto import tqdm

from genvid.errors import GenvidError
from genvid.eval.local_models import check_rgb_clip, local_config


def _normalisation(folder: Path) -> tuple[list[float], list[float]] | None:
    """``(mean, std)`` from the folder's preprocessor config when it asks for normalisation."""
    config_path = folder / "preprocessor_config.json"
    if not config_path.is_file():
        return None
    config = json.loads(config_path.read_text())
    if not config.get("do_normalize", False):
        return None
    return list(config["image_mean"]), list(config["image_std"])


@dataclass
class VideoFeatureModel:
    """A VideoMAE encoder and the input it expects (``num_frames`` frames of ``size`` x ``size``)."""

    network: torch.nn.Module
    final_norm: torch.nn.Module | None
    num_frames: int
    size: int
    normalisation: tuple[list[float], list[float]] | None

    @classmethod
    def from_folder(cls, path: str | Path, device="cpu", dtype=torch.float32) -> "VideoFeatureModel":
        """Load a transformers ``VideoMAEModel`` or ``VideoMAEForVideoClassification`` folder offline."""
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEModel

        folder, config = local_config(path, VideoMAEConfig, "VideoMAE feature model")
        architectures = config.architectures or []
        if "VideoMAEForVideoClassification" in architectures:
            classifier = VideoMAEForVideoClassification.from_pretrained(folder, local_files_only=True, dtype=dtype)
            network, final_norm = classifier.videomae, classifier.fc_norm
        else:
            network, final_norm = VideoMAEModel.from_pretrained(folder, local_files_only=True, dtype=dtype), None
        network = network.to(device).eval()
        final_norm = final_norm.to(device).eval() if final_norm is not None else None
        return cls(network, final_norm, config.num_frames, config.image_size, _normalisation(folder))

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def prepare(self, video: torch.Tensor) -> torch.Tensor:
        """One ``(C, T, H, W)`` clip in [-1, 1] -> the network's ``(num_frames, C, size, size)`` input."""
        check_rgb_clip(video)
        frames = video[:, : self.num_frames]
        if frames.shape[1] < self.num_frames:
            repeat = frames[:, -1:].expand(-1, self.num_frames - frames.shape[1], -1, -1)
            frames = torch.cat([frames, repeat], dim=1)
        frames = rearrange((frames.float() + 1) / 2, "c t h w -> t c h w")
        frames = F.interpolate(frames, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.normalisation is not None:
            mean, std = (torch.tensor(values).view(1, 3, 1, 1) for values in self.normalisation)
            frames = (frames - mean) / std
        return frames

    @torch.no_grad()
    def features(self, clips: Iterable[torch.Tensor], batch_size: int = 8, description: str = "features") -> np.ndarray:
        """``(N, D)`` float64 features, one row per clip, computed ``batch_size`` clips at a time."""
        dtype = next(self.network.parameters()).dtype
        rows: list[np.ndarray] = []
        batch: list[torch.Tensor] = []

        def flush():
            inputs = torch.stack(batch).to(self.device, dtype)
            tokens = self.network(pixel_values=inputs).last_hidden_state
            pooled = tokens.mean(dim=1)
            if self.final_norm is not None:
                pooled = self.final_norm(pooled)
            rows.append(pooled.double().cpu().numpy())
            batch.clear()

        for clip in tqdm(clips, desc=description, unit="clip", leave=False):
            batch.append(self.prepare(clip))
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        if not rows:
            raise GenvidError("no clips to compute features of")
        return np.concatenate(rows)


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``(N, D)`` features, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise GenvidError(f"FVD needs at least 2 clips per set, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean_a, covariance_a, mean_b, covariance_b, epsilon: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians, with scipy's matrix square root in float64.

    The product of two covariances from few samples is singular; when the square root comes back
    non-finite, ``epsilon`` is added to both diagonals and it is taken again. A small imaginary part
    (round-off of a matrix that is similar to a PSD one) is dropped; a large one is an error.
    """
    from scipy import linalg

    mean_a, mean_b = np.atleast_1d(np.asarray(mean_a, np.float64)), np.atleast_1d(np.asarray(mean_b, np.float64))
    covariance_a, covariance_b = np.atleast_2d(np.asarray(covariance_a, np.float64)), np.atleast_2d(np.asarray(covariance_b, np.float64))
    if mean_a.shape != mean_b.shape or covariance_a.shape != covariance_b.shape:
        raise GenvidError(f"feature statistics differ in size: {mean_a.shape} vs {mean_b.shape}")
    root = linalg.sqrtm(covariance_a @ covariance_b)
    if not np.isfinite(root).all():
        offset = np.eye(len(covariance_a)) * epsilon
        root = linalg.sqrtm((covariance_a + offset) @ (covariance_b + offset))
    if np.iscomplexobj(root):
        largest = np.abs(root.imag).max()
        if largest > 1e-3 * max(1.0, np.abs(root.real).max()):
            raise GenvidError(f"matrix square root has an imaginary part of {largest:.3g}: the statistics are not covariances")
        root = root.real
    difference = mean_a - mean_b
    return float(difference @ difference + np.trace(covariance_a) + np.trace(covariance_b) - 2 * np.trace(root))


def fvd_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


def fvd(model: VideoFeatureModel, clips_a: Iterable[torch.Tensor], clips_b: Iterable[torch.Tensor], batch_size: int = 8) -> float:
    """FVD between two sets of ``(C, T, H, W)`` clips in [-1, 1]."""
    return fvd_from_features(
        model.features(clips_a, batch_size, "features (real)"), model.features(clips_b, batch_size, "features (generated)")
    )
