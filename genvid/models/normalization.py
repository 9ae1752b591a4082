"""RMS normalisation shared by genvid's transformers (the DiT's per-head query/key norm, the LM's
norms)."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def inverse_rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``(mean(x^2) + eps)^-1/2`` over the last dimension, float32, ``(..., 1)``."""
    # one pass over x (its L2 norm, accumulated in float32 whatever x's dtype) instead of a
    # square, a sum and a division; what follows runs on one value per row
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
    return norm.square_().div_(x.shape[-1]).add_(eps).rsqrt_()


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dimension, computed in float32 and returned
    in ``x``'s dtype: the values of ``torch.nn.functional.rms_norm`` on float32 inputs. ``weight``
    is ``(dim,)`` or anything that broadcasts against ``x`` (the DiT normalises its queries and keys
    in one call with a ``(2, 1, dim)`` weight).

    Written as its plain steps because torch's CPU ``rms_norm`` is not a fused kernel but a slower
    composition of the same steps (measured 1.2 ms against 0.25 ms for 8 heads x 980 tokens x 64
    channels at 1 thread): a reduction and two products over ``x``. bf16 squares would lose too much
    precision over 1k+ channels. Where a gradient is wanted, :class:`RMSNormFunction` gives it in
    five passes instead of autograd's dozen."""
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad) and not torch.compiler.is_compiling():
        return RMSNormFunction.apply(x, weight, eps)
    dtype = x.dtype
    # x times a float32 tensor is float32: no separate cast of a bf16 x
    return (x * inverse_rms(x, eps)).mul_(weight.float()).to(dtype)


class RMSNormFunction(torch.autograd.Function):
    """:func:`rms_norm` with its gradient written out: with ``n = x * r``, ``r = (mean(x^2) + eps)^-1/2``
    and ``y = n * w``, ``dx = r * (g w - n * mean(g w n))`` and ``dw = sum(g n)`` (summed over every
    dimension the weight was broadcast along)."""

    @staticmethod
    def forward(context, x, weight, eps):
        inverse = inverse_rms(x, eps)
        normalized = x * inverse
        context.save_for_backward(normalized, inverse, weight)
        context.input_dtype = x.dtype
        return (normalized * weight.float()).to(x.dtype)

    @staticmethod
    @once_differentiable  # a second derivative through it is an error, not a silent wrong value
    def backward(context, gradient):
        normalized, inverse, weight = context.saved_tensors
        weighted = gradient.float() * weight.float()
        projection = (weighted * normalized).mean(dim=-1, keepdim=True)
        gradient_x = torch.addcmul(weighted, normalized, projection, value=-1).mul_(inverse)
        gradient_weight = None
        if context.needs_input_grad[1]:
            gradient_weight = (gradient.float() * normalized).sum_to_size(weight.shape).to(weight.dtype)
        return gradient_x.to(context.input_dtype), gradient_weight, None
