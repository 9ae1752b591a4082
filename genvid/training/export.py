"""Turn a training checkpoint into a save_pretrained folder (what the task exports)."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from genvid.errors import GenvidError
from genvid.training.checkpoint import MARKER, checkpoint_format, latest_checkpoint, load_model_weights


def export_checkpoint(checkpoint: Path, output: Path, use_ema: bool = True) -> Path:
    if not (checkpoint / MARKER).is_file():
        newest = latest_checkpoint(checkpoint)
        if newest is None:
            raise GenvidError(f"no complete checkpoint at {checkpoint}")
        checkpoint = newest
    if output.exists() and any(output.iterdir()):
        raise GenvidError(f"output folder {output} exists and is not empty; choose another")
    from genvid.training.loop import build_task

    state = json.loads((checkpoint / MARKER).read_text())
    if checkpoint_format(state) == "accelerate":
        raise GenvidError(f"{checkpoint} was saved by DeepSpeed; export from the run's final folder")
    config = OmegaConf.create(state["config"])
    task, _, training = build_task(config)
    model = task.build_model()
    load_model_weights(checkpoint, model, training.ema_decay, use_ema=use_ema)
    model.eval()
    task.export(model, output)
    return output
