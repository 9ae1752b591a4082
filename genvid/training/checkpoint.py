"""Training checkpoints: safetensors + JSON, written atomically, the last N kept.

Layout of ``OUTPUT_DIR/checkpoints/step_00000100/``::

    model.safetensors       the unwrapped model's weights
    ema.safetensors         the EMA shadow weights (when EMA is on)
    optimizer.safetensors   optimizer tensors (flattened)  + optimizer.json (the rest)
    trainer.json            step, scheduler, counters, the run's config; written last

A checkpoint is written into ``.step_00000100.tmp`` and renamed when complete, so a run killed
while saving leaves only a temporary folder that ``--resume auto`` ignores. FSDP runs write
``shards/`` (genvid.training.sharded_checkpoint: every rank its own safetensors shards, loadable
at any number of processes) and ``optimizer.json`` instead of the first three files; DeepSpeed
runs save through ``accelerator.save_state``. ``trainer.json`` says which (``format``) and is the
last file written in every case.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genvid.errors import GenvidError
from genvid.training.lora import load_weights, save_weights
from genvid.training.sharded_checkpoint import load_sharded, load_sharded_weights, save_sharded

STEP_PATTERN = re.compile(r"^step_(\d+)$")
MARKER = "trainer.json"


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (a folder without its trainer.json is not complete)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = STEP_PATTERN.match(path.name)
        if match and path.is_dir() and (path / MARKER).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = complete_checkpoints(output_dir)
    return found[-1] if found else None


def resolve_resume(resume: str | None, output_dir: str | Path) -> Path | None:
    """``None`` -> start fresh; "auto" -> newest complete checkpoint or fresh; else a path."""
    if not resume:
        return None
    if resume == "auto":
        return latest_checkpoint(output_dir)
    path = Path(resume)
    if not (path / MARKER).is_file():
        raise FileNotFoundError(f"not a complete checkpoint (no {MARKER}): {path}")
    return path


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    rest: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, values in state["state"].items():
        plain = {}
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain[name] = value
        rest["state"][str(index)] = plain
    return tensors, rest


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(index): dict(values) for index, values in rest["state"].items()}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(
    accelerator,
    output_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    ema=None,
    keep_last: int = 3,
    sharded: bool = False,
) -> Path:
    """Every rank calls this. ``sharded``: the DCP format of FSDP runs."""
    root = checkpoint_root(output_dir)
    final = root / f"step_{step:08d}"
    temporary = root / f".step_{step:08d}.tmp"
    layout = "dcp" if sharded else "safetensors"
    if accelerator.distributed_type.value in ("DEEPSPEED", "MEGATRON_LM"):
        layout = "accelerate"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        if temporary.exists():
            shutil.rmtree(temporary)
        temporary.mkdir()
    accelerator.wait_for_everyone()
    if layout == "accelerate":
        accelerator.save_state(str(temporary), safe_serialization=True)
    elif layout == "dcp":
        save_sharded(temporary, model, optimizer, ema, accelerator.is_main_process)
    accelerator.wait_for_everyone()  # every rank's shards are on disk before the marker
    if accelerator.is_main_process:
        if layout == "safetensors":
            save_weights(accelerator.unwrap_model(model), temporary / "model.safetensors")
            tensors, rest = _flatten_optimizer(optimizer.state_dict())
            save_file(tensors, str(temporary / "optimizer.safetensors"))
            (temporary / "optimizer.json").write_text(json.dumps(rest))
        if ema is not None and layout != "dcp":
            save_file(ema.state_dict(), str(temporary / "ema.safetensors"))
        (temporary / MARKER).write_text(json.dumps({**trainer_state, "step": step, "format": layout}, indent=1))
        _fsync_tree(temporary)
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        for old in complete_checkpoints(output_dir)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _fsync_tree(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())


def checkpoint_format(trainer_state: dict[str, Any]) -> str:
    """"safetensors", "dcp" or "accelerate" (checkpoints written before the key say ``sharded``)."""
    return trainer_state.get("format") or ("accelerate" if trainer_state.get("sharded") else "safetensors")


def load_checkpoint(accelerator, path: Path, model, optimizer, ema=None, layout=None) -> dict[str, Any]:
    """Restore model, optimizer and EMA in place; return the trainer state of ``trainer.json``."""
    trainer_state = json.loads((path / MARKER).read_text())
    saved_as = checkpoint_format(trainer_state)
    if saved_as == "accelerate":
        accelerator.load_state(str(path))
    elif saved_as == "dcp":
        load_sharded(path, model, optimizer, ema)
        return trainer_state
    elif layout is not None and layout.shards_weights:
        raise GenvidError(f"{path} is a full (not sharded) checkpoint: resume it without FSDP (training.fsdp=false)")
    else:
        missing, unexpected = load_weights(accelerator.unwrap_model(model), path / "model.safetensors", strict=False)
        if missing or unexpected:
            raise ValueError(
                f"checkpoint {path} does not match the model: missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}"
            )
        rest = json.loads((path / "optimizer.json").read_text())
        tensors = load_file(str(path / "optimizer.safetensors"))
        optimizer.load_state_dict(_unflatten_optimizer(tensors, rest))
    if ema is not None:
        ema_file = path / "ema.safetensors"
        if ema_file.is_file():
            ema.load_state_dict(load_file(str(ema_file)))
    return trainer_state


def load_model_weights(path: Path, model: torch.nn.Module, ema_decay: float = 0.0, use_ema: bool = True) -> bool:
    """Load a checkpoint's weights into a bare model (for export); EMA weights when present and asked.
    Returns whether EMA weights were used."""
    from genvid.training.ema import ExponentialMovingAverage

    trainer_state = json.loads((path / MARKER).read_text())
    if checkpoint_format(trainer_state) == "dcp":
        ema = ExponentialMovingAverage(model, ema_decay) if use_ema and ema_decay > 0 else None
        load_sharded_weights(path, model, ema)
        if ema is not None:
            ema.copy_to(model)
        return ema is not None
    if (path / "model.safetensors").is_file():
        load_weights(model, path / "model.safetensors", strict=True)
    else:
        raise FileNotFoundError(f"{path} has no model.safetensors (DeepSpeed checkpoints: export from the run's final folder)")
    ema_file = path / "ema.safetensors"
    if use_ema and ema_file.is_file():
        ema = ExponentialMovingAverage(model, ema_decay or 0.999)
        ema.load_state_dict(load_file(str(ema_file)))
        ema.copy_to(model)
        return True
    return False
