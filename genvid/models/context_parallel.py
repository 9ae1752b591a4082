"""Context parallelism: one clip's video tokens split over the ranks of a process group.

DeepSpeed-Ulysses style. Each rank keeps a contiguous 1/N of the tokens through the whole DiT;
around self-attention an all-to-all trades the split (tokens/N with every head -> every token
with heads/N), the one attention entry point (genvid.models.attention) runs on whole sequences,
and a second all-to-all trades back. Cross-attention needs no exchange (the text is on every
rank). The output is gathered at the end, so callers (the training task, the pipeline) see the
whole velocity and need not know.

Gradients: the all-to-all's backward is the reverse all-to-all and the gather's is "keep your
own slice", so the ranks' parameter gradients SUM to the one-process gradient (the training loop
lets DDP do that sum: genvid.training.parallel.layout.ParallelLayout.loss_factor).
Memory: each rank holds 1/N of every activation except inside attention, where it holds heads/N.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from genvid.models.attention import attention


def _all_to_all(x: torch.Tensor, group, scatter_dim: int, gather_dim: int) -> torch.Tensor:
    size = dist.get_world_size(group)
    send = torch.stack(x.chunk(size, dim=scatter_dim)).contiguous()
    received = torch.empty_like(send)
    dist.all_to_all_single(received, send, group=group)
    return torch.cat(received.unbind(0), dim=gather_dim)


class _AllToAll(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group, scatter_dim: int, gather_dim: int):
        ctx.group, ctx.dims = group, (scatter_dim, gather_dim)
        return _all_to_all(x, group, scatter_dim, gather_dim)

    @staticmethod
    def backward(ctx, grad):
        scatter_dim, gather_dim = ctx.dims
        return _all_to_all(grad, ctx.group, gather_dim, scatter_dim), None, None, None


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group, dim: int):
        ctx.group, ctx.dim = group, dim
        pieces = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(pieces, x.contiguous(), group=group)
        return torch.cat(pieces, dim=dim)

    @staticmethod
    def backward(ctx, grad):
        own = grad.chunk(dist.get_world_size(ctx.group), dim=ctx.dim)[dist.get_rank(ctx.group)]
        return own.contiguous(), None, None


class ContextParallel:
    """The split of one model's sequence over ``group`` (every rank of it runs the same clip)."""

    def __init__(self, group=None):
        self.group = group
        self.size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)

    def check(self, num_tokens: int, num_heads: int) -> None:
        if num_heads % self.size:
            raise ValueError(f"context parallelism over {self.size} ranks needs heads divisible by it, got {num_heads}")
        if num_tokens % self.size:
            raise ValueError(f"{num_tokens} video tokens do not divide over {self.size} context-parallel ranks")

    def split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """This rank's contiguous part of ``x`` along ``dim`` (its gradient flows to that part only)."""
        return x.chunk(self.size, dim=dim)[self.rank]

    def split_frames(self, per_frame: torch.Tensor, num_tokens: int) -> torch.Tensor:
        """``(batch, frames, ...)`` values of token frames -> those of this rank's tokens: per frame
        when the frames divide over the ranks, else one row per local token (a rank's tokens may
        start inside a frame)."""
        frames = per_frame.shape[1]
        if frames % self.size == 0:
            return self.split(per_frame, 1)
        local = num_tokens // self.size
        tokens = torch.arange(self.rank * local, (self.rank + 1) * local, device=per_frame.device)
        return per_frame[:, tokens // (num_tokens // frames)]

    def gather(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        return _Gather.apply(x, self.group, dim)

    def attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Self-attention over the whole sequence for ``(batch, heads, local tokens, head_dim)`` inputs."""
        query, key, value = (_AllToAll.apply(tensor, self.group, 1, 2) for tensor in (query, key, value))
        return _AllToAll.apply(attention(query, key, value), self.group, 2, 1)
