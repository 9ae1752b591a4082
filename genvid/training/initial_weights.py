"""Start a training run from saved weights (``task_options.initial_weights``).

A fine-tune or a later stage of a recipe starts from the weights of an earlier export with a
fresh optimizer and schedule, unlike ``--resume``, which continues a run where it stopped. The
saved model's architecture must match the ``model:`` section, with two exceptions a model
declares, both for teaching a trained model something new (sound to a soundless demo):

* modules named in its ``new_module_names`` (the DiT's audio embedding and audio attention) may
  be absent from the saved weights: they keep their fresh initialisation, and the model's
  ``initialise_new_parameters(names)`` then sets what must start at zero for it to compute what
  the saved model did;
* tables named in its ``vocabulary_tables`` (the LM's embedding and output rows) may have more
  rows than saved: the saved rows are kept, the added ones (audio ids, after every other id)
  keep their fresh initialisation, as transformers' ``resize_token_embeddings`` grows a
  vocabulary.

What was initialised anew is logged, one line. Any other difference (a weight of another shape,
a weight the model does not have, a missing one outside those modules) is a one-line error
naming the first, never a half-loaded model.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
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


def load_matching_weights(module: nn.Module, weights: Path, given: str) -> list[str]:
    """Copy ``weights`` (a safetensors file) into ``module``: all of it, and only what the module
    declares new (see the module docstring) left as initialised. Returns the names of the
    weights (whole or in part) initialised anew."""
    from safetensors.torch import load_file

    state = load_file(str(weights))
    own = module.state_dict()
    new_modules = set(getattr(module, "new_module_names", ()))
    tables = set(getattr(module, "vocabulary_tables", ()))
    unexpected = sorted(set(state) - set(own))
    absent = sorted(set(own) - set(state))
    new = [name for name in absent if new_modules & set(name.split("."))]
    missing = [name for name in absent if name not in new]
    grown, mismatched = [], []
    for name, tensor in own.items():
        saved = state.get(name)
        if saved is None or saved.shape == tensor.shape:
            continue
        grows = name in tables and saved.shape[1:] == tensor.shape[1:] and saved.shape[0] < tensor.shape[0]
        (grown if grows else mismatched).append(name)
    problem = None
    if unexpected:
        problem = f"{len(unexpected)} weights the model does not have (e.g. {unexpected[0]})"
    elif missing:
        problem = f"{len(missing)} weights missing (e.g. {missing[0]})"
    elif mismatched:
        name = mismatched[0]
        problem = f"shape of {name}: {tuple(state[name].shape)} saved vs {tuple(own[name].shape)} here"
    if problem:
        raise GenvidError(f"task_options.initial_weights: {given} does not match the model section: {problem}")
    rows = {name: (state[name].shape[0], own[name].shape[0]) for name in grown}
    for name in grown:
        state[name] = torch.cat([state[name], own[name][state[name].shape[0]:]])
    module.load_state_dict(state, strict=False)
    if new and hasattr(module, "initialise_new_parameters"):
        module.initialise_new_parameters(new)
    if new or grown:
        kinds = sorted({re.sub(r"\.\d+\.", ".*.", name) for name in new})
        extended = [f"{name} rows {saved} -> {total}" for name, (saved, total) in rows.items()]
        logger.info(f"weights initialised from {given}; newly initialised: {', '.join(kinds + extended)}")
    else:
        logger.info(f"weights initialised from {given}")
    return new + grown
