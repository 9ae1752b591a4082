"""Transformers model folders the user has on disk: checked before loading, never downloaded."""

from __future__ import annotations

from pathlib import Path

from genvid.errors import GenvidError


def local_config(path: str | Path, config_class, what: str):
    """``(folder, config)`` of a save_pretrained folder holding ``config_class.model_type``, or a
    one-line error naming what is missing or what the folder holds instead."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise GenvidError(f"no {what} at {folder}: expected {folder / 'config.json'} (a transformers save_pretrained folder)")
    if not any(folder.glob("*.safetensors")):
        raise GenvidError(f"no {what} weights in {folder}: expected model.safetensors (safetensors only)")
    config = config_class.from_pretrained(folder, local_files_only=True)
    if config.model_type != config_class.model_type:
        raise GenvidError(f"{folder} holds a {config.model_type!r} model, not a {what}")
    return folder, config


def check_rgb_clip(video) -> None:
    """What the learned metrics take: one ``(3, T, H, W)`` clip."""
    if video.ndim != 4 or video.shape[0] != 3:
        raise GenvidError(f"expected an RGB clip (3, T, H, W), got shape {tuple(video.shape)}")
