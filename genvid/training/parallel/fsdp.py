"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for the one loop.

Each repeated block (the classes a model lists in ``_no_split_modules``: the DiT's and the LM's
transformer blocks, the tokenizer's residual blocks) becomes its own shard unit, so only one
block's full weights exist at a time; the rest (embeddings, heads, a discriminator) belong to the
root unit. The mixed precision policy follows ``training.mixed_precision``: bf16 compute with
fp32 gradient reduction and fp32 master weights, or fp32 throughout.
"""

from __future__ import annotations

import contextlib
import os

import torch
from torch import nn


def block_classes(model: nn.Module) -> set[str]:
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    return names


def shard_model(model: nn.Module, mixed_precision: str) -> nn.Module:
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if mixed_precision == "bf16" else None, reduce_dtype=torch.float32
    )
    # accelerate's FSDP config sets this; resharding after forward trades a second gather for memory
    reshard = os.environ.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower() != "false"
    names = block_classes(model)
    blocks = [module for module in model.modules() if type(module).__name__ in names and module is not model]
    for block in blocks:
        fully_shard(block, mp_policy=policy, reshard_after_forward=reshard)
    fully_shard(model, mp_policy=policy, reshard_after_forward=reshard)
    return model


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool):
    """Skip the gradient reduce-scatter on accumulation micro-steps (forward and backward inside)."""
    model.set_requires_gradient_sync(enabled)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a sharded DTensor (a collective: every rank must call it)."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every weight gathered to full CPU tensors on every rank (a collective)."""
    return {name: full_tensor(value.detach()).cpu() for name, value in model.state_dict().items()}


def plain_copy(task, model: nn.Module, ema=None, use_ema: bool = False, keep: bool = True) -> nn.Module | None:
    """An unsharded model with the sharded one's weights (or its EMA), built by the task: what
    previews and the export use under FSDP. A collective; ranks with ``keep=False`` take part in
    the gather and get ``None``. The copy lives on the CPU."""
    state = full_state_dict(model)
    if ema is not None and use_ema:
        for name, shadow in ema.shadow.items():
            state[name] = full_tensor(shadow).cpu().to(state[name].dtype)
    if not keep:
        return None
    plain = task.build_model()
    plain.load_state_dict(state)
    return plain
