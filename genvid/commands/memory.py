"""Refusing requests that cannot fit, before anything is allocated.

An estimate of the bytes a request needs (from frames x height x width x batch and the model's
sizes) is compared with the memory this machine (or GPU) has free. The estimate counts what
cannot be avoided, so it errs low: a refusal means the request would surely not fit. Without it
an oversized request is killed by the kernel, which on a shared machine can take other work down.
"""

from __future__ import annotations

import os
from pathlib import Path

from genvid.errors import GenvidError

FLOAT_BYTES = 4
# decoded videos live as a few float copies at once: the decoder output, its clamp, the
# pipeline's [0, 1] frames and the CLI's (C, T, H, W) view back to [-1, 1]
VIDEO_COPIES = 4
# a full-resolution tokenizer stage holds about this many feature maps (input, norm, conv output)
STAGE_MAPS = 3
# a transformer block keeps about this many hidden-size vectors per token (q, k, v, out, 4x MLP)
BLOCK_VECTORS = 10


def _cgroup_free() -> int | None:
    # a container's own limit, which the kernel enforces before the machine runs out
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def available_bytes(device=None) -> int | None:
    """Free memory on ``device``: the GPU's free memory, or for the CPU the least of the machine's
    available memory (psutil, else /proc/meminfo, else sysconf) and the container's limit."""
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    free = None
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        if free is None:
            try:
                free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                free = None
    limits = [value for value in (free, _cgroup_free()) if value is not None]
    return min(limits) if limits else None


def gigabytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB"


def video_bytes(batch: int, frames: int, height: int, width: int) -> int:
    return batch * frames * height * width * 3 * FLOAT_BYTES


def tokenizer_factors(config: dict) -> tuple[int, int]:
    """(temporal, spatial) compression a saved VideoTokenizer config describes."""
    multipliers = config.get("channel_multipliers") or [1, 1, 1, 1]
    spatial = config.get("spatial_compression") or 2 ** (len(multipliers) - 1)
    return int(config.get("temporal_compression") or 4), int(spatial)


def tokenizer_bytes(tokenizer_config: dict, batch: int, frames: int, height: int, width: int) -> int:
    """Full-resolution feature maps of one chunk (the tokenizer streams a clip in chunks of frames)."""
    channels = int(tokenizer_config.get("base_channels", 64)) * int((tokenizer_config.get("channel_multipliers") or [1])[0])
    temporal = tokenizer_factors(tokenizer_config)[0]
    chunk_frames = min(frames, 2 * temporal)  # encode default: 2 latent frames per chunk
    return batch * chunk_frames * height * width * channels * STAGE_MAPS * FLOAT_BYTES


def transformer_bytes(transformer_config: dict, streams: int, tokens: int, kind: str) -> int:
    """Activations of one block (DiT) or the key/value cache of every layer (AR LM)."""
    hidden = int(transformer_config.get("hidden_size", 512))
    if kind == "ar":
        layers = int(transformer_config.get("num_layers", 1))
        return streams * layers * 2 * tokens * hidden * FLOAT_BYTES
    return streams * tokens * hidden * BLOCK_VECTORS * FLOAT_BYTES


def weight_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*.safetensors"))


def refuse_if_too_big(what: str, needed: int, device=None) -> None:
    """One line with the estimate when ``needed`` bytes are more than ``device`` has free."""
    free = available_bytes(device)
    if free is not None and needed > free:
        where = "this machine" if device is None or str(device) == "cpu" else str(device)
        raise GenvidError(
            f"{what} needs about {gigabytes(needed)} of memory (estimated), more than the {gigabytes(free)} "
            f"free on {where}; ask for fewer frames, a smaller size or a smaller batch"
        )
