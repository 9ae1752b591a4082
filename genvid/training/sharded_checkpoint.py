"""Sharded training state (FSDP runs) with torch.distributed.checkpoint, stored as safetensors.

Every rank writes its own shards of the model, optimizer and EMA tensors into ``shards/``
(``HuggingFaceStorageWriter``: safetensors files whose headers record each shard's offsets), so
saving never gathers the full state on one process. Loading reads those headers, so a checkpoint
written by N processes loads into M processes, or into one unsharded model (``genvid export``):
DCP cuts each saved tensor to the pieces the loading layout holds. Nothing is pickled: the
optimizer's non-tensor settings (its param groups) are JSON in ``optimizer.json``.

Keys: ``model.<name>``, ``optimizer.<parameter name>.<state name>``, ``ema.<ema state key>``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

SHARDS = "shards"
GROUPS = "optimizer.json"


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _bare(optimizer):
    return getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer


def _state_tensors(model, optimizer, ema) -> tuple[dict[str, torch.Tensor], list]:
    """The layout's own (sharded or whole) state tensors by checkpoint key, and the param groups."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optimizer_state = get_state_dict(model, _bare(optimizer))
    tensors = {f"model.{name}": value for name, value in model_state.items()}
    for parameter_name, values in optimizer_state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{parameter_name}.{name}"] = torch.as_tensor(value)
    if ema is not None:
        tensors.update({f"ema.{name}": value for name, value in ema.state_dict().items()})
    return tensors, optimizer_state["param_groups"]


def save_sharded(folder: Path, model, optimizer, ema, is_main: bool) -> None:
    """Every rank calls this: each writes its shards into ``folder/shards``."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageWriter

    tensors, groups = _state_tensors(model, optimizer, ema)
    writer = HuggingFaceStorageWriter(str(folder / SHARDS), save_distributed=True)
    dcp.save(tensors, storage_writer=writer, no_dist=not _distributed())
    if is_main:
        (folder / GROUPS).write_text(json.dumps(groups))


def _read(folder: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Fill ``tensors`` in place from the checkpoint (each with the pieces this rank holds)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageReader

    dcp.load(tensors, storage_reader=HuggingFaceStorageReader(str(folder / SHARDS)), no_dist=not _distributed())


def load_sharded(folder: Path, model, optimizer, ema) -> None:
    """Restore model, optimizer and EMA in place, whatever the number of processes that saved them."""
    from torch.distributed.checkpoint.state_dict import set_state_dict

    tensors, _ = _state_tensors(model, optimizer, ema)
    _read(folder, tensors)
    model_state = {key[len("model."):]: value for key, value in tensors.items() if key.startswith("model.")}
    optimizer_state: dict = {"state": {}, "param_groups": json.loads((folder / GROUPS).read_text())}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            parameter_name, name = key[len("optimizer."):].rsplit(".", 1)
            optimizer_state["state"].setdefault(parameter_name, {})[name] = value
    set_state_dict(model, _bare(optimizer), model_state_dict=model_state, optim_state_dict=optimizer_state)
    if ema is not None:
        ema.load_state_dict({key[len("ema."):]: value for key, value in tensors.items() if key.startswith("ema.")})


def load_sharded_weights(folder: Path, model: torch.nn.Module, ema=None) -> None:
    """A bare, unsharded ``model`` (and ``ema``) from a sharded checkpoint, in one process."""
    tensors = {f"model.{name}": value for name, value in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{name}": value for name, value in ema.state_dict().items()})
    _read(folder, tensors)
    model.load_state_dict({key[len("model."):]: value for key, value in tensors.items() if key.startswith("model.")})
    if ema is not None:
        ema.load_state_dict({key[len("ema."):]: value for key, value in tensors.items() if key.startswith("ema.")})
