"""How a run's processes divide the work: data parallel, FSDP, context parallel.

``world = data_parallel x context_parallel``. Ranks ``[k * N, (k + 1) * N)`` form context group
``k``: they share one batch (data rank ``k``) and split its sequence; data-parallel ranks take
different batches. FSDP shards the weights over every rank (it cannot be combined with context
parallelism here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from genvid.config import ConfigError


def fsdp_requested(training) -> bool:
    """``training.fsdp``, or an ``accelerate launch`` with an FSDP config (distributed_type: FSDP)."""
    return bool(training.fsdp) or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


@dataclass
class ParallelLayout:
    rank: int
    world_size: int
    fsdp: bool = False
    context_parallel: int = 1
    #: the process group of this rank's context group (None without context parallelism)
    context_group: object | None = None

    @classmethod
    def build(cls, training, rank: int, world_size: int) -> "ParallelLayout":
        size = training.context_parallel
        fsdp = fsdp_requested(training)
        if size < 1 or world_size % size:
            raise ConfigError(
                f"training.context_parallel={size} must divide the number of processes ({world_size})"
            )
        if size > 1 and fsdp:
            raise ConfigError("training.context_parallel does not combine with FSDP: use DDP (the default launch)")
        if fsdp and training.mixed_precision == "fp16":
            raise ConfigError("FSDP trains in bf16 or fp32 here: set training.mixed_precision to bf16 or no")
        layout = cls(rank, world_size, fsdp, size)
        if size > 1:
            import torch.distributed as dist

            # every rank must create every group, in the same order
            for start in range(0, world_size, size):
                group = dist.new_group(list(range(start, start + size)))
                if start <= rank < start + size:
                    layout.context_group = group
        return layout

    @property
    def shards_weights(self) -> bool:
        """FSDP with more than one process (one process trains a plain model, checkpoints stay sharded)."""
        return self.fsdp and self.world_size > 1

    @property
    def data_rank(self) -> int:
        return self.rank // self.context_parallel

    @property
    def data_world_size(self) -> int:
        return self.world_size // self.context_parallel

    def sample_slot(self, micro_batch: int) -> int:
        """Where this rank's micro-batch sits in its step's samples: the same for a 1-process run with
        accumulation N and an N-process run, so both draw the same noise for the same samples."""
        return micro_batch * self.data_world_size + self.data_rank

    @property
    def loss_factor(self) -> float:
        """DDP averages gradients over every rank, while context ranks each hold a part of one
        gradient that must be summed: scaling their loss by N turns the average into that sum."""
        return float(self.context_parallel)


def attach_context_parallel(model: torch.nn.Module, layout: ParallelLayout) -> None:
    """Let a model that supports it split its sequence over the layout's context group."""
    if layout.context_parallel == 1:
        return
    if not hasattr(model, "enable_context_parallel"):
        raise ConfigError(f"training.context_parallel: {type(model).__name__} has no context parallelism (the DiT has)")
    model.enable_context_parallel(layout.context_group)
