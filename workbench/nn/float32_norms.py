"""Norms computed in float32 end to end: normalised *and* scaled in float32, cast back last.

:class:`~workbench.nn.norms.RMSNorm` (LLaMA) casts before it scales; the families here scale
first, which differs below float32 only. Both norms take a ``shape`` that may span several
trailing dimensions: a q/k norm with one weight row per head is ``shape=(heads, head_dim)`` and
normalises each head on its own, while ``shape=(heads * head_dim,)`` normalises the whole
projection at once. The input may come flat (``(..., heads * head_dim)``) in either case.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Float32Norm(nn.Module):
    def __init__(self, shape: int | tuple[int, ...], eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        dtype, flat = hidden_states.dtype, hidden_states.shape
        rows = self.weight.shape
        x = hidden_states.float()
        if self.weight.dim() > 1:  # (..., H * D) -> (..., H, D): each head on its own
            x = x.unflatten(-1, rows) if flat[-1] == math.prod(rows) else x
        out = self.weight.float() * self._normalise(x)
        return out.reshape(flat).to(dtype)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


class Float32LayerNorm(_Float32Norm):
    """Layer norm over the last dimension without a bias (Cohere): ``(x - mean) / sqrt(var + eps) * weight``."""

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        variance = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) * torch.rsqrt(variance + self.variance_epsilon)


class Float32RMSNorm(_Float32Norm):
    """RMS norm over the last dimension, scaled in float32 (OLMo-2): ``x / sqrt(mean(x²) + eps) * weight``."""

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
