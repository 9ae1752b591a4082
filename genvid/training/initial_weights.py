"""Start a training run from saved weights (``task_options.initial_weights``).

A fine-tune or a later stage of a recipe starts from the weights of an earlier export with a
fresh optimizer and schedule, unlike ``--resume``, which continues a run where it stopped. The
saved model's architecture must match the ``model:`` section; a mismatch is a one-line error
naming the first weight that differs, never a half-loaded model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from genvid.errors import GenvidError

logger = logging.getLogger("genvid.training")

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


def find_weights(path: str | Path, component: str) -> Path:
    """The safetensors file of a model folder, or of ``component`` inside a pipeline folder."""
    folder = Path(path)
    for candidate in (folder / WEIGHTS_NAME, folder / component / WEIGHTS_NAME):
        if candidate.is_file():
            return candidate
    raise GenvidError(
        f"task_options.initial_weights: no {WEIGHTS_NAME} in {folder} or {folder / component} "
        f"(give a save_pretrained model folder or a pipeline folder with a {component}/)"
    )


def load_matching_weights(module: nn.Module, weights: Path, given: str) -> None:
    """Copy ``weights`` (a safetensors file) into ``module``, all or nothing."""
    from safetensors.torch import load_file

    state = load_file(str(weights))
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [name for name in own if name in state and state[name].shape != own[name].shape]
    if missing or unexpected or mismatched:
        if missing:
            problem = f"{len(missing)} weights missing (e.g. {missing[0]})"
        elif unexpected:
            problem = f"{len(unexpected)} unexpected weights (e.g. {unexpected[0]})"
        else:
            name = mismatched[0]
            problem = f"shape of {name}: {tuple(state[name].shape)} saved vs {tuple(own[name].shape)} here"
        raise GenvidError(f"task_options.initial_weights: {given} does not match the model section: {problem}")
    module.load_state_dict(state)
    logger.info(f"weights initialised from {given}")
